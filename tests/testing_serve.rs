//! `TestClient::serve` behaves as `axum::serve` does for what passes the connection
//! through: a WebSocket upgrade, and a streamed response that goes out chunk by chunk.
#![cfg(feature = "testing")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use squall::testing::TestClient;
use tokio::sync::mpsc;

async fn echo_socket(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(text) => Message::Text(format!("echo: {}", text.as_str()).into()),
            Message::Close(_) => return,
            other => other,
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}

fn ws_app() -> Router {
    Router::new().route(
        "/ws",
        get(|ws: WebSocketUpgrade| async move { ws.on_upgrade(echo_socket) }),
    )
}

/// A real WebSocket client over TCP sends a message and reads the app's answer.
async fn websocket_echo(base: &str) {
    let url = format!("{}ws", base.replacen("http://", "ws://", 1));
    let (mut socket, response) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("WebSocket handshake with {url} failed: {e}"));
    assert_eq!(response.status().as_u16(), 101);
    socket
        .send(tokio_tungstenite::tungstenite::Message::text("hello"))
        .await
        .expect("sending the first message");
    let reply = socket
        .next()
        .await
        .expect("the app answers")
        .expect("the answer is a WebSocket message");
    assert_eq!(
        reply.into_text().expect("a text message").as_str(),
        "echo: hello"
    );
    socket.close(None).await.expect("closing");
}

#[tokio::test]
async fn websocket_through_serve() {
    let client = TestClient::serve(ws_app());
    websocket_echo(client.base_url().as_str()).await;
}

#[tokio::test]
async fn websocket_through_axum_serve_for_comparison() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, ws_app()).await });
    websocket_echo(&format!("http://{addr}/")).await;
    server.abort();
}

/// An app whose `/stream` body is what the test sends down a channel, chunk by chunk.
fn stream_app() -> (Router, mpsc::UnboundedSender<Bytes>) {
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let app = Router::new().route(
        "/stream",
        get(move || {
            let rx = rx.lock().unwrap().take().expect("one request only");
            async move {
                let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv()
                        .await
                        .map(|chunk| (Ok::<_, Infallible>(chunk), rx))
                });
                Response::new(Body::from_stream(chunks))
            }
        }),
    );
    (app, tx)
}

/// The headers arrive with the first chunk, chunked and without a length, while the
/// stream is still open; the rest follows when the app sends it.
async fn streamed(base: &str, tx: mpsc::UnboundedSender<Bytes>) {
    tx.send(Bytes::from_static(b"first chunk;")).unwrap();
    // Only a failsafe against a deadlock (a server that buffers waits for the stream's end,
    // which the test holds back until the first chunk came): not a performance bound.
    let failsafe = Duration::from_secs(30);
    let mut response = tokio::time::timeout(failsafe, reqwest::get(format!("{base}stream")))
        .await
        .expect("the response headers did not come before the stream ended")
        .expect("the request failed");
    assert_eq!(
        response
            .headers()
            .get("transfer-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("chunked"),
        "{:?}",
        response.headers()
    );
    assert!(
        response.headers().get("content-length").is_none(),
        "a streamed body has no length: {:?}",
        response.headers()
    );
    let first = tokio::time::timeout(failsafe, response.chunk())
        .await
        .expect("the first chunk did not come before the stream ended")
        .expect("reading the first chunk")
        .expect("a first chunk");
    assert_eq!(&first[..], b"first chunk;");
    tx.send(Bytes::from_static(b"second chunk")).unwrap();
    drop(tx);
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("reading the rest") {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"second chunk");
}

#[tokio::test]
async fn streamed_response_through_serve() {
    let (app, tx) = stream_app();
    let client = TestClient::serve(app);
    streamed(client.base_url().as_str(), tx).await;
}

#[tokio::test]
async fn streamed_response_through_axum_serve_for_comparison() {
    let (app, tx) = stream_app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    streamed(&format!("http://{addr}/"), tx).await;
    server.abort();
}

#[tokio::test]
async fn the_client_still_reads_a_streamed_body_whole() {
    let (app, tx) = stream_app();
    let client = TestClient::serve(app);
    tx.send(Bytes::from_static(b"a;")).unwrap();
    tx.send(Bytes::from_static(b"b")).unwrap();
    drop(tx);
    client
        .get("/stream")
        .await
        .assert_status(200)
        .assert_contains("a;b");
}
