//! Redirects off the app under test stop the chain (an open redirect stays visible), unless
//! the client was told the other host is the app too (`host_alias`). Run in-process, over
//! a server the client starts, and over a server the test starts.
#![cfg(feature = "testing")]

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use squall::testing::TestClient;

const OFF_SITE: &str = "https://other.example/landing";

async fn landing(headers: HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    format!("landed in the app, Host: {host}")
}

fn app() -> Router {
    Router::new()
        .route("/go", get(|| async { Redirect::to(OFF_SITE) }))
        .route("/hop", get(|| async { Redirect::to("/go") }))
        .route(
            "/elsewhere-port",
            get(|| async { Redirect::to("http://127.0.0.1:9/landing") }),
        )
        .route("/landing", get(landing))
        .route(
            "/local",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/landing")]).into_response() }),
        )
}

async fn suite(client: TestClient) {
    // A redirect within the app is followed.
    client
        .get("/local")
        .follow_redirects()
        .await
        .assert_status(200)
        .assert_contains("landed in the app");

    // Off the app: the chain stops at the redirect, whose target is visible.
    let r = client.get("/go").follow_redirects().await;
    r.assert_status(303)
        .assert_not_contains("landed")
        .assert_redirect_to(OFF_SITE);
    assert_eq!(
        r.redirect_target().map(String::from).as_deref(),
        Some(OFF_SITE)
    );
    assert_eq!(r.header("location"), Some(OFF_SITE));
    assert!(r.redirects().is_empty(), "{:?}", r.redirects());
    assert_eq!(r.url().path(), "/go");
    // A failed assertion on it says why it was not followed.
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.assert_status(200);
    }))
    .expect_err("a 303 is not a 200");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains(&format!("location: {OFF_SITE}"))
            && msg.contains("a redirect off the app is not followed")
            && msg.contains("host_alias"),
        "{msg}"
    );

    // After hops within the app, the same: the hops are kept.
    let r = client.get("/hop").follow_redirects().await;
    r.assert_status(303);
    assert_eq!(r.redirects().len(), 1);
    assert_eq!(
        r.redirect_target().map(String::from).as_deref(),
        Some(OFF_SITE)
    );

    // Told that other.example is the app: followed into it, with that Host.
    let aliased = client.clone().host_alias("other.example");
    let r = aliased.get("/go").follow_redirects().await;
    r.assert_status(200)
        .assert_contains("landed in the app, Host: other.example");
    assert_eq!(r.url().as_str(), OFF_SITE);
    assert_eq!(r.redirects().len(), 1);
    assert_eq!(r.redirect_target(), None);
    // The alias is the clone's only.
    client
        .get("/go")
        .follow_redirects()
        .await
        .assert_status(303);
}

#[tokio::test]
async fn in_process() {
    suite(TestClient::new(app())).await;
}

#[tokio::test]
async fn served_by_the_client() {
    let client = TestClient::serve(app());
    // Over a socket, another port of the same host is another server.
    let r = client.get("/elsewhere-port").follow_redirects().await;
    r.assert_status(303);
    assert_eq!(
        r.redirect_target().map(String::from).as_deref(),
        Some("http://127.0.0.1:9/landing")
    );
    suite(client).await;
}

#[tokio::test]
async fn running_server_over_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app()).await });
    suite(TestClient::http(&format!("http://{addr}"))).await;
    server.abort();
}
