//! Interop with a real server not written here: a Tornado app with `xsrf_cookies=True` and
//! a `set_secure_cookie` login, over real HTTP.
#![cfg(feature = "testing")]

mod support;
#[path = "support/tornado.rs"]
mod tornado;

use serde_json::{Value, json};
use squall::testing::TestClient;

#[tokio::test]
async fn login_to_tornado_with_xsrf_handled() {
    let server = tornado::Tornado::start(support::python());
    let client = TestClient::http(&server.url);

    client
        .get("/")
        .await
        .assert_status(200)
        .assert_contains("stranger");

    // No _xsrf cookie yet: Tornado refuses the POST.
    let r = client
        .post("/login/")
        .form(&[("username", "peterbe"), ("password", "secret")])
        .await;
    r.assert_status(403);

    // The login page sets the _xsrf cookie.
    client
        .get("/login/")
        .await
        .assert_status(200)
        .assert_contains("name=\"_xsrf\"");
    let token = client.cookie("_xsrf").expect("Tornado set an _xsrf cookie");
    assert!(
        token.starts_with("2|"),
        "Tornado's version 2 token: {token}"
    );

    // Told not to send it: a clear 403.
    let r = client
        .post("/login/")
        .form(&[("username", "peterbe"), ("password", "secret")])
        .without_xsrf()
        .await;
    r.assert_status(403);
    assert_eq!(client.cookie("user"), None);

    // Sent for us: the login works, and Tornado's signed cookie comes back.
    let r = client
        .post("/login/")
        .form(&[("username", "peterbe"), ("password", "secret")])
        .await;
    r.assert_status(302).assert_redirect_to("/");
    let user = client.cookie("user").expect("the signed user cookie");
    assert!(user.contains("|"), "a set_secure_cookie value: {user}");
    client
        .get("/")
        .await
        .assert_status(200)
        .assert_contains("hi peterbe")
        .assert_not_contains("stranger");

    // A JSON request carries the token in X-XSRFToken.
    let v: Value = client
        .post("/api/")
        .json(&json!({"q": 1}))
        .await
        .assert_status(200)
        .json();
    assert_eq!(v["user"], "peterbe");
    client
        .post("/api/")
        .json(&json!({"q": 1}))
        .without_xsrf()
        .await
        .assert_status(403);

    // Logout, following the redirect home.
    let r = client.post("/logout/").follow_redirects().await;
    r.assert_status(200).assert_contains("stranger");
    assert_eq!(r.redirects().len(), 1);
    assert_eq!(client.cookie("user"), None);
}
