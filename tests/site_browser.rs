//! The example site in production mode, judged by a real browser: headless Chromium
//! (Debian's `chromium` and `chromium-driver`, which tests/run.sh installs) driven over
//! WebDriver. No request fails and nothing is logged as an error; the combined CSS is
//! applied, the combined JS ran, the image and the font behind the rewritten `url()`s
//! loaded, and the SRI attributes were accepted. A screenshot is saved to
//! `target/site-screenshot.png`.
#![cfg(all(
    feature = "mail-templates",
    feature = "mail-preview",
    feature = "minijinja",
    feature = "cli"
))]

#[path = "../examples/site/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "support/browser.rs"]
mod chrome;

use std::path::PathBuf;

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};
use squall::assets::Mode;

/// chromedriver's `POST /session/{id}/se/log`: the browser console since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_works_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("combined");
    let router = app::router(app::SiteConfig {
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        mail_url: format!("spool://{}", dir.path().join("spool").display()),
        assets_mode: Mode::Production,
        output_dir: output.clone(),
        cdn_prefix: None,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (_driver, port) = chrome::start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let browser = chrome::chromium(port, profile.path(), true).await;

    browser.goto(&site).await.unwrap();
    // Wait for every font to settle, then gather what the page did.
    let facts: Value = browser
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            document.fonts.ready.then(() => {
              const face = [...document.fonts].find(f => f.family.replace(/"/g, "") === "Squall Sans");
              const h1 = document.querySelector("h1");
              const logo = document.querySelector(".masthead .logo");
              const status = document.getElementById("js-status");
              done({
                h1Color: getComputedStyle(h1).color,
                htmlFont: getComputedStyle(document.documentElement).fontFamily,
                fontStatus: face ? face.status : "missing",
                fontCheck: document.fonts.check('16px "Squall Sans"'),
                logoBackground: getComputedStyle(logo).backgroundImage,
                jsState: status.getAttribute("data-state"),
                jsText: status.textContent,
                integrity: [...document.querySelectorAll("link[rel=stylesheet], script[src]")]
                  .map(e => e.getAttribute("integrity")),
                resources: performance.getEntriesByType("resource")
                  .map(e => ({ name: e.name, status: e.responseStatus, type: e.initiatorType })),
                navigation: performance.getEntriesByType("navigation")[0].responseStatus,
              });
            });
            "#,
            vec![],
        )
        .await
        .unwrap();
    eprintln!("{facts:#}");

    // The page itself and every resource it loaded answered 2xx.
    assert_eq!(facts["navigation"], 200);
    let resources = facts["resources"].as_array().unwrap();
    for r in resources {
        let status = r["status"].as_u64().unwrap();
        assert!((200..300).contains(&status), "a request failed: {r}");
    }
    let loaded = |suffix: &str| {
        resources.iter().any(|r| {
            r["name"].as_str().unwrap().contains("/static/combined/")
                && r["name"].as_str().unwrap().ends_with(suffix)
        })
    };
    assert!(
        loaded(".css") && loaded(".js"),
        "one combined CSS and JS: {resources:?}"
    );
    assert!(
        loaded(".svg"),
        "the image behind the rewritten url() loaded: {resources:?}"
    );
    assert!(
        loaded(".woff2"),
        "the font behind the rewritten url() loaded: {resources:?}"
    );
    assert_eq!(resources.len(), 4, "{resources:?}");

    // The CSS bundle is applied, its font is in use, and the JS bundle ran.
    assert_eq!(facts["h1Color"], "rgb(33, 102, 172)");
    assert!(facts["htmlFont"].as_str().unwrap().contains("Squall Sans"));
    assert_eq!(facts["fontStatus"], "loaded");
    assert_eq!(facts["fontCheck"], true);
    assert!(
        facts["logoBackground"]
            .as_str()
            .unwrap()
            .contains("/static/combined/squall.")
    );
    assert_eq!(facts["jsState"], "ran");
    assert!(
        facts["jsText"]
            .as_str()
            .unwrap()
            .starts_with("JavaScript ran")
    );
    // SRI: every bundle tag carries an integrity value, and the browser applied them.
    let integrity = facts["integrity"].as_array().unwrap();
    assert_eq!(integrity.len(), 2);
    assert!(
        integrity
            .iter()
            .all(|v| v.as_str().is_some_and(|s| s.starts_with("sha384-")))
    );

    // Nothing in the console at warning level or above (an SRI mismatch, a 404, a script
    // error would all be there).
    let log = browser.issue_cmd(BrowserLog).await.unwrap();
    let bad: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| matches!(entry["level"].as_str(), Some("SEVERE" | "WARNING")))
        .collect();
    assert!(bad.is_empty(), "console errors: {bad:#?}");

    // Typing in the form runs the bundle's handler too.
    let message = browser
        .find(fantoccini::Locator::Css("textarea[name=message]"))
        .await
        .unwrap();
    message.send_keys("hello").await.unwrap();
    let text = browser
        .find(fantoccini::Locator::Id("js-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "JavaScript ran (5 characters typed)");

    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/site-screenshot.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    browser.close().await.unwrap();
}

/// The text of the HTML part, read inside the preview's sandboxed iframe.
async fn iframe_text(browser: &fantoccini::Client) -> String {
    let frame = browser
        .find(fantoccini::Locator::Css("iframe#html-part[sandbox]"))
        .await
        .unwrap();
    frame.enter_frame().await.unwrap();
    let text = browser
        .wait()
        .for_element(fantoccini::Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    browser.enter_parent_frame().await.unwrap();
    text
}

/// The example site in debug mode: the contact form is sent from the browser, and the
/// mail preview at `/__mail/` lists the message and shows it; a mail with an HTML part is
/// shown in the sandboxed iframe. A screenshot of the contact mail's page is saved to
/// `target/mail-preview-screenshot.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_preview_shows_the_contact_mail_in_a_real_browser() {
    use squall::mail::{Email, Mailer, Queue, Spool};

    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let router = app::router(app::SiteConfig {
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        mail_url: format!("spool://{}", spool_dir.display()),
        assets_mode: Mode::Debug,
        output_dir: dir.path().join("combined"),
        cdn_prefix: None,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (_driver, port) = chrome::start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let browser = chrome::chromium(port, profile.path(), false).await;

    // The contact form, filled in and sent by the browser.
    browser.goto(&site).await.unwrap();
    let said = "Hello from Chromium, via the contact form";
    browser
        .find(fantoccini::Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys("reader@example.com")
        .await
        .unwrap();
    browser
        .find(fantoccini::Locator::Css("textarea[name=message]"))
        .await
        .unwrap()
        .send_keys(said)
        .await
        .unwrap();
    browser
        .find(fantoccini::Locator::Css("form[action='/contact/'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(fantoccini::Locator::Css("p.notice"))
        .await
        .unwrap();

    // A mail with an HTML part, queued beside it: its HTML tab shows it in the iframe.
    let spool = Spool::open(&spool_dir).unwrap();
    let welcome = Email::builder()
        .from("site@example.com")
        .to("ada@example.com")
        .subject("Welcome")
        .text("Welcome, Ada")
        .html("<h1>Welcome, Ada</h1><p>Your account is ready.</p>")
        .build()
        .unwrap();
    spool.send(&welcome).await.unwrap();
    browser.goto(&format!("{site}__mail/")).await.unwrap();
    browser
        .find(fantoccini::Locator::LinkText("Welcome"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let shown = iframe_text(&browser).await;
    assert!(
        shown.contains("Welcome, Ada") && shown.contains("Your account is ready."),
        "{shown:?}"
    );
    let png = browser.screenshot().await.unwrap();
    let shot =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/mail-preview-html-screenshot.png");
    std::fs::write(&shot, &png).unwrap();

    // The contact mail: its message is on the page's first tab (the HTML tab in the
    // iframe once the mail has an HTML part, the text tab otherwise).
    browser.goto(&format!("{site}__mail/")).await.unwrap();
    browser
        .find(fantoccini::Locator::LinkText("Contact form"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let url = browser.current_url().await.unwrap();
    let queued = spool.peek(10).await.unwrap();
    let contact = queued
        .iter()
        .find(|m| m.recipients == ["owner@example.com"])
        .expect("the contact mail is queued");
    assert_eq!(url.path(), format!("/__mail/spool/{}", contact.id));
    let has_html = String::from_utf8_lossy(&contact.bytes).contains("text/html");
    let shown = if has_html {
        iframe_text(&browser).await
    } else {
        browser
            .find(fantoccini::Locator::Css("pre#text-part"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(
        shown.contains(said),
        "has HTML: {has_html}; shown: {shown:?}"
    );
    let subject = browser
        .find(fantoccini::Locator::Id("subject"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(subject, "Contact form");

    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/mail-preview-screenshot.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    browser.close().await.unwrap();
}
