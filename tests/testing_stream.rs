//! Streamed responses and server-sent events through the test client: the body read chunk
//! by chunk while the app is still writing it, a chunk that does not come in time, events
//! parsed by the WHATWG rules, and the first events of an endless stream. Every case runs
//! in-process, through `TestClient::serve`, and against `axum::serve` over HTTP.
#![cfg(feature = "testing")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Redirect;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::{StreamExt, stream};
use squall::testing::{SseEvent, StreamError, TestClient};
use tokio::sync::mpsc;

/// How the client reaches the app.
#[derive(Debug, Clone, Copy)]
enum Via {
    InProcess,
    Serve,
    AxumServe,
}

/// A client for the app, and the `axum::serve` task behind it (stopped when dropped).
struct Client {
    client: TestClient,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

impl std::ops::Deref for Client {
    type Target = TestClient;
    fn deref(&self) -> &TestClient {
        &self.client
    }
}

impl Via {
    /// A client for `app`. Its request timeout is only a failsafe, so that a client that
    /// waited for the whole body before giving the head fails instead of hanging.
    async fn client(self, app: Router) -> Client {
        let mut client = self.untimed_client(app).await;
        client.client = client.client.clone().timeout(Duration::from_secs(30));
        client
    }

    async fn untimed_client(self, app: Router) -> Client {
        match self {
            Via::InProcess => Client {
                client: TestClient::new(app),
                server: None,
            },
            Via::Serve => Client {
                client: TestClient::serve(app),
                server: None,
            },
            Via::AxumServe => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(async move {
                    axum::serve(listener, app).await.unwrap();
                });
                Client {
                    client: TestClient::http(&format!("http://{addr}/")),
                    server: Some(server),
                }
            }
        }
    }
}

/// Runs `case` in-process, through `TestClient::serve` and against `axum::serve`.
macro_rules! each_transport {
    ($case:ident) => {
        mod $case {
            #[tokio::test]
            async fn in_process() {
                super::$case(super::Via::InProcess).await;
            }
            #[tokio::test]
            async fn serve() {
                super::$case(super::Via::Serve).await;
            }
            #[tokio::test]
            async fn axum_serve() {
                super::$case(super::Via::AxumServe).await;
            }
        }
    };
}

/// An app whose `/feed` body is what the test sends down a channel, chunk by chunk, and
/// ends when the test drops the sender. It also sets a cookie, and `/old` redirects to it.
fn feed_app() -> (Router, mpsc::UnboundedSender<&'static str>) {
    let (tx, rx) = mpsc::unbounded_channel::<&'static str>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let app = Router::new()
        .route(
            "/feed",
            get(move || {
                let rx = rx.lock().unwrap().take().expect("one request only");
                async move {
                    let chunks = stream::unfold(rx, |mut rx| async move {
                        let chunk = rx.recv().await?;
                        Some((
                            Ok::<_, Infallible>(Bytes::from_static(chunk.as_bytes())),
                            rx,
                        ))
                    });
                    (
                        [(header::SET_COOKIE, "seen=feed; Path=/")],
                        Body::from_stream(chunks),
                    )
                }
            }),
        )
        .route("/old", get(|| async { Redirect::to("/feed") }));
    (app, tx)
}

/// The chunks come one by one while the app is still writing: the app cannot end the body
/// before the test drops the sender, after reading the chunks.
async fn chunks_are_read_before_the_app_finishes(via: Via) {
    let (app, tx) = feed_app();
    let client = via.client(app).await;
    tx.send("one;").unwrap();
    let mut response = client.get("/feed").stream().await;
    assert_eq!(response.status(), 200);
    assert_eq!(client.cookie("seen").as_deref(), Some("feed"), "{via:?}");
    assert_eq!(response.next_chunk().await.unwrap().unwrap(), "one;");
    tx.send("two;").unwrap();
    assert_eq!(response.next_chunk().await.unwrap().unwrap(), "two;");
    tx.send("three").unwrap();
    drop(tx);
    let rest = response.into_response().await.unwrap();
    rest.assert_status(200).assert_contains("three");
    assert_eq!(rest.text(), "three", "{via:?}");
}
each_transport!(chunks_are_read_before_the_app_finishes);

