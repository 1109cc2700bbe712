//! The example site end to end, driven by squall's own test client in-process: log in,
//! send the contact form, find the message in the spool, send it with the real
//! `spool-drain` into aiosmtpd; in production mode, the page links one hashed CSS and one
//! hashed JS bundle whose bytes hash to their names and are cached forever.
#![cfg(all(
    feature = "mail-templates",
    feature = "mail-preview",
    feature = "minijinja",
    feature = "testing",
    feature = "cli"
))]

#[path = "../examples/site/app.rs"]
#[allow(dead_code)]
mod app;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use sha2::{Digest, Sha256, Sha384};
use squall::assets::Mode;
use squall::mail::{Queue, Spool};
use squall::testing::TestClient;
use support::aiosmtpd::{Aiosmtpd, Mode as SmtpMode, Options};

fn config(mode: Mode, spool: &Path, output: &Path) -> app::SiteConfig {
    app::SiteConfig {
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        mail_url: format!("spool://{}", spool.display()),
        assets_mode: mode,
        output_dir: output.to_path_buf(),
        cdn_prefix: None,
    }
}

#[tokio::test]
async fn login_contact_spool_and_drain() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let router = app::router(config(
        Mode::Debug,
        &spool_dir,
        &dir.path().join("combined"),
    ))
    .unwrap();
    let client = TestClient::new(router);

    // The login flow of the tornado-utils posts.
    let page = client.get("/").await;
    page.assert_status(200).assert_contains("stranger");
    page.assert_contains(r#"<link rel="stylesheet" href="/static/css/base.css?v="#);
    let r = client
        .post("/login/")
        .form(&[("username", "peterbe"), ("password", "secret")])
        .await;
    r.assert_status(302).assert_redirect_to("/");
    client
        .get("/")
        .await
        .assert_contains("hi peterbe")
        .assert_not_contains("stranger");
    client
        .post("/login/")
        .form(&[("username", "peterbe"), ("password", "wrong")])
        .await
        .assert_status(403);

    // Without the XSRF token the form is refused, and nothing is queued.
    client
        .post("/contact/")
        .without_xsrf()
        .form(&[("email", "reader@example.com"), ("message", "no token")])
        .await
        .assert_status(403);
    let spool = Spool::open(&spool_dir).unwrap();
    assert_eq!(spool.status().await.unwrap().queued, 0);

    // With it (the client hands the _xsrf cookie back), the message is queued at once.
    let r = client
        .post("/contact/")
        .form(&[
            ("email", "reader@example.com"),
            ("message", "Hello from the end-to-end test"),
        ])
        .await;
    r.assert_status(303).assert_redirect_to("/?sent=1");
    client.get("/?sent=1").await.assert_contains("on its way");
    let queued = spool.peek(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipients, ["owner@example.com"]);

    // In debug mode the message shows in the mail preview, at /__mail/spool/<queue id>.
    let message_url = format!("/__mail/spool/{}", queued[0].id);
    client
        .get("/__mail/")
        .await
        .assert_status(200)
        .assert_contains(&format!("<a href=\"{message_url}\">Contact form</a>"))
        .assert_contains(">queued</span>");
    client
        .get(&format!("{message_url}/text"))
        .await
        .assert_status(200)
        .assert_contains("Hello from the end-to-end test");
    client
        .get(&format!("{message_url}/headers"))
        .await
        .assert_contains("reader@example.com");
    client.delete(&message_url).await.assert_status(405);
    assert_eq!(
        spool.peek(10).await.unwrap(),
        queued,
        "the preview left it as it was"
    );

    // A bad reply-to address is a clear error on the page, not a panic.
    client
        .post("/contact/")
        .form(&[("email", "not an address"), ("message", "x")])
        .await
        .assert_status(422)
        .assert_contains("not a valid email address");

    // The real spool-drain sends it to a real SMTP server.
    let server = Aiosmtpd::start(SmtpMode::Plain, Options::default());
    let out = Command::new(env!("CARGO_BIN_EXE_spool-drain"))
        .args([
            "--queue",
            &format!("spool://{}", spool_dir.display()),
            "--via",
            &format!("smtp://127.0.0.1:{}", server.port),
        ])
        .env_remove("SQUALL_FAILPOINT")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]["rcpt_tos"],
        serde_json::json!(["owner@example.com"])
    );
    let raw = base64::engine::general_purpose::STANDARD
        .decode(received[0]["raw"].as_str().unwrap())
        .unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("Hello from the end-to-end test"), "{raw}");
    assert!(raw.contains("Reply-To: reader@example.com"), "{raw}");
    assert!(
        raw.contains("Content-Type: text/html"),
        "the templated HTML part: {raw}"
    );
    assert_eq!(spool.status().await.unwrap().queued, 0);

    // Logging out clears the session.
    client
        .post("/logout/")
        .form(&[("bye", "1")])
        .await
        .assert_status(302);
    client.get("/").await.assert_contains("stranger");
}

