//! Opening a WebSocket from the test client: the upgrade request, with the jar's cookies,
//! the client's `Origin` and default headers, and the app's answer to it.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use http::Uri;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use url::Url;

use super::error::Error;
use super::handshake::Upgrade;
use super::socket::WebSocket;
use crate::testing::TestClient;
use crate::testing::error::or_panic;
use crate::testing::response::trimmed;
use crate::testing::transport::BoxError;

impl TestClient {
    /// Opens a WebSocket to `url` (a path, or a whole URL); await it for the
    /// [`WebSocket`]. The upgrade request is a GET as a browser sends it: with the jar's
    /// cookies, `Origin` (the app's own, or the one [`origin`](Self::origin) set), and the
    /// default headers, so that a login or Origin check on the upgrade is tested too.
    ///
    /// In-process clients ([`new`](Self::new)) open it with no socket, through an
    /// in-memory connection; the others over TCP. Awaiting it panics when the app refuses
    /// the upgrade (the message gives the status) or no connection can be made;
    /// [`try_websocket`](Self::try_websocket) returns the [`Error`](super::Error).
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    /// use squall::testing::TestClient;
    ///
    /// async fn echo(mut socket: WebSocket) {
    ///     while let Some(Ok(Message::Text(text))) = socket.recv().await {
    ///         let _ = socket.send(Message::Text(format!("echo: {text}").into())).await;
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = Router::new().route("/ws", get(|ws: WebSocketUpgrade| async { ws.on_upgrade(echo) }));
    /// let client = TestClient::new(app);
    /// let mut ws = client.websocket("/ws").await;
    /// ws.send_text("hi").await;
    /// assert_eq!(ws.recv_text().await, "echo: hi");
    /// ws.close().await;
    /// # }
    /// ```
    pub fn websocket(&self, url: &str) -> WebSocketRequest<'_> {
        WebSocketRequest {
            client: self,
            target: self.resolve(url).map_err(Error::from),
            headers: HeaderMap::new(),
        }
    }

    /// [`websocket`](Self::websocket), returning the error: [`Error::Refused`] with the
    /// status when the app did not upgrade.
    ///
    /// [`Error::Refused`]: super::Error::Refused
    pub async fn try_websocket(&self, url: &str) -> Result<WebSocket, Error> {
        self.websocket(url).send().await
    }
}

/// A WebSocket being opened; await it for the [`WebSocket`] (or call
/// [`send`](Self::send) for a `Result`).
#[must_use = "a WebSocket is opened when this is awaited"]
#[derive(Debug)]
pub struct WebSocketRequest<'c> {
    client: &'c TestClient,
    target: Result<(Arc<Url>, Uri), Error>,
    headers: HeaderMap,
}

impl WebSocketRequest<'_> {
    /// Adds a header to the upgrade request (`Sec-WebSocket-Protocol`, `Authorization`, …).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<BoxError>,
        V: TryInto<HeaderValue>,
        V::Error: Into<BoxError>,
    {
        if self.target.is_err() {
            return self;
        }
        let invalid = |name: String, source: BoxError| {
            Error::from(crate::testing::Error::InvalidHeader { name, source })
        };
        match name.try_into() {
            Err(e) => self.target = Err(invalid(String::new(), e.into())),
            Ok(name) => match value.try_into() {
                Ok(value) => {
                    self.headers.append(name, value);
                }
                Err(e) => self.target = Err(invalid(name.to_string(), e.into())),
            },
        }
        self
    }

    /// Sends the upgrade request and gives the open WebSocket, or why there is none. The
    /// cookies the app sets in its answer go to the jar.
    pub async fn send(self) -> Result<WebSocket, Error> {
        let WebSocketRequest {
            client,
            target,
            mut headers,
        } = self;
        let (url, uri) = target?;
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        let key = HeaderValue::from_str(&generate_key()).map_err(|e| {
            crate::testing::Error::InvalidHeader {
                name: header::SEC_WEBSOCKET_KEY.to_string(),
                source: e.into(),
            }
        })?;
        headers.insert(header::SEC_WEBSOCKET_KEY, key);
        let request = client.build_websocket(&url, uri, &headers)?;
        tracing::trace!(%url, "test client WebSocket");
        let upgrade = client.transport.websocket(request);
        let upgrade = match client.timeout {
            None => upgrade.await,
            Some(after) => {
                tokio::time::timeout(after, upgrade)
                    .await
                    .map_err(|_| Error::Timeout {
                        url: url.to_string(),
                        after,
                    })?
            }
        };
        let upgrade = upgrade.map_err(|source| Error::Handshake {
            url: url.to_string(),
            source,
        })?;
        match upgrade {
            Upgrade::Open(parts, stream) => {
                client.store_cookies(&url, &parts.headers);
                Ok(WebSocket::new(url, *stream, parts.headers, client.timeout))
            }
            Upgrade::Refused(response) => {
                client.store_cookies(&url, response.headers());
                Err(Error::Refused {
                    url: url.to_string(),
                    status: response.status(),
                    body: trimmed(response.body()),
                })
            }
        }
    }
}

impl<'c> IntoFuture for WebSocketRequest<'c> {
    type Output = WebSocket;
    type IntoFuture = Pin<Box<dyn Future<Output = WebSocket> + Send + 'c>>;

    /// Opens the WebSocket; panics with the URL, the reason (the status of a refused
    /// upgrade) and the place of the `.await` when it could not be opened.
    #[track_caller]
    fn into_future(self) -> Self::IntoFuture {
        let awaited_at = std::panic::Location::caller();
        Box::pin(async move { or_panic("TestClient", self.send().await, awaited_at) })
    }
}
