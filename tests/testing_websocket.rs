//! `TestClient::websocket` against a real axum app, each case in-process (no socket) and
//! over HTTP (`TestClient::serve`): echo of text, JSON and binary messages, an upgrade
//! that needs the login cookie from the jar, an Origin check, and a close by the app.
#![cfg(feature = "testing")]

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use squall::testing::{TestClient, WebSocketError, WebSocketMessage};

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(text) => Message::Text(format!("echo: {}", text.as_str()).into()),
            Message::Binary(bytes) => Message::Binary(bytes.iter().rev().copied().collect()),
            Message::Close(_) => return,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}

/// Answers each JSON message with what it saw and how many it has seen.
async fn json_echo(mut socket: WebSocket) {
    let mut n = 0;
    while let Some(Ok(Message::Text(text))) = socket.recv().await {
        n += 1;
        let seen: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
        let reply = json!({ "seen": seen, "n": n }).to_string();
        if socket.send(Message::Text(reply.into())).await.is_err() {
            return;
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split("; ")
        .find_map(|c| c.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_owned)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Value {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or(Value::Null, |v| Value::from(v.to_owned()))
}

/// Whether the upgrade came from a page of the app's own origin.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    matches!((host, origin), (Some(host), Some(origin)) if origin == format!("http://{host}"))
}

async fn private(ws: WebSocketUpgrade, headers: HeaderMap) -> Response {
    let Some(user) = cookie(&headers, "session") else {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    };
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
    }
    ws.on_upgrade(move |mut socket| async move {
        let _ = socket
            .send(Message::Text(format!("hello {user}").into()))
            .await;
        echo(socket).await;
    })
}

/// The first message says which cookie, Origin and `x-test` header the upgrade carried.
async fn whoami(ws: WebSocketUpgrade, headers: HeaderMap) -> Response {
    let seen = json!({
        "session": cookie(&headers, "session"),
        "origin": header_text(&headers, header::ORIGIN),
        "x-test": header_text(&headers, header::HeaderName::from_static("x-test")),
    });
    ws.on_upgrade(move |mut socket| async move {
        let _ = socket.send(Message::Text(seen.to_string().into())).await;
    })
}

/// Sends one message, then closes with code 4000 and a reason.
async fn bye(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        let _ = socket.send(Message::Text("last words".into())).await;
        let frame = CloseFrame {
            code: 4000,
            reason: "session over".into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
        // Wait for the client's answering close.
        while let Some(Ok(_)) = socket.recv().await {}
    })
}

fn app() -> Router {
    Router::new()
        .route(
            "/echo",
            get(|ws: WebSocketUpgrade| async { ws.on_upgrade(echo) }),
        )
        .route(
            "/json",
            get(|ws: WebSocketUpgrade| async { ws.on_upgrade(json_echo) }),
        )
        .route(
            "/login",
            post(|| async {
                (
                    [(
                        header::SET_COOKIE,
                        "session=alice; Path=/; HttpOnly; SameSite=Lax",
                    )],
                    "welcome",
                )
            }),
        )
        .route("/private", get(private))
        .route("/whoami", get(whoami))
        .route("/bye", get(bye))
}

/// Each case runs against an in-process client and one over a real socket.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(#[tokio::test] async fn $name() { super::$name(squall::testing::TestClient::new(super::app())).await; })*
        }
        mod over_http {
            $(#[tokio::test] async fn $name() { super::$name(squall::testing::TestClient::serve(super::app())).await; })*
        }
    };
}

both!(
    echoes_text_and_binary,
    echoes_json,
    login_cookie_opens_private_socket,
    upgrade_carries_cookie_origin_and_default_headers,
    cross_site_lax_cookie_stays_home,
    foreign_origin_is_refused,
    refused_upgrade_panics_at_the_test_line,
    app_close_is_seen_with_code_and_reason,
);

async fn echoes_text_and_binary(client: TestClient) {
    let mut ws = client.websocket("/echo").await;
    ws.send_text("hello").await;
    assert_eq!(ws.recv_text().await, "echo: hello");
    ws.send_text("again").await;
    assert_eq!(
        ws.recv().await,
        WebSocketMessage::Text("echo: again".into())
    );
    ws.send_binary(vec![1u8, 2, 3]).await;
    assert_eq!(ws.recv_binary().await.as_ref(), &[3, 2, 1]);
    ws.close().await;
}

