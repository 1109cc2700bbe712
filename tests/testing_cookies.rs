//! Which cookies the test client sends, as a browser would: the `SameSite` rules of
//! RFC 6265bis for requests made from another site, and looking cookies up by URL.
#![cfg(feature = "testing")]

use axum::Router;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use squall::testing::{CookieError, CookieJar, RequestSite, TestClient};
use url::Url;

/// Sets one cookie of each kind; `noneinsecure` (SameSite=None without Secure) is refused.
async fn set() -> Response {
    let mut headers = HeaderMap::new();
    for cookie in [
        "strict=1; Path=/; SameSite=Strict",
        "lax=1; Path=/; SameSite=Lax",
        "none=1; Path=/; SameSite=None; Secure",
        "noneinsecure=1; Path=/; SameSite=None",
        "plain=1; Path=/",
        "apionly=1; Path=/api",
    ] {
        headers.append(header::SET_COOKIE, cookie.parse().unwrap());
    }
    (headers, "set").into_response()
}

/// Answers with the names of the cookies the request carried, in a header (so HEAD works).
async fn seen(headers: HeaderMap) -> Response {
    let mut names: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split("; "))
        .filter_map(|c| c.split('=').next())
        .collect();
    names.sort_unstable();
    let names = names.join(",");
    ([("x-cookies", names.clone())], names).into_response()
}

fn app() -> Router {
    Router::new()
        .route("/set", get(set))
        .route("/seen", any(seen))
        .route("/api/seen", any(seen))
        .route("/post-then-get", post(|| async { Redirect::to("/seen") }))
}

fn sent(response: &squall::testing::TestResponse) -> String {
    response.header("x-cookies").unwrap_or("").to_owned()
}

async fn same_site_rules(client: TestClient) {
    client.get("/set").await.assert_status(200);
    // The app's own pages: every cookie goes.
    assert_eq!(sent(&client.get("/seen").await), "lax,none,plain,strict");
    assert_eq!(sent(&client.post("/seen").await), "lax,none,plain,strict");

    let evil = client.clone().origin("https://evil.example");
    // A top-level cross-site GET (a link followed): Lax goes, Strict does not.
    assert_eq!(sent(&evil.get("/seen").await), "lax,none,plain");
    assert_eq!(sent(&evil.head("/seen").await), "lax,none,plain");
    // A cross-site POST (a form on evil.example): neither Strict nor Lax.
    assert_eq!(sent(&evil.post("/seen").await), "none,plain");
    // Other methods can only come from a script: the same.
    assert_eq!(sent(&evil.put("/seen").await), "none,plain");
    assert_eq!(sent(&evil.delete("/seen").await), "none,plain");
    // A cross-site POST redirected to a GET: the GET is a cross-site navigation.
    let r = evil.post("/post-then-get").follow_redirects().await;
    assert_eq!(sent(&r), "lax,none,plain");
}

#[tokio::test]
async fn same_site_rules_in_process() {
    same_site_rules(TestClient::new(app())).await;
}

#[tokio::test]
async fn same_site_rules_over_http() {
    same_site_rules(TestClient::serve(app())).await;
}

#[test]
fn same_site_none_without_secure_is_refused_at_store_time() {
    let mut jar = CookieJar::new();
    match jar.store("https://example.com/", "a=1; SameSite=None") {
        Err(CookieError::SameSiteNoneInsecure { name }) => assert_eq!(name, "a"),
        other => panic!("expected SameSiteNoneInsecure, got {other:?}"),
    }
    assert_eq!(jar.get("https://example.com/", "a"), None);
    jar.store("https://example.com/", "a=1; SameSite=None; Secure")
        .unwrap();
    assert_eq!(jar.get("https://example.com/", "a").as_deref(), Some("1"));
}

#[test]
fn the_jar_alone_applies_same_site_by_request_site() {
    let mut jar = CookieJar::new();
    let to = Url::parse("https://www.example.com/").unwrap();
    jar.store_url(&to, "s=1; SameSite=Strict").unwrap();
    jar.store_url(&to, "l=1; SameSite=Lax").unwrap();
    let header = |site| jar.header_for_request(&to, site);
    assert_eq!(header(RequestSite::SameSite).as_deref(), Some("s=1; l=1"));
    assert_eq!(
        header(RequestSite::CrossSiteNavigation).as_deref(),
        Some("l=1")
    );
    assert_eq!(header(RequestSite::CrossSite), None);

    // Same site: the registrable domain and the scheme (schemeful same-site).
    let site = |from: &str, method: Method| {
        RequestSite::for_navigation(&Url::parse(from).unwrap(), &to, &method)
    };
    assert_eq!(
        site("https://api.example.com/", Method::POST),
        RequestSite::SameSite
    );
    assert_eq!(
        site("http://www.example.com/", Method::GET),
        RequestSite::CrossSiteNavigation
    );
    assert_eq!(
        site("https://evil.example/", Method::GET),
        RequestSite::CrossSiteNavigation
    );
    assert_eq!(
        site("https://evil.example/", Method::HEAD),
        RequestSite::CrossSiteNavigation
    );
    assert_eq!(
        site("https://evil.example/", Method::POST),
        RequestSite::CrossSite
    );
}

#[tokio::test]
async fn cookies_looked_up_by_url() {
    let client = TestClient::new(app());
    client.get("/set").await;
    // `cookie(name)` is what goes to the base URL; a Path=/api cookie does not.
    assert_eq!(client.cookie("apionly"), None);
    assert_eq!(client.cookie_for("/api", "apionly").as_deref(), Some("1"));
    assert_eq!(
        client.cookie_for("/api/seen", "apionly").as_deref(),
        Some("1")
    );
    assert_eq!(
        client
            .cookie_for("http://localhost/api/x", "apionly")
            .as_deref(),
        Some("1")
    );
    assert_eq!(client.cookie_for("/apix", "apionly"), None);
    assert_eq!(client.cookie_for("/", "plain").as_deref(), Some("1"));
    assert_eq!(
        sent(&client.get("/api/seen").await),
        "apionly,lax,none,plain,strict"
    );
}
