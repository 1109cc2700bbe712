//! The test client against a real axum app, through all three transports: in-process
//! (`TestClient::new`), a server the client starts (`TestClient::serve`) and a server the
//! test starts (`TestClient::http`). One suite, run three times.
#![cfg(feature = "testing")]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Form, Router};
use serde_json::{Value, json};
use squall::testing::{Multipart, TestClient, Xsrf};

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split("; "))
        .find_map(|c| c.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

async fn home(headers: HeaderMap) -> String {
    match cookie(&headers, "session") {
        Some(user) => format!("hi {user}"),
        None => "hello stranger".to_owned(),
    }
}

async fn login(Form(form): Form<BTreeMap<String, String>>) -> Response {
    match (
        form.get("username").map(String::as_str),
        form.get("password").map(String::as_str),
    ) {
        (Some("peterbe"), Some("secret")) => (
            [(
                header::SET_COOKIE,
                "session=peterbe; Path=/; HttpOnly; SameSite=Lax",
            )],
            Redirect::to("/"),
        )
            .into_response(),
        _ => (StatusCode::FORBIDDEN, "bad login").into_response(),
    }
    .into_response()
}

async fn logout() -> Response {
    (
        [(
            header::SET_COOKIE,
            "session=; Path=/; Expires=Thursday, 01-Jan-1970 00:00:00 GMT",
        )],
        Redirect::to("/"),
    )
        .into_response()
}

/// Echoes the request as JSON.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> axum::Json<Value> {
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    axum::Json(json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn redirect(Path(code): Path<u16>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
    (status, [(header::LOCATION, "/echo")]).into_response()
}

async fn chain(Path(n): Path<u32>) -> Response {
    if n == 0 {
        return "end of chain".into_response();
    }
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, format!("/chain/{}", n - 1)),
            (header::SET_COOKIE, format!("hop{n}=yes; Path=/")),
        ],
    )
        .into_response()
}

async fn xsrf_form() -> Response {
    ([(header::SET_COOKIE, "_xsrf=tok123; Path=/")], "form").into_response()
}

async fn xsrf_protected(headers: HeaderMap, body: Bytes) -> Response {
    let cookie = cookie(&headers, "_xsrf").unwrap_or("none");
    let header = headers.get("x-xsrftoken").and_then(|v| v.to_str().ok());
    let field = url_field(&body, "_xsrf");
    if header == Some(cookie) || field.as_deref() == Some(cookie) {
        (StatusCode::OK, "accepted").into_response()
    } else {
        (StatusCode::FORBIDDEN, "xsrf mismatch").into_response()
    }
}

fn url_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

async fn set_secure() -> Response {
    (
        [(
            header::SET_COOKIE,
            "__Host-sid=s3cret; Path=/; Secure; HttpOnly",
        )],
        "ok",
    )
        .into_response()
}

async fn never() -> &'static str {
    std::future::pending::<()>().await;
    "unreachable"
}

/// A body of several frames (as a streamed response is), to be read whole.
struct Chunks(std::collections::VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }
}

async fn chunked() -> Response {
    let chunks = (0..3)
        .map(|i| Bytes::from(format!("part{i};").repeat(50_000)))
        .collect();
    Response::new(axum::body::Body::new(Chunks(chunks)))
}

fn app() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login/", post(login))
        .route("/logout/", get(logout))
        .route("/echo", any(echo))
        .route("/redirect/{code}", any(redirect))
        .route("/chain/{n}", get(chain))
        .route("/loop", get(|| async { Redirect::to("/loop") }))
        .route("/xsrf", get(xsrf_form).post(xsrf_protected))
        .route("/secure", get(set_secure))
        .route("/never", get(never))
        .route("/chunked", get(chunked))
        .route(
            "/query",
            get(|Query(q): Query<BTreeMap<String, String>>| async move { axum::Json(q) }),
        )
}

/// The whole suite, against one client.
async fn suite(client: TestClient) {
    login_flow(&client).await;
    requests(&client).await;
    redirects(&client).await;
    xsrf(&client).await;
    browser_headers(&client).await;
    secure_cookies(&client).await;
    timeouts(&client).await;
    assertion_messages(&client).await;
}