/// A chunk that does not come within the chunk timeout is an error naming the request,
/// and the stream can still be read on when the chunk comes after all.
async fn a_late_chunk_is_a_timeout_error(via: Via) {
    let (app, tx) = feed_app();
    let client = via.client(app).await;
    tx.send("early").unwrap();
    let mut response = client
        .get("/feed")
        .stream()
        .await
        .chunk_timeout(Duration::from_millis(100));
    assert_eq!(response.next_chunk().await.unwrap().unwrap(), "early");
    // The test holds the sender: nothing more comes until it sends.
    let error = response.next_chunk().await.unwrap().unwrap_err();
    assert!(error.is_timeout(), "{via:?}: {error}");
    assert!(matches!(error, StreamError::ChunkTimeout { .. }));
    let message = error.to_string();
    let url = client.base_url().join("/feed").unwrap();
    assert!(
        message.starts_with(&format!(
            "GET {url}: no chunk of the body came within 100ms"
        )),
        "{message}"
    );
    tx.send("late").unwrap();
    assert_eq!(response.next_chunk().await.unwrap().unwrap(), "late");
    drop(tx);
    assert!(response.next_chunk().await.is_none());
}
each_transport!(a_late_chunk_is_a_timeout_error);

/// A redirect is followed to the stream when asked, and the chain is kept.
async fn a_redirect_is_followed_to_the_stream(via: Via) {
    let (app, tx) = feed_app();
    let client = via.client(app).await;
    tx.send("after redirect").unwrap();
    drop(tx);
    let mut response = client.get("/old").follow_redirects().stream().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.url().path(), "/feed");
    assert_eq!(response.redirects().len(), 1);
    assert_eq!(
        response.next_chunk().await.unwrap().unwrap(),
        "after redirect"
    );
    assert!(response.next_chunk().await.is_none());
}
each_transport!(a_redirect_is_followed_to_the_stream);

/// An event stream written by hand, cut into awkward chunks: a BOM split in two, a CR at
/// the end of one chunk and its LF in the next, CR and CRLF line ends, comments, a
/// multi-line `data`, an `id` kept from one event to the next, and `retry` values only
/// some of which are all digits. The last event is never finished.
const RAW_CHUNKS: &[&[u8]] = &[
    b"\xEF\xBB",
    b"\xBF: a comment\r\nretry: 2500\r\n",
    b"event: greeting\rid: 1\rdata: hello\r",
    b"\ndata:  world\r\n\r\n",
    b"retry: 10s\n: keep-alive\n\ndata: second\n\n",
    b"id\nevent: bye\ndata: third\ndata\n\n",
    b"data: never dispatched",
];