/// The one `<prefix>...<suffix>` URL in `html`.
/// The real login form of the site, as a browser uses it: the `_xsrf` token the form
/// sends is the page's hidden field, not the cookie the client holds. The client hands no
/// token back on its own here, so the login succeeds only by the page's field, and a
/// tampered field fails, with the right cookie in the jar.
#[tokio::test]
async fn the_login_form_sends_the_pages_xsrf_field() {
    let dir = tempfile::tempdir().unwrap();
    let router = app::router(config(
        Mode::Debug,
        &dir.path().join("spool"),
        &dir.path().join("combined"),
    ))
    .unwrap();
    let client = TestClient::new(router).without_xsrf();

    let home = client.get("/").await;
    home.assert_select("#greeting", "hello stranger, log in");
    let page = home.click_link("log in").await;
    page.assert_status(200).assert_select("h2", "Log in");
    let cookie = client
        .cookie("_xsrf")
        .expect("the login page sets the _xsrf cookie");
    let form = page.form("form[action='/login/']");
    assert_eq!(form.action().as_str(), "http://localhost/login/");
    assert_eq!(form.method(), axum::http::Method::POST);
    assert_eq!(
        form.fields(),
        [
            ("_xsrf".to_owned(), cookie.clone()),
            ("username".to_owned(), String::new()),
            ("password".to_owned(), String::new()),
        ]
    );

    // A tampered hidden field is refused, though the jar holds the right cookie.
    let tampered = form
        .clone()
        .set("username", "peterbe")
        .set("password", "secret")
        .set("_xsrf", "not-the-token");
    tampered
        .submit()
        .await
        .assert_status(403)
        .assert_contains("_xsrf");
    client.get("/").await.assert_contains("stranger");

    // Wrong credentials: the page again, with the error, and a form to try again.
    let again = form
        .clone()
        .set("username", "peterbe")
        .set("password", "wrong")
        .submit_with("Log in")
        .await;
    again
        .assert_status(403)
        .assert_select("p.error", "Wrong username or password.");

    // The page's own field: logged in.
    let r = again
        .form("form[action='/login/']")
        .set("username", "peterbe")
        .set("password", "secret")
        .submit()
        .follow_redirects()
        .await;
    r.assert_status(200)
        .assert_redirect_to("/")
        .assert_select("#greeting", "hi peterbe");

    // The client's automatic token does not rescue a tampered field either.
    let auto = TestClient::new(
        app::router(config(
            Mode::Debug,
            &dir.path().join("spool2"),
            &dir.path().join("combined2"),
        ))
        .unwrap(),
    );
    let page = auto.get("/login/").await;
    page.form("form[action='/login/']")
        .set("username", "peterbe")
        .set("password", "secret")
        .set("_xsrf", "not-the-token")
        .submit()
        .await
        .assert_status(403);

    // Logging out is the home page's other form.
    r.form("form[action='/logout/']")
        .submit()
        .follow_redirects()
        .await
        .assert_select("#greeting", "hello stranger, log in");
}

fn only_url(html: &str, prefix: &str, suffix: &str) -> String {
    let found: Vec<&str> = html
        .match_indices(prefix)
        .filter_map(|(i, _)| {
            let rest = &html[i..];
            rest.find('"').map(|end| &rest[..end])
        })
        .filter(|url| url.ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "expected one {prefix}*{suffix} in:\n{html}");
    found[0].to_owned()
}

#[tokio::test]
async fn production_links_one_hashed_css_and_js_cached_forever() {
    let dir = tempfile::tempdir().unwrap();
    // Outside static/, the output directory is addressed by its last component.
    let output = dir.path().join("combined");
    let router = app::router(config(Mode::Production, &dir.path().join("spool"), &output)).unwrap();
    let client = TestClient::new(router);
    let page = client.get("/").await;
    page.assert_status(200);
    // The mail preview is for debug mode only.
    client.get("/__mail/").await.assert_status(404);
    let html = page.text();
    for url in [
        only_url(&html, "/static/combined/", ".css"),
        only_url(&html, "/static/combined/", ".js"),
    ] {
        let r = client.get(&url).await;
        r.assert_status(200)
            .assert_header("cache-control", "public, max-age=31536000, immutable");
        let bytes = r.bytes();
        let name = url.rsplit('/').next().unwrap();
        let hash = name.split('.').rev().nth(1).unwrap();
        // With source maps (the default) the name hashes the code, the map and the mode;
        // the served file ends with a comment naming the map, which sits next to it.
        let comment = match name.ends_with(".css") {
            true => format!("/*# sourceMappingURL={name}.map */\n"),
            false => format!("//# sourceMappingURL={name}.map\n"),
        };
        let code = bytes
            .strip_suffix(comment.as_bytes())
            .unwrap_or_else(|| panic!("{name} does not end with {comment:?}"));
        let map = client.get(&format!("{url}.map")).await;
        map.assert_status(200);
        let hashed = [code, b"\n", map.bytes(), b"\ncomment"].concat();
        let digest: String = Sha256::digest(&hashed)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hash,
            &digest[..16],
            "{name}: code, map and mode hash to the name"
        );
        let sri = format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
        );
        assert!(
            html.contains(&format!(r#"integrity="{sri}""#)),
            "SRI of {name} in the page"
        );

        // Precompressed bodies for clients that take them. The first build writes the
        // .br sibling on a background thread: wait for the file, then ask for it.
        let sibling = output.join(format!("{name}.br"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !sibling.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} never appeared",
                sibling.display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let r = client.get(&url).header("accept-encoding", "br").await;
        r.assert_status(200).assert_header("content-encoding", "br");
    }
    // Debug-mode per-file tags are gone.
    page.assert_not_contains("/static/css/base.css");
}