async fn login_flow(client: &TestClient) {
    client
        .get("/")
        .await
        .assert_status(200)
        .assert_contains("stranger")
        .assert_not_contains("hi peterbe");

    let r = client
        .post("/login/")
        .form(&[("username", "peterbe"), ("password", "wrong")])
        .await;
    r.assert_status(403);
    assert_eq!(client.cookie("session"), None);

    let r = client
        .post("/login/")
        .form(&[("username", "peterbe"), ("password", "secret")])
        .await;
    assert_eq!(r.status(), 303);
    r.assert_redirect_to("/")
        .assert_cookie("session", "peterbe");

    client
        .get("/")
        .await
        .assert_status(200)
        .assert_contains("hi peterbe")
        .assert_not_contains("stranger");

    let r = client.get("/logout/").follow_redirects().await;
    r.assert_status(200)
        .assert_contains("stranger")
        .assert_redirect_to("/")
        .assert_cookie("session", "");
    assert_eq!(client.cookie("session"), None);
    client.get("/").await.assert_contains("stranger");
}

async fn requests(client: &TestClient) {
    // Method, query (merged with the one in the path), headers.
    let r = client
        .put("/echo?a=1")
        .query(&[("b", "two words")])
        .header("x-custom", "yes")
        .await;
    let v: Value = r.json();
    assert_eq!(v["method"], "PUT");
    assert_eq!(
        v["uri"]
            .as_str()
            .map(|u| u.ends_with("/echo?a=1&b=two+words")),
        Some(true),
        "{v}"
    );
    assert_eq!(v["headers"]["x-custom"], "yes");
    // Several query calls add up; an empty one adds nothing.
    let empty: [(&str, &str); 0] = [];
    let v: Value = client
        .get("/echo?a=1")
        .query(&[("b", "2")])
        .query(&empty)
        .query(&[("c", "3")])
        .await
        .json();
    assert_eq!(
        v["uri"].as_str().map(|u| u.ends_with("/echo?a=1&b=2&c=3")),
        Some(true),
        "{v}"
    );

    // What cannot be encoded is an error that names the encoding and keeps the
    // serialiser's error.
    let not_a_map = 42;
    let bad_json_key: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    for (request, expected) in [
        (client.get("/echo").query(&not_a_map), "query"),
        (client.post("/echo").form(&not_a_map), "form"),
        (client.post("/echo").json(&bad_json_key), "JSON body"),
    ] {
        match request.send().await {
            Err(squall::testing::Error::Encode { what, source }) => {
                assert_eq!(what, expected);
                assert!(!source.to_string().is_empty());
            }
            other => panic!("expected Encode for the {expected}, got {other:?}"),
        }
    }

    let q: BTreeMap<String, String> = client
        .get("/query")
        .query(&[("x", "1"), ("y", "é&=")])
        .await
        .json();
    assert_eq!(q.get("y").map(String::as_str), Some("é&="));

    // JSON body.
    let r = client.patch("/echo").json(&json!({"name": "peter"})).await;
    let v: Value = r.json();
    assert_eq!(v["headers"]["content-type"], "application/json");
    assert_eq!(v["body"], r#"{"name":"peter"}"#);
    assert_eq!(v["method"], "PATCH");

    // Raw body with a content type.
    let v: Value = client
        .post("/echo")
        .header("content-type", "text/plain")
        .body("raw bytes")
        .await
        .json();
    assert_eq!(v["body"], "raw bytes");
    assert_eq!(v["headers"]["content-type"], "text/plain");
    assert_eq!(v["headers"]["content-length"], "9");

    // Multipart with a file.
    let form = Multipart::new().text("title", "Holiday").file(
        "photo",
        "beach.jpg",
        "image/jpeg",
        &b"JPEGDATA"[..],
    );
    let v: Value = client.post("/echo").multipart(form).await.json();
    let ct = v["headers"]["content-type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let boundary = ct
        .strip_prefix("multipart/form-data; boundary=")
        .expect("a multipart content type");
    let body = v["body"].as_str().unwrap_or_default();
    assert!(body.starts_with(&format!("--{boundary}\r\n")), "{body}");
    assert!(
        body.contains("Content-Disposition: form-data; name=\"title\"\r\n\r\nHoliday\r\n"),
        "{body}"
    );
    assert!(
        body.contains(
            "name=\"photo\"; filename=\"beach.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nJPEGDATA\r\n"
        ),
        "{body}"
    );
    assert!(body.ends_with(&format!("--{boundary}--\r\n")), "{body}");

    // Auth.
    let v: Value = client
        .get("/echo")
        .basic_auth("aladdin", Some("opensesame"))
        .await
        .json();
    assert_eq!(
        v["headers"]["authorization"],
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
    );
    let v: Value = client.delete("/echo").bearer_auth("t0k").await.json();
    assert_eq!(v["headers"]["authorization"], "Bearer t0k");
    assert_eq!(v["method"], "DELETE");

    // A body of several frames (and, over a socket, many reads) comes back whole.
    let r = client.get("/chunked").await;
    let expected: String = (0..3).map(|i| format!("part{i};").repeat(50_000)).collect();
    assert_eq!(r.bytes().len(), expected.len());
    assert!(r.text() == expected, "the chunks are joined in order");

    // HEAD and OPTIONS.
    let r = client.head("/echo").await;
    r.assert_status(200);
    assert!(r.bytes().is_empty());
    client.options("/echo").await.assert_status(200);

    // Default headers, overridden per request.
    let with_default = client
        .clone()
        .default_header(header::ACCEPT_LANGUAGE, "sv".parse().unwrap());
    let v: Value = with_default.get("/echo").await.json();
    assert_eq!(v["headers"]["accept-language"], "sv");
    let v: Value = with_default
        .get("/echo")
        .header("accept-language", "fi")
        .await
        .json();
    assert_eq!(v["headers"]["accept-language"], "fi");

    // Bad input is an error, not a panic, and says what was wrong.
    match client.get("/echo").header("bad header", "x").send().await {
        Err(squall::testing::Error::InvalidHeader { name, source }) => {
            assert_eq!(name, "", "the name itself is invalid");
            assert!(
                source.is::<header::InvalidHeaderName>(),
                "the source is http's error: {source:?}"
            );
        }
        other => panic!("expected InvalidHeader, got {other:?}"),
    }
    match client.get("/echo").header("x-ok", "a\nb").send().await {
        Err(squall::testing::Error::InvalidHeader { name, source }) => {
            assert_eq!(name, "x-ok");
            assert!(source.is::<header::InvalidHeaderValue>(), "{source:?}");
        }
        other => panic!("expected InvalidHeader, got {other:?}"),
    }
    assert!(matches!(
        client.get("http://[::1").send().await,
        Err(squall::testing::Error::InvalidUrl { .. })
    ));
    assert!(matches!(
        client.get("mailto:peter@example.com").send().await,
        Err(squall::testing::Error::UnsupportedUrl { .. })
    ));
}

async fn redirects(client: &TestClient) {
    // Not followed unless asked.
    let r = client.get("/chain/3").await;
    r.assert_status(302).assert_redirect_to("/chain/2");
    assert!(r.redirects().is_empty());

    // Followed: the chain is kept and every hop's cookies are stored.
    let r = client.get("/chain/3").follow_redirects().await;
    r.assert_status(200)
        .assert_contains("end of chain")
        .assert_cookie("hop1", "yes");
    let hops: Vec<String> = r
        .redirects()
        .iter()
        .map(|h| h.url.path().to_owned())
        .collect();
    assert_eq!(hops, ["/chain/3", "/chain/2", "/chain/1"]);
    assert_eq!(r.url().path(), "/chain/0");
    for hop in ["hop3", "hop2", "hop1"] {
        assert_eq!(client.cookie(hop).as_deref(), Some("yes"), "{hop}");
    }

    // 301/302/303 turn a POST into a GET without body; 307/308 keep both.
    for code in [301, 302, 303] {
        let r = client
            .post(&format!("/redirect/{code}"))
            .body("payload")
            .follow_redirects()
            .await;
        let v: Value = r.json();
        assert_eq!(v["method"], "GET", "{code}");
        assert_eq!(v["body"], "", "{code}");
        assert_eq!(r.redirects()[0].status.as_u16(), code);
        assert_eq!(
            r.redirects()[0].method,
            Method::POST,
            "the hop records the method sent"
        );
    }
    for code in [307, 308] {
        let r = client
            .post(&format!("/redirect/{code}"))
            .body("payload")
            .follow_redirects()
            .await;
        let v: Value = r.json();
        assert_eq!(v["method"], "POST", "{code}");
        assert_eq!(v["body"], "payload", "{code}");
    }
    let v: Value = client
        .put("/redirect/303")
        .body("x")
        .follow_redirects()
        .await
        .json();
    assert_eq!(v["method"], "GET");
    let v: Value = client
        .put("/redirect/302")
        .body("x")
        .follow_redirects()
        .await
        .json();
    assert_eq!(v["method"], "PUT");

    // At most 10 hops by default, or as set.
    match client.get("/loop").follow_redirects().send().await {
        Err(squall::testing::Error::TooManyRedirects { max, .. }) => assert_eq!(max, 10),
        other => panic!("expected TooManyRedirects, got {other:?}"),
    }
    match client.get("/chain/3").max_redirects(2).send().await {
        Err(squall::testing::Error::TooManyRedirects { max, url, .. }) => {
            assert_eq!(max, 2);
            assert!(
                url.ends_with("/chain/1"),
                "the last URL redirected from: {url}"
            );
        }
        other => panic!("expected TooManyRedirects, got {other:?}"),
    }
    client
        .get("/chain/3")
        .max_redirects(3)
        .await
        .assert_status(200);
}

async fn xsrf(client: &TestClient) {
    client.jar().clear();
    // No token yet: the app refuses.
    client
        .post("/xsrf")
        .form(&[("a", "1")])
        .await
        .assert_status(403);
    // The app sets the _xsrf cookie; forms then carry it as a field, other bodies as a header.
    client
        .get("/xsrf")
        .await
        .assert_status(200)
        .assert_cookie("_xsrf", "tok123");
    client
        .post("/xsrf")
        .form(&[("a", "1")])
        .await
        .assert_status(200)
        .assert_contains("accepted");
    client
        .post("/xsrf")
        .json(&json!({"a": 1}))
        .await
        .assert_status(200);
    let v: Value = client.post("/echo").form(&[("a", "1")]).await.json();
    assert_eq!(v["body"], "a=1&_xsrf=tok123");
    // A page of another origin cannot read the token: none is handed back.
    let evil = client.clone().origin("https://evil.example");
    let v: Value = evil.post("/echo").form(&[("a", "1")]).await.json();
    assert_eq!(v["body"], "a=1");
    let v: Value = evil.delete("/echo").await.json();
    assert!(v["headers"].get("x-xsrftoken").is_none(), "{v}");
    let v: Value = client.delete("/echo").await.json();
    assert_eq!(v["headers"]["x-xsrftoken"], "tok123");
    let v: Value = client.get("/echo").await.json();
    assert!(
        v["headers"].get("x-xsrftoken").is_none(),
        "safe requests carry no token"
    );
    // A field the test sets itself is left alone.
    let v: Value = client.post("/echo").form(&[("_xsrf", "mine")]).await.json();
    assert_eq!(v["body"], "_xsrf=mine");
    // A multipart form gets the field.
    let v: Value = client
        .post("/echo")
        .multipart(Multipart::new().text("a", "1"))
        .await
        .json();
    assert!(
        v["body"]
            .as_str()
            .unwrap_or_default()
            .contains("name=\"_xsrf\"\r\n\r\ntok123\r\n"),
        "{v}"
    );
    // Unless told not to.
    client
        .post("/xsrf")
        .form(&[("a", "1")])
        .without_xsrf()
        .await
        .assert_status(403);
    client
        .clone()
        .without_xsrf()
        .post("/xsrf")
        .form(&[("a", "1")])
        .await
        .assert_status(403);
    // Django's names.
    let django = client.clone().xsrf(Xsrf::django());
    client
        .jar()
        .store_url(client.base_url(), "csrftoken=dj4ngo; Path=/")
        .unwrap();
    let v: Value = django.post("/echo").form(&[("a", "1")]).await.json();
    assert_eq!(v["body"], "a=1&csrfmiddlewaretoken=dj4ngo");
    let v: Value = django.put("/echo").await.json();
    assert_eq!(v["headers"]["x-csrftoken"], "dj4ngo");
    client.jar().clear();
}

async fn browser_headers(client: &TestClient) {
    let origin = client.base_url().origin().ascii_serialization();
    let v: Value = client.post("/echo").await.json();
    assert_eq!(v["headers"]["origin"], origin.as_str());
    assert_eq!(v["headers"]["sec-fetch-site"], "same-origin");
    let v: Value = client.get("/echo").await.json();
    assert!(
        v["headers"].get("origin").is_none(),
        "a same-origin GET carries no Origin"
    );

    let v: Value = client
        .clone()
        .origin("https://evil.example")
        .post("/echo")
        .await
        .json();
    assert_eq!(v["headers"]["origin"], "https://evil.example");
    assert_eq!(v["headers"]["sec-fetch-site"], "cross-site");

    let v: Value = client
        .clone()
        .without_browser_headers()
        .post("/echo")
        .await
        .json();
    assert!(v["headers"].get("origin").is_none());
    assert!(v["headers"].get("sec-fetch-site").is_none());
}

async fn secure_cookies(client: &TestClient) {
    // The client talks to a loopback host, so a Secure __Host- cookie is kept and sent.
    client
        .get("/secure")
        .await
        .assert_cookie("__Host-sid", "s3cret");
    assert_eq!(client.cookie("__Host-sid").as_deref(), Some("s3cret"));
    let v: Value = client.get("/echo").await.json();
    assert!(
        v["headers"]["cookie"]
            .as_str()
            .unwrap_or_default()
            .contains("__Host-sid=s3cret"),
        "{v}"
    );
    client.jar().clear();
}

async fn timeouts(client: &TestClient) {
    let short = client.clone().timeout(Duration::from_millis(100));
    match short.get("/never").send().await {
        Err(e @ squall::testing::Error::Timeout { .. }) => {
            assert!(e.to_string().contains("/never"), "{e}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    match client
        .get("/never")
        .timeout(Duration::from_millis(100))
        .send()
        .await
    {
        Err(squall::testing::Error::Timeout { method, .. }) => assert_eq!(method, Method::GET),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

async fn assertion_messages(client: &TestClient) {
    let r = client.get("/").await;
    let panic = catch_unwind(AssertUnwindSafe(|| {
        r.assert_status(404);
    }))
    .expect_err("assert_status(404) on a 200 must fail");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("expected 404, got 200"), "{msg}");
    assert!(msg.contains(&format!("GET {}", client.base_url())), "{msg}");
    assert!(msg.contains("body (14 bytes): hello stranger"), "{msg}");

    let r = client.post("/login/").form(&[("username", "x")]).await;
    let panic = catch_unwind(AssertUnwindSafe(|| {
        r.assert_contains("welcome");
    }))
    .expect_err("must fail");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("POST")
            && msg.contains("/login/")
            && msg.contains("403")
            && msg.contains("bad login"),
        "{msg}"
    );

    for check in [
        Box::new(|r: &squall::testing::TestResponse| {
            r.assert_header("content-type", "application/json");
        }) as Box<dyn Fn(&squall::testing::TestResponse)>,
        Box::new(|r| {
            r.assert_json(&json!({"a": 1}));
        }),
        Box::new(|r| {
            r.assert_cookie("session", "x");
        }),
        Box::new(|r| {
            r.assert_redirect_to("/elsewhere");
        }),
        Box::new(|r| {
            r.assert_not_contains("bad");
        }),
    ] {
        assert!(catch_unwind(AssertUnwindSafe(|| check(&r))).is_err());
    }
    r.assert_header("content-type", "text/plain; charset=utf-8");
    client
        .get("/query?a=b")
        .await
        .assert_json(&json!({"a": "b"}));
}

#[tokio::test]
async fn in_process() {
    suite(TestClient::new(app())).await;
}

#[tokio::test]
async fn served_by_the_client() {
    suite(TestClient::serve(app())).await;
}

#[tokio::test]
async fn running_server_over_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app()).await });
    suite(TestClient::http(&format!("http://{addr}"))).await;
    server.abort();
}

#[tokio::test]
async fn clock_injected_through_the_client() {
    use std::sync::{Arc, Mutex};
    use std::time::SystemTime;
    let now = Arc::new(Mutex::new(SystemTime::now()));
    let clock = now.clone();
    let app = Router::new()
        .route(
            "/short",
            get(|| async { ([(header::SET_COOKIE, "s=1; Max-Age=60")], "ok") }),
        )
        .route(
            "/",
            get(|h: HeaderMap| async move { cookie(&h, "s").unwrap_or("none").to_owned() }),
        );
    let client =
        TestClient::new(app).cookie_jar(squall::testing::CookieJar::with_clock(move || {
            *clock.lock().unwrap()
        }));
    client.get("/short").await;
    client.get("/").await.assert_contains("1");
    *now.lock().unwrap() += Duration::from_secs(61);
    client.get("/").await.assert_contains("none");
}

#[tokio::test]
async fn connection_refused_is_a_transient_connect_error_with_its_source() {
    use squall::testing::{Error, TransportError};
    use std::error::Error as _;
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = TestClient::http(&format!("http://127.0.0.1:{port}/"));
    let e = client.get("/").send().await.expect_err("nothing listens");
    assert!(e.is_transient(), "{e}");
    match &e {
        Error::Transport {
            method,
            source: TransportError::Connect(inner),
            ..
        } => {
            assert_eq!(method, Method::GET);
            assert!(!inner.to_string().is_empty());
        }
        other => panic!("expected a Transport(Connect) error, got {other:?}"),
    }
    // The chain goes on below squall's types, down to the I/O error.
    let mut chain = 0;
    let mut source = e.source();
    let mut io = false;
    while let Some(s) = source {
        chain += 1;
        io |= s.is::<std::io::Error>();
        source = s.source();
    }
    assert!(chain >= 2, "the chain reaches below TransportError");
    assert!(io, "the chain ends in the refused connection's io::Error");
}

#[test]
fn constructors_refuse_bad_urls() {
    use squall::testing::Error;
    assert!(matches!(
        TestClient::try_http("not a url"),
        Err(Error::InvalidUrl { .. })
    ));
    assert!(matches!(
        TestClient::try_http("ftp://example.com/"),
        Err(Error::UnsupportedUrl { .. })
    ));
    // https is not supported, and the error says so plainly.
    let e = TestClient::try_http("https://example.com/").expect_err("https is refused");
    assert!(
        matches!(&e, Error::HttpsNotSupported { url } if url == "https://example.com/"),
        "expected HttpsNotSupported, got {e:?}"
    );
    assert!(e.to_string().contains("https is not supported"), "{e}");
    // No runtime: serving needs one, and says so.
    match TestClient::try_serve(app()) {
        Err(Error::Serve(e)) => assert!(e.to_string().contains("tokio runtime"), "{e}"),
        other => panic!("expected a Serve error, got {other:?}"),
    }
}

#[tokio::test]
async fn https_urls_over_http_are_refused_plainly() {
    use squall::testing::Error;
    let client = TestClient::serve(app());
    match client.get("https://example.com/x").send().await {
        Err(Error::HttpsNotSupported { url }) => assert_eq!(url, "https://example.com/x"),
        other => panic!("expected HttpsNotSupported, got {other:?}"),
    }
    // In-process there is no connection to secure: https URLs go to the app.
    TestClient::new(app())
        .get("https://localhost/")
        .await
        .assert_status(200);
}