fn raw_sse_app() -> Router {
    Router::new()
        .route(
            "/raw",
            get(|| async {
                let chunks = stream::iter(RAW_CHUNKS).map(|c| Ok::<_, Infallible>(*c));
                (
                    [(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")],
                    Body::from_stream(chunks),
                )
            }),
        )
        .route(
            "/axum",
            get(|| async {
                let events = [
                    Event::default()
                        .event("update")
                        .id("42")
                        .retry(Duration::from_millis(1500))
                        .data("line 1\nline 2"),
                    Event::default().comment("just a comment"),
                    Event::default().data("last\n"),
                ];
                let events = stream::iter(events).map(Ok::<_, Infallible>);
                (
                    [(header::SET_COOKIE, "events=seen; Path=/")],
                    Sse::new(events),
                )
            }),
        )
        .route("/plain", get(|| async { "not events" }))
}

fn event(event: &str, data: &str, id: &str, retry_ms: Option<u64>) -> SseEvent {
    SseEvent {
        event: event.to_owned(),
        data: data.to_owned(),
        id: id.to_owned(),
        retry: retry_ms.map(Duration::from_millis),
    }
}

async fn events_are_parsed_by_the_whatwg_rules(via: Via) {
    let client = via.client(raw_sse_app()).await;
    let mut events = client.get("/raw").stream().await.sse();
    let mut got = Vec::new();
    while let Some(e) = events.next_event().await {
        got.push(e.unwrap());
    }
    assert_eq!(
        got,
        [
            event("greeting", "hello\n world", "1", Some(2500)),
            event("message", "second", "1", None),
            event("bye", "third\n", "", None),
        ],
        "{via:?}"
    );
    assert_eq!(events.retry(), Some(Duration::from_millis(2500)));
    assert_eq!(events.last_event_id(), "");
}
each_transport!(events_are_parsed_by_the_whatwg_rules);

/// axum's own `Sse` writer: event type, id, retry, multi-line data, a comment and data
/// that ends with a line break; the cookie of the event stream's response lands in the jar.
async fn axum_events_are_read_and_their_cookie_kept(via: Via) {
    let client = via.client(raw_sse_app()).await;
    let mut events = client.get("/axum").stream().await.sse();
    assert_eq!(client.cookie("events").as_deref(), Some("seen"), "{via:?}");
    assert_eq!(events.response().status(), 200);
    let got = events.next_events(5).await.unwrap();
    assert_eq!(
        got,
        [
            event("update", "line 1\nline 2", "42", Some(1500)),
            event("message", "last\n", "42", None),
        ],
        "{via:?}: the stream ended after two events"
    );
}
each_transport!(axum_events_are_read_and_their_cookie_kept);

/// The first events of a stream that never ends (with keep-alive comments between).
async fn the_first_events_of_an_endless_stream(via: Via) {
    let app = Router::new().route(
        "/ticks",
        get(|| async {
            let ticks = stream::iter(0u64..).map(|n| {
                Ok::<_, Infallible>(Event::default().id(n.to_string()).data(format!("tick {n}")))
            });
            Sse::new(ticks).keep_alive(KeepAlive::default())
        }),
    );
    let client = via.client(app).await;
    let mut events = client.get("/ticks").stream().await.sse();
    let first = events.next_events(3).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|e| e.id.as_str()).collect();
    let data: Vec<&str> = first.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(ids, ["0", "1", "2"], "{via:?}");
    assert_eq!(data, ["tick 0", "tick 1", "tick 2"], "{via:?}");
    let fourth = events.next_event().await.unwrap().unwrap();
    assert_eq!(fourth.data, "tick 3");
    drop(events);
    // The client goes on working after dropping an unfinished stream.
    let mut again = client.get("/ticks").stream().await.sse();
    assert_eq!(again.next_event().await.unwrap().unwrap().id, "0");
}
each_transport!(the_first_events_of_an_endless_stream);

/// A response an `EventSource` would not read (not text/event-stream, not 200) is an
/// error naming the request, the status and the content type.
async fn sse_refuses_what_is_not_an_event_stream(via: Via) {
    let client = via.client(raw_sse_app()).await;
    let error = client.get("/plain").stream().await.try_sse().unwrap_err();
    let url = client.base_url().join("/plain").unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "GET {url}: not an event stream: status 200 OK, content type \
             Some(\"text/plain; charset=utf-8\") (an EventSource needs 200 and text/event-stream)"
        )
    );
    let error = client.get("/missing").stream().await.try_sse().unwrap_err();
    assert!(
        matches!(error, StreamError::NotEventStream { status, .. } if status == 404),
        "{via:?}: {error}"
    );
}
each_transport!(sse_refuses_what_is_not_an_event_stream);

/// A request that gets no response panics at the line that awaited the stream.
#[tokio::test]
async fn a_stream_that_gets_no_response_panics_naming_the_awaiting_line() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again: nothing listens there now
    let client = TestClient::http(&format!("http://127.0.0.1:{port}/"));
    let error = client.get("/events").try_stream().await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    let line = line!() + 1;
    let panic = tokio::spawn(async move { client.get("/events").stream().await })
        .await
        .unwrap_err();
    let message = panic.into_panic();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains(&format!("awaited at {}:{line}:", file!())),
        "{message}"
    );
}