async fn echoes_json(client: TestClient) {
    let mut ws = client.websocket("/json").await;
    ws.send_json(&json!({ "a": [1, 2] })).await;
    let reply: Value = ws.recv_json().await;
    assert_eq!(reply, json!({ "seen": { "a": [1, 2] }, "n": 1 }));

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Reply {
        seen: String,
        n: u32,
    }
    ws.send_json("two").await;
    let reply: Reply = ws.recv_json().await;
    assert_eq!(
        reply,
        Reply {
            seen: "two".into(),
            n: 2
        }
    );
    // A reply of another shape is an error that shows the message.
    ws.send_json(&[1, 2]).await;
    let err = ws.try_recv_json::<Reply>().await.unwrap_err();
    assert!(matches!(err, WebSocketError::Json { .. }), "{err:?}");
    assert!(err.to_string().contains(r#""seen":[1,2]"#), "{err}");
}

async fn login_cookie_opens_private_socket(client: TestClient) {
    let err = client.try_websocket("/private").await.unwrap_err();
    match &err {
        WebSocketError::Refused { status, body, .. } => {
            assert_eq!(*status, StatusCode::UNAUTHORIZED);
            assert_eq!(body, "log in first");
        }
        other => panic!("expected a refused upgrade, got {other:?}"),
    }
    client.post("/login").await.assert_status(200);
    let mut ws = client.websocket("/private").await;
    assert_eq!(ws.recv_text().await, "hello alice");
    ws.send_text("ping").await;
    assert_eq!(ws.recv_text().await, "echo: ping");
    ws.close().await;
}

async fn upgrade_carries_cookie_origin_and_default_headers(client: TestClient) {
    let own_origin = client.base_url().origin().ascii_serialization();
    let client = client.default_header(
        header::HeaderName::from_static("x-test"),
        header::HeaderValue::from_static("from-default"),
    );
    client.post("/login").await;
    let mut ws = client.websocket("/whoami").await;
    let seen: Value = ws.recv_json().await;
    assert_eq!(
        seen,
        json!({ "session": "alice", "origin": own_origin, "x-test": "from-default" })
    );
}

/// A WebSocket opened by a page of another site is no navigation: the `SameSite=Lax`
/// session cookie stays home, as in a browser, and `Origin` names that site.
async fn cross_site_lax_cookie_stays_home(client: TestClient) {
    client.post("/login").await;
    let evil = client.clone().origin("https://evil.example");
    let mut ws = evil.websocket("/whoami").await;
    let seen: Value = ws.recv_json().await;
    assert_eq!(seen["session"], Value::Null, "{seen}");
    assert_eq!(seen["origin"], "https://evil.example");
}

async fn foreign_origin_is_refused(client: TestClient) {
    client.post("/login").await;
    // The same jar, but the upgrade comes from a page of another origin of the same site
    // (another port), so the Lax login cookie goes along: only the app's Origin check
    // stands between that page and the socket.
    let mut other = client.base_url().clone();
    other.set_port(Some(1)).expect("a port can be set");
    let evil = client.clone().origin(other.as_str());
    let err = evil.try_websocket("/private").await.unwrap_err();
    let WebSocketError::Refused { status, .. } = err else {
        panic!("expected a refused upgrade, got {err:?}");
    };
    assert_eq!(status, StatusCode::FORBIDDEN);
    let err = evil
        .websocket("/private")
        .header(header::ORIGIN, "http://elsewhere.example")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403 Forbidden"), "{err}");
}

async fn refused_upgrade_panics_at_the_test_line(client: TestClient) {
    let line = line!() + 2;
    let task = tokio::spawn(async move {
        let _ws = client.websocket("/private").await;
    });
    let panic = task.await.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(message.contains("log in first"), "{message}");
    assert!(
        message.contains(&format!("tests/testing_websocket.rs:{line}:")),
        "{message}"
    );
}

async fn app_close_is_seen_with_code_and_reason(client: TestClient) {
    let mut ws = client.websocket("/bye").await;
    assert_eq!(ws.recv_text().await, "last words");
    let frame = ws.recv_close().await.expect("a close frame");
    assert_eq!((frame.code, frame.reason.as_str()), (4000, "session over"));
    // Once closed, receiving and sending say so, with the app's close frame.
    let err = ws.try_recv_text().await.unwrap_err();
    assert!(
        matches!(&err, WebSocketError::Closed { frame: Some(f), .. } if f.code == 4000),
        "{err:?}"
    );
    assert!(err.to_string().contains("session over"), "{err}");
    let err = ws
        .try_send(WebSocketMessage::Text("late".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, WebSocketError::Closed { .. }), "{err:?}");
    ws.close().await;
}
