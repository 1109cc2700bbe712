//! Round trips per second of squall's test client against its peers, on one axum app whose
//! handler reads a cookie and sets it again (a visit counter):
//!
//! - in-process, on a current-thread runtime as `#[tokio::test]` uses: squall's
//!   `TestClient::new` against axum-test's mock transport, with a bare `Router::oneshot`
//!   (no cookie jar) as the floor;
//! - real HTTP with keep-alive: squall's `TestClient::http` against reqwest with its
//!   cookie store;
//! - WebSocket echo round trips (send a text message, read the echo) on one open
//!   connection: squall's in-process `TestClient::websocket` (no socket) against
//!   axum-test's WebSocket, which needs its HTTP transport.
//!
//! The contenders take turns in short runs, in a rotating order, and each one's best run
//! counts, so that load from elsewhere on the machine hits them alike and the least
//! disturbed runs are compared. Prints
//! `METRIC <name> squall=<v> peer=<v> ratio=<squall/peer> unit=<req/s or msg/s>` lines.
//! `ROUNDS`, `REQUESTS`, `HTTP_REQUESTS` and `WS_MESSAGES` in the environment change the
//! amount of work; `ONLY=squall`, `axum-test` or `oneshot` runs that one in-process
//! contender alone and skips the rest (for a profiler; no METRIC lines then).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Request, header};
use axum::response::IntoResponse;
use axum::routing::get;
use http_body_util::BodyExt;
use squall::testing::TestClient;
use tower::ServiceExt;

async fn visit(headers: HeaderMap) -> impl IntoResponse {
    let n: u64 = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("; ").find_map(|c| c.strip_prefix("n=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let next = n + 1;
    (
        [(header::SET_COOKIE, format!("n={next}; Path=/; HttpOnly"))],
        next.to_string(),
    )
}

fn app() -> Router {
    Router::new().route("/visit", get(visit))
}

/// Echoes every text message on the WebSocket.
async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let data = matches!(message, Message::Text(_) | Message::Binary(_));
        if matches!(message, Message::Close(_)) || (data && socket.send(message).await.is_err()) {
            return;
        }
    }
}

fn ws_app() -> Router {
    Router::new().route(
        "/ws",
        get(|ws: WebSocketUpgrade| async { ws.on_upgrade(echo) }),
    )
}

const WS_TEXT: &str = "{\"op\":\"ping\",\"seq\":1}";

/// `n` echo round trips on one in-process WebSocket (opening it is not timed).
async fn squall_ws(n: usize) -> Duration {
    let client = TestClient::new(ws_app());
    let mut ws = client.websocket("/ws").await;
    let start = Instant::now();
    for _ in 0..n {
        ws.send_text(WS_TEXT).await;
        let echo = ws.recv_text().await;
        assert_eq!(echo.len(), WS_TEXT.len());
    }
    let t = start.elapsed();
    ws.close().await;
    t
}

/// The same with axum-test, whose WebSocket runs over its HTTP transport.
async fn axum_test_ws(n: usize) -> Duration {
    let server = axum_test::TestServer::builder()
        .http_transport()
        .build(ws_app())
        .expect("axum-test");
    let mut ws = server.get_websocket("/ws").await.into_websocket().await;
    let start = Instant::now();
    for _ in 0..n {
        ws.send_text(WS_TEXT).await;
        let echo = ws.receive_text().await;
        assert_eq!(echo.len(), WS_TEXT.len());
    }
    let t = start.elapsed();
    ws.close().await;
    t
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn squall_in_process(n: usize) -> Duration {
    let client = TestClient::new(app());
    let start = Instant::now();
    for _ in 0..n {
        let r = client.get("/visit").await;
        std::hint::black_box(r.bytes().len());
    }
    let t = start.elapsed();
    assert_eq!(
        client.cookie("n"),
        Some(n.to_string()),
        "squall kept the cookie"
    );
    t
}

async fn axum_test_in_process(n: usize) -> Duration {
    let server = axum_test::TestServer::builder()
        .mock_transport()
        .save_cookies()
        .build(app())
        .expect("axum-test");
    let start = Instant::now();
    let mut last = String::new();
    for _ in 0..n {
        last = server.get("/visit").await.text();
    }
    let t = start.elapsed();
    assert_eq!(last, n.to_string(), "axum-test kept the cookie");
    t
}

/// The floor: `Router::oneshot`, no jar, the cookie passed on by hand.
async fn oneshot_floor(n: usize) -> Duration {
    let router = app();
    let start = Instant::now();
    let mut cookie = String::from("n=0");
    for _ in 0..n {
        let request = Request::get("/visit")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        if let Some(v) = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            cookie = v.split(';').next().unwrap_or("").to_owned();
        }
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        std::hint::black_box(body.len());
    }
    let t = start.elapsed();
    assert_eq!(cookie, format!("n={n}"));
    t
}

