//! Live reload end to end in headless Chromium: the example site in debug mode, over a copy
//! of its `static/` and `templates/` in a temporary directory. Rewriting a stylesheet on
//! disk changes the page's computed style without a navigation; rewriting a template
//! reloads the page with the new template.
#![cfg(all(
    feature = "mail",
    feature = "mail-preview",
    feature = "minijinja",
    feature = "cli"
))]

#[path = "../examples/site/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "support/browser.rs"]
mod chrome;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use squall::assets::Mode;

const BOUND: Duration = Duration::from_secs(30);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "combined" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs `script` until it returns something other than `null`/`false`, within [`BOUND`].
async fn wait_for(browser: &fantoccini::Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + BOUND;
    loop {
        // A page in the middle of reloading may fail a script: that is "not yet".
        let value = browser.execute(script, vec![]).await.unwrap_or(Value::Null);
        if !matches!(value, Value::Null | Value::Bool(false)) {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stylesheet_change_restyles_in_place_and_a_template_change_reloads() {
    let root = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("static"), &root.path().join("static"));
    copy_dir(&repo.join("templates"), &root.path().join("templates"));
    let router = app::router(app::SiteConfig {
        root: root.path().to_path_buf(),
        mail_url: format!("spool://{}", root.path().join("spool").display()),
        assets_mode: Mode::Debug,
        output_dir: root.path().join("static/combined"),
        cdn_prefix: None,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (_driver, port) = chrome::start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let browser = chrome::chromium(port, profile.path(), false).await;

    browser.goto(&site).await.unwrap();
    let color = r#"return getComputedStyle(document.querySelector("h1")).color;"#;
    assert_eq!(
        browser.execute(color, vec![]).await.unwrap(),
        "rgb(33, 102, 172)"
    );
    // The client script is there once, and its event stream is open.
    let scripts = browser
        .execute(
            r#"return document.querySelectorAll('script[src="/__live/client.js"]').length;"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(scripts, 1);
    wait_for(
        &browser,
        "the live reload event stream to open",
        "return window.__squallLiveReload && window.__squallLiveReload.readyState === 1;",
    )
    .await;
    browser
        .execute("window.__marker = 'still here'; return null;", vec![])
        .await
        .unwrap();

    let css = root.path().join("static/css/site.css");
    let text = std::fs::read_to_string(&css).unwrap();
    let changed = text.replace(
        "h1 {\n  color: rgb(33, 102, 172);",
        "h1 {\n  color: rgb(200, 30, 40);",
    );
    assert_ne!(
        changed, text,
        "site.css no longer has the h1 rule this test edits"
    );
    std::fs::write(&css, changed).unwrap();

    let now = wait_for(
        &browser,
        "the h1 to turn red",
        r#"const c = getComputedStyle(document.querySelector("h1")).color;
           return c === "rgb(200, 30, 40)" ? c : null;"#,
    )
    .await;
    assert_eq!(now, "rgb(200, 30, 40)");
    // No navigation: the page's own state survived, and it was loaded once.
    let facts = browser
        .execute(
            r#"return {
                marker: window.__marker || null,
                navigations: performance.getEntriesByType("navigation").length,
                href: [...document.querySelectorAll('link[rel=stylesheet]')]
                  .map(l => l.getAttribute("href")).find(h => h.includes("site.css")),
            };"#,
            vec![],
        )
        .await
        .unwrap();
    eprintln!("{facts:#}");
    assert_eq!(facts["marker"], "still here");
    assert_eq!(facts["navigations"], 1);
    assert!(
        facts["href"].as_str().unwrap().contains("live="),
        "the stylesheet link was swapped: {facts}"
    );

    // A template change reloads the page, and the site renders the new template (its
    // cache was cleared): the marker is gone with the old page.
    let base = root.path().join("templates/base.html");
    let text = std::fs::read_to_string(&base).unwrap();
    let changed = text.replace("<h1>squall example site</h1>", "<h1>squall, live</h1>");
    assert_ne!(
        changed, text,
        "base.html no longer has the h1 this test edits"
    );
    std::fs::write(&base, changed).unwrap();
    wait_for(
        &browser,
        "the page to reload with the new template",
        r#"return document.querySelector("h1").textContent === "squall, live";"#,
    )
    .await;
    let marker = browser
        .execute("return window.__marker || null;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, Value::Null, "the page did not reload");
    browser.close().await.unwrap();
}
