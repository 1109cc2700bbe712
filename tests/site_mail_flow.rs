//! The example site's password-reset flow, as an app's own test reads: post the form with
//! squall's test client, find the mail in a `MemoryMailer` outbox, follow its link with
//! the same client, and check the page it leads to.
#![cfg(all(
    feature = "mail",
    feature = "minijinja",
    feature = "testing",
    feature = "cli"
))]

#[path = "../examples/site/app.rs"]
#[allow(dead_code)]
mod app;

use std::path::PathBuf;

use squall::assets::Mode;
use squall::mail::MemoryMailer;
use squall::testing::TestClient;

fn site(outbox: &MemoryMailer, dir: &tempfile::TempDir) -> TestClient {
    let config = app::SiteConfig {
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        mail_url: "memory://".into(),
        assets_mode: Mode::Debug,
        output_dir: dir.path().join("combined"),
        cdn_prefix: None,
    };
    TestClient::new(app::router_with_mailer(config, Box::new(outbox.clone())).unwrap())
}

#[tokio::test]
async fn forgot_password_mails_a_link_that_names_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = MemoryMailer::new();
    let client = site(&outbox, &dir);

    client.get("/forgot/").await.assert_status(200); // sets the _xsrf cookie
    client
        .post("/forgot/")
        .form(&[("username", "peterbe")])
        .await
        .assert_status(200)
        .assert_contains("a reset link is on its way");

    let mail = outbox.assert_sent(1).remove(0);
    assert_eq!(mail.to, ["peterbe@example.com"]);
    assert_eq!(mail.subject, "Reset your password");
    let link = mail
        .link_matching("/reset/")
        .expect("a reset link in the mail");
    assert!(link.starts_with("http://localhost:8000/reset/"), "{link}");
    // The HTML and the text part carry the same link: it is listed once.
    assert_eq!(mail.links(), std::slice::from_ref(&link));

    client
        .get(&link)
        .await
        .assert_status(200)
        .assert_contains("Reset the password for peterbe");
}

#[tokio::test]
async fn unknown_users_get_no_mail_and_unknown_tokens_no_page() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = MemoryMailer::new();
    let client = site(&outbox, &dir);

    client.get("/forgot/").await.assert_status(200);
    // The same answer as for a known user, so the page reveals no accounts.
    client
        .post("/forgot/")
        .form(&[("username", "nobody")])
        .await
        .assert_status(200)
        .assert_contains("a reset link is on its way");
    outbox.assert_sent(0);

    client
        .get("/reset/0123456789abcdef")
        .await
        .assert_status(404);
    // Without the XSRF token, the form is refused and nothing is mailed.
    client
        .post("/forgot/")
        .without_xsrf()
        .form(&[("username", "peterbe")])
        .await
        .assert_status(403);
    outbox.assert_sent(0);
}