async fn squall_http(url: &str, n: usize) -> Duration {
    let client = TestClient::http(url);
    let start = Instant::now();
    for _ in 0..n {
        let r = client.get("/visit").await;
        std::hint::black_box(r.bytes().len());
    }
    let t = start.elapsed();
    assert_eq!(client.cookie("n"), Some(n.to_string()));
    t
}

async fn reqwest_http(url: &str, n: usize) -> Duration {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("reqwest");
    let target = format!("{url}/visit");
    let start = Instant::now();
    let mut last = Vec::new();
    for _ in 0..n {
        let r = client.get(&target).send().await.expect("reqwest request");
        last = r.bytes().await.expect("reqwest body").to_vec();
    }
    let t = start.elapsed();
    assert_eq!(last, n.to_string().into_bytes(), "reqwest kept the cookie");
    t
}

/// Requests per second of the best run.
fn best(times: &[Duration], n: usize) -> f64 {
    times
        .iter()
        .map(|t| n as f64 / t.as_secs_f64())
        .fold(0.0, f64::max)
}

fn metric(name: &str, squall: f64, peer: f64, unit: &str) {
    println!(
        "METRIC {name} squall={squall:.0} peer={peer:.0} ratio={:.2} unit={unit}",
        squall / peer
    );
}

fn main() {
    let rounds = env_or("ROUNDS", 50);
    let n = env_or("REQUESTS", 3_000);
    let n_http = env_or("HTTP_REQUESTS", 300);
    let n_ws = env_or("WS_MESSAGES", 1_000);

    // In-process, on a current-thread runtime. Round 0 warms up.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(only) = std::env::var("ONLY") {
        rt.block_on(async {
            let t = match only.as_str() {
                "squall" => squall_in_process(n).await,
                "axum-test" => axum_test_in_process(n).await,
                "oneshot" => oneshot_floor(n).await,
                other => panic!("ONLY={other}: squall, axum-test or oneshot"),
            };
            eprintln!("{only}: {:.0} req/s", n as f64 / t.as_secs_f64());
        });
        return;
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    rt.block_on(async {
        for round in 0..=rounds {
            for turn in 0..3 {
                let which = (round + turn) % 3;
                let t = match which {
                    0 => squall_in_process(n).await,
                    1 => axum_test_in_process(n).await,
                    _ => oneshot_floor(n).await,
                };
                if round > 0 {
                    times[which].push(t);
                }
            }
        }
    });
    let (s, p, f) = (best(&times[0], n), best(&times[1], n), best(&times[2], n));
    eprintln!(
        "in-process: squall {s:.0} req/s, axum-test {p:.0} req/s, Router::oneshot {f:.0} req/s"
    );

    // Real HTTP with keep-alive, over a loopback socket. The server runs on the same
    // current-thread runtime as the clients, so that a round trip does not wait on the
    // scheduling of other threads (a busy 2-core machine would make that the measure).
    let mut http_times: [Vec<Duration>; 2] = Default::default();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move { axum::serve(listener, app()).await });
        for round in 0..=rounds {
            for turn in 0..2 {
                let which = (round + turn) % 2;
                let t = match which {
                    0 => squall_http(&url, n_http).await,
                    _ => reqwest_http(&url, n_http).await,
                };
                if round > 0 {
                    http_times[which].push(t);
                }
            }
        }
        server.abort();
    });
    let (hs, hp) = (best(&http_times[0], n_http), best(&http_times[1], n_http));
    eprintln!("http: squall {hs:.0} req/s, reqwest {hp:.0} req/s");

    // WebSocket echo, on the same current-thread runtime (axum-test's server runs on it).
    let mut ws_times: [Vec<Duration>; 2] = Default::default();
    rt.block_on(async {
        for round in 0..=rounds {
            for turn in 0..2 {
                let which = (round + turn) % 2;
                let t = match which {
                    0 => squall_ws(n_ws).await,
                    _ => axum_test_ws(n_ws).await,
                };
                if round > 0 {
                    ws_times[which].push(t);
                }
            }
        }
    });
    let (ws, wp) = (best(&ws_times[0], n_ws), best(&ws_times[1], n_ws));
    eprintln!("websocket echo: squall in-process {ws:.0} msg/s, axum-test {wp:.0} msg/s");

    metric("inprocess_roundtrips_per_s", s, p, "req/s");
    metric("inprocess_floor_ratio", s, f, "req/s");
    metric("http_roundtrips_per_s", hs, hp, "req/s");
    metric("ws_echo_msgs_per_s", ws, wp, "msg/s");
}
