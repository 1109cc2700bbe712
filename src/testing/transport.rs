//! How a [`TestClient`](super::TestClient) reaches the app: in-process through a tower
//! service, or over real HTTP with a keep-alive connection pool; and the small server
//! behind [`TestClient::serve`](super::TestClient::serve).
//!
//! Each transport takes an `http::Request` with the whole body and gives back the response
//! with the whole body read ([`Transport::call`]), or with the body still to read, frame by
//! frame as it comes ([`Transport::stream`]). The server streams the app's responses through as they come,
//! and hands upgraded connections (WebSocket) to the app.

use crate::sync::lock;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{Service, ServiceExt};

use super::ws::handshake::{self, UpgradeFuture};

/// Any error a service or a body may return.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body every transport takes: the whole body in memory.
pub type Body = Full<Bytes>;

/// Why a request did not get a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The in-process service returned an error instead of a response.
    #[error("the service failed: {0}")]
    Service(#[source] BoxError),
    /// The response body could not be read.
    #[error("reading the response body failed: {0}")]
    Body(#[source] BoxError),
    /// No connection to the server could be made (refused, unreachable, DNS failure).
    #[error("connecting failed: {0}")]
    Connect(#[source] BoxError),
    /// The HTTP exchange failed after connecting (connection reset, malformed response...).
    #[error("HTTP request failed: {0}")]
    Http(#[source] BoxError),
    /// The test server could not bind its socket.
    #[error("binding 127.0.0.1:0 failed: {0}")]
    Bind(#[source] std::io::Error),
    /// No tokio runtime is running (needed to serve the app and to pool connections).
    #[error("TestClient::serve must be called inside a tokio runtime")]
    NoRuntime,
    /// The WebSocket opening handshake failed (a bad `Sec-WebSocket-Accept`, a broken
    /// connection during the upgrade).
    #[error("the WebSocket handshake failed: {0}")]
    WebSocket(#[source] BoxError),
}

impl Error {
    /// Whether trying again may help (a connection problem rather than a broken app).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Connect(_))
    }
}

pub(crate) type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<Bytes>, Error>> + Send>>;

/// A response body not yet read: the app's body in-process, the connection's over HTTP.
pub(crate) type StreamBody = UnsyncBoxBody<Bytes, BoxError>;

pub(crate) type StreamFuture =
    Pin<Box<dyn Future<Output = Result<Response<StreamBody>, Error>> + Send>>;

/// One way to send a request and read the whole response.
pub(crate) trait Transport: Send + Sync {
    fn call(&self, request: Request<Body>) -> ResponseFuture;
    /// Sends a request and gives back the response as soon as its head has come, with the
    /// body unread.
    fn stream(&self, request: Request<Body>) -> StreamFuture;
    /// Whether the request URI must be absolute (`http://host/path`) or origin-form (`/path`).
    fn absolute_uri(&self) -> bool;
    /// Sends a WebSocket opening handshake and gives the open connection, or the response
    /// that refused it.
    fn websocket(&self, request: Request<Body>) -> UpgradeFuture;
}

/// In-process: the request goes straight to a clone of the service.
pub(crate) struct InProcess<S> {
    service: Mutex<S>,
}

impl<S> InProcess<S> {
    pub(crate) fn new(service: S) -> Self {
        InProcess {
            service: Mutex::new(service),
        }
    }
}

impl<S, B> Transport for InProcess<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call(&self, request: Request<Body>) -> ResponseFuture {
        let service = lock(&self.service).clone();
        Box::pin(async move {
            let (parts, body) = respond(service, request).await?.into_parts();
            let body = read_body(body).await.map_err(|e| Error::Body(e.into()))?;
            Ok(Response::from_parts(parts, body))
        })
    }

    fn stream(&self, request: Request<Body>) -> StreamFuture {
        let service = lock(&self.service).clone();
        Box::pin(async move {
            let response = respond(service, request).await?;
            Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
        })
    }

    fn absolute_uri(&self) -> bool {
        false
    }

    fn websocket(&self, request: Request<Body>) -> UpgradeFuture {
        let service = lock(&self.service).clone();
        Box::pin(handshake::in_process(service, request))
    }
}

/// The in-process service's response to `request`, its body unread.
async fn respond<S, B>(service: S, request: Request<Body>) -> Result<Response<B>, Error>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    service
        .oneshot(request)
        .await
        .map_err(|e| Error::Service(e.into()))
}

/// Real HTTP/1.1 through hyper-util's pooled client (keep-alive).
pub(crate) struct Http {
    client: Client<HttpConnector, Body>,
}

impl Http {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Http { client }
    }
}

impl Transport for Http {
    fn call(&self, request: Request<Body>) -> ResponseFuture {
        let future = self.client.request(request);
        Box::pin(async move {
            let response = future.await.map_err(request_failed)?;
            let (parts, body) = response.into_parts();
            let body = read_body(body).await.map_err(|e| Error::Body(e.into()))?;
            Ok(Response::from_parts(parts, body))
        })
    }

    fn stream(&self, request: Request<Body>) -> StreamFuture {
        let future = self.client.request(request);
        Box::pin(async move {
            let response = future.await.map_err(request_failed)?;
            Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
        })
    }

    fn absolute_uri(&self) -> bool {
        true
    }

    fn websocket(&self, request: Request<Body>) -> UpgradeFuture {
        Box::pin(handshake::over_tcp(request))
    }
}

/// Why hyper's client got no response: no connection, or a broken exchange.
fn request_failed(e: hyper_util::client::legacy::Error) -> Error {
    if e.is_connect() {
        Error::Connect(e.into())
    } else {
        Error::Http(e.into())
    }
}

/// Reads a whole body. The usual body of one data frame is taken as it is, with no
/// buffer list and no copy; more frames are joined.
pub(crate) async fn read_body<B>(body: B) -> Result<Bytes, B::Error>
where
    B: http_body::Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        match (&mut first, &mut joined) {
            (_, Some(buf)) => buf.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (Some(head), None) => {
                let mut buf = bytes::BytesMut::with_capacity(head.len() + data.len());
                buf.extend_from_slice(head);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
        }
    }
    Ok(match joined {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// Stops the server task of [`TestClient::serve`](super::TestClient::serve) when the last
/// client that uses it is dropped.
pub(crate) struct ServerGuard {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the test server sends back: the app's body, streamed as the app produces it.
type ServedBody = UnsyncBoxBody<Bytes, BoxError>;

/// Binds `127.0.0.1:0`, serves `service` there with hyper (HTTP/1.1, keep-alive, upgrades
/// such as WebSocket), and returns the address and a guard that stops the server.
///
/// As under `axum::serve`, response bodies are streamed through frame by frame (a body of
/// unknown length goes out chunked) and an upgraded connection is handed to the app.
pub(crate) fn serve<S, B>(service: S) -> Result<(std::net::SocketAddr, ServerGuard), Error>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(Error::Bind)?;
    std_listener.set_nonblocking(true).map_err(Error::Bind)?;
    let addr = std_listener.local_addr().map_err(Error::Bind)?;
    let listener = {
        let _entered = handle.enter();
        tokio::net::TcpListener::from_std(std_listener).map_err(Error::Bind)?
    };
    let task = handle.spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "test server: accept failed");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let service = service.clone();
                    async move { Ok::<_, Infallible>(handle_one(service, request).await) }
                });
            connections.spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "test server: connection ended with an error");
                }
            });
            // Reap finished connections so the set does not grow without end.
            while connections.try_join_next().is_some() {}
        }
    });
    Ok((addr, ServerGuard { task }))
}

/// One request: its body read whole (the service takes it so), the response's streamed.
/// The request's extensions go along, hyper's upgrade handle among them.
pub(crate) async fn handle_one<S, B>(
    service: S,
    request: Request<hyper::body::Incoming>,
) -> Response<ServedBody>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(e) => return plain(400, format!("could not read the request body: {e}")),
    };
    match service
        .oneshot(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(response) => response.map(|body| body.map_err(Into::into).boxed_unsync()),
        Err(e) => plain(500, format!("the service failed: {}", e.into())),
    }
}

fn plain(status: u16, text: String) -> Response<ServedBody> {
    let body = Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}
