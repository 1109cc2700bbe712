//! The WebSocket opening handshake over each transport. In-process there is no socket:
//! the app is served by hyper's server connection over one end of an in-memory duplex,
//! hyper's client connection sends the upgrade request over the other, and the upgraded
//! stream is framed by tokio-tungstenite. Over HTTP, tokio-tungstenite's client does the
//! handshake over a TCP connection.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tower::Service;

use crate::testing::transport::{Body, BoxError, Error, handle_one, read_body};

/// A byte stream a WebSocket runs over: the upgraded in-memory duplex or a TCP stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// An open WebSocket, client side.
pub(crate) type Stream = WebSocketStream<Box<dyn Io>>;

/// How the app answered an upgrade request.
pub(crate) enum Upgrade {
    /// `101 Switching Protocols`: the response's head and the open WebSocket.
    Open(http::response::Parts, Box<Stream>),
    /// Any other answer, with its whole body.
    Refused(Response<Bytes>),
}

pub(crate) type UpgradeFuture = Pin<Box<dyn Future<Output = Result<Upgrade, Error>> + Send>>;

/// The room each direction of the in-memory duplex has before a writer waits.
const DUPLEX_BUFFER: usize = 64 * 1024;

/// Serves `service` over an in-memory duplex and upgrades `request` on it.
pub(crate) async fn in_process<S, B>(service: S, request: Request<Body>) -> Result<Upgrade, Error>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let accept = request
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| derive_accept_key(key.as_bytes()));
    let (client_io, server_io) = tokio::io::duplex(DUPLEX_BUFFER);
    let app = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let service = service.clone();
        async move { Ok::<_, Infallible>(handle_one(service, request).await) }
    });
    tokio::spawn(async move {
        let served = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server_io), app)
            .with_upgrades();
        if let Err(e) = served.await {
            tracing::debug!(error = %e, "in-process WebSocket: the server side failed");
        }
    });
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(client_io))
            .await
            .map_err(|e| Error::Http(e.into()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "in-process WebSocket: the client side failed");
        }
    });
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| Error::Http(e.into()))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = response.into_parts();
        let body = read_body(body).await.map_err(|e| Error::Body(e.into()))?;
        return Ok(Upgrade::Refused(Response::from_parts(parts, body)));
    }
    let answered = response.headers().get(header::SEC_WEBSOCKET_ACCEPT);
    if let Some(accept) = accept
        && answered.is_none_or(|answered| answered.as_bytes() != accept.as_bytes())
    {
        return Err(Error::WebSocket(
            format!("Sec-WebSocket-Accept is {answered:?}, not {accept:?}").into(),
        ));
    }
    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(|e| Error::WebSocket(e.into()))?;
    let io: Box<dyn Io> = Box::new(TokioIo::new(upgraded));
    let stream = WebSocketStream::from_raw_socket(io, Role::Client, None).await;
    Ok(Upgrade::Open(response.into_parts().0, Box::new(stream)))
}

/// Connects to the server `request`'s absolute URI names and upgrades there.
pub(crate) async fn over_tcp(request: Request<Body>) -> Result<Upgrade, Error> {
    let (mut parts, _) = request.into_parts();
    let authority = parts
        .uri
        .authority()
        .cloned()
        .ok_or_else(|| Error::Connect(format!("{} names no server", parts.uri).into()))?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri =
        Uri::try_from(format!("ws://{authority}{path}")).map_err(|e| Error::WebSocket(e.into()))?;
    if !parts.headers.contains_key(header::HOST) {
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| Error::Http(e.into()))?;
        parts.headers.insert(header::HOST, host);
    }
    let port = authority.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((authority.host(), port))
        .await
        .map_err(|e| Error::Connect(e.into()))?;
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "WebSocket: TCP_NODELAY not set");
    }
    let io: Box<dyn Io> = Box::new(tcp);
    match tokio_tungstenite::client_async(Request::from_parts(parts, ()), io).await {
        Ok((stream, response)) => Ok(Upgrade::Open(response.into_parts().0, Box::new(stream))),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let (parts, body) = response.into_parts();
            let body = Bytes::from(body.unwrap_or_default());
            Ok(Upgrade::Refused(Response::from_parts(parts, body)))
        }
        Err(e) => Err(Error::WebSocket(e.into())),
    }
}
