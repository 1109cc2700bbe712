//! An open WebSocket to the app: send and receive text, JSON and binary messages, and
//! close it or see the app close it.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use tokio_tungstenite::tungstenite::{self, Message as WireMessage};
use url::Url;

use super::error::Error;
use super::handshake::Stream;
use super::message::{CloseFrame, Message};
use crate::testing::response::trimmed;

/// A WebSocket connection to the app, from
/// [`TestClient::websocket`](crate::testing::TestClient::websocket).
///
/// The panicking methods (`send_text`, `recv_json`, …) name the URL, what went wrong and
/// the test's line that awaited them; each has a `try_` form that returns the [`Error`].
/// Receiving waits at most the client's [`timeout`](crate::testing::TestClient::timeout),
/// if it has one, or the socket's own ([`timeout`](Self::timeout)).
pub struct WebSocket {
    url: Arc<Url>,
    stream: Stream,
    headers: HeaderMap,
    timeout: Option<Duration>,
    /// The close frame the app sent, once one came (`Some(None)`: closed without one).
    closed: Option<Option<CloseFrame>>,
    /// Whether the test sent its close frame.
    closing: bool,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("url", &self.url.as_str())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// The value, or a panic naming the error and the test's line that awaited it.
fn or_panic<T>(result: Result<T, Error>, awaited_at: &Location<'_>) -> T {
    crate::testing::error::or_panic("WebSocket", result, awaited_at)
}

impl WebSocket {
    pub(super) fn new(
        url: Arc<Url>,
        stream: Stream,
        headers: HeaderMap,
        timeout: Option<Duration>,
    ) -> Self {
        WebSocket {
            url,
            stream,
            headers,
            timeout,
            closed: None,
            closing: false,
        }
    }

    /// The URL the WebSocket was opened to.
    pub fn url(&self) -> &Url {
        &self.url
    }
    /// The headers of the app's `101 Switching Protocols` answer.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// How long a receive waits for a message (none: for ever).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends a text message.
    #[track_caller]
    pub fn send_text(&mut self, text: impl Into<String>) -> impl Future<Output = ()> + Send + '_ {
        self.send(Message::Text(text.into()))
    }
    /// Sends `value` as JSON in a text message.
    #[track_caller]
    pub fn send_json<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> impl Future<Output = ()> + Send + '_ {
        let at = Location::caller();
        let text = serde_json::to_string(value).map_err(|source| Error::Encode {
            url: self.url.to_string(),
            source,
        });
        async move {
            let text = or_panic(text, at);
            or_panic(self.try_send(Message::Text(text)).await, at);
        }
    }
    /// Sends a binary message.
    #[track_caller]
    pub fn send_binary(&mut self, bytes: impl Into<Bytes>) -> impl Future<Output = ()> + Send + '_ {
        self.send(Message::Binary(bytes.into()))
    }
    /// Sends a message.
    #[track_caller]
    pub fn send(&mut self, message: Message) -> impl Future<Output = ()> + Send + '_ {
        let at = Location::caller();
        async move { or_panic(self.try_send(message).await, at) }
    }
    /// Sends a message, or says why it could not be sent.
    pub async fn try_send(&mut self, message: Message) -> Result<(), Error> {
        if let Some(frame) = &self.closed {
            return Err(self.closed_error(frame.clone()));
        }
        let sent = self.stream.send(WireMessage::from(message)).await;
        sent.map_err(|e| self.failed(e))
    }

    /// Receives the next message, whatever it is (pings and pongs too).
    #[track_caller]
    pub fn recv(&mut self) -> impl Future<Output = Message> + Send + '_ {
        let at = Location::caller();
        async move { or_panic(self.try_recv().await, at) }
    }
    /// Receives the next message. After the app's close frame ([`Message::Close`]) the
    /// next receive is an [`Error::Closed`] with that frame.
    pub async fn try_recv(&mut self) -> Result<Message, Error> {
        if let Some(frame) = &self.closed {
            return Err(self.closed_error(frame.clone()));
        }
        let next = match self.timeout {
            None => self.stream.next().await,
            Some(after) => tokio::time::timeout(after, self.stream.next())
                .await
                .map_err(|_| Error::Timeout {
                    url: self.url.to_string(),
                    after,
                })?,
        };
        match next {
            Some(Ok(message)) => {
                let message = Message::from(message);
                if let Message::Close(frame) = &message {
                    self.closed = Some(frame.clone());
                    // Sends the answering close now, not with a next read that may never be.
                    if let Err(e) = self.stream.flush().await {
                        tracing::debug!(error = %e, url = %self.url, "WebSocket: close not answered");
                    }
                }
                Ok(message)
            }
            Some(Err(e)) => Err(self.failed(e)),
            None => {
                self.closed = Some(None);
                Err(self.closed_error(None))
            }
        }
    }

    /// Receives the next text message (pings and pongs are skipped).
    #[track_caller]
    pub fn recv_text(&mut self) -> impl Future<Output = String> + Send + '_ {
        let at = Location::caller();
        async move { or_panic(self.try_recv_text().await, at) }
    }
    /// [`recv_text`](Self::recv_text), returning the error: [`Error::Closed`] when the app
    /// closed the connection, [`Error::Unexpected`] for another kind of message.
    pub async fn try_recv_text(&mut self) -> Result<String, Error> {
        match self.recv_data().await? {
            Message::Text(text) => Ok(text),
            other => Err(self.unexpected("a text message", other)),
        }
    }
    /// Receives the next binary message (pings and pongs are skipped).
    #[track_caller]
    pub fn recv_binary(&mut self) -> impl Future<Output = Bytes> + Send + '_ {
        let at = Location::caller();
        async move { or_panic(self.try_recv_binary().await, at) }
    }
    /// [`recv_binary`](Self::recv_binary), returning the error.
    pub async fn try_recv_binary(&mut self) -> Result<Bytes, Error> {
        match self.recv_data().await? {
            Message::Binary(bytes) => Ok(bytes),
            other => Err(self.unexpected("a binary message", other)),
        }
    }
    /// Receives the next text or binary message and parses it as JSON into `T` (a
    /// `serde_json::Value` takes any JSON).
    #[track_caller]
    pub fn recv_json<T: serde::de::DeserializeOwned>(
        &mut self,
    ) -> impl Future<Output = T> + Send + '_ {
        let at = Location::caller();
        async move { or_panic(self.try_recv_json().await, at) }
    }
    /// [`recv_json`](Self::recv_json), returning the error.
    pub async fn try_recv_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        let bytes = match self.recv_data().await? {
            Message::Text(text) => Bytes::from(text),
            Message::Binary(bytes) => bytes,
            other => return Err(self.unexpected("a JSON message", other)),
        };
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            url: self.url.to_string(),
            text: trimmed(&bytes),
            source,
        })
    }
    /// Receives the app's close frame: the next message must be a close. Gives its code
    /// and reason (`None` when the app closed without a code).
    #[track_caller]
    pub fn recv_close(&mut self) -> impl Future<Output = Option<CloseFrame>> + Send + '_ {
        let at = Location::caller();
        async move { or_panic(self.try_recv_close().await, at) }
    }
    /// [`recv_close`](Self::recv_close), returning the error.
    pub async fn try_recv_close(&mut self) -> Result<Option<CloseFrame>, Error> {
        match self.try_recv().await {
            Ok(Message::Close(frame)) => Ok(frame),
            Ok(other) => Err(self.unexpected("a close", other)),
            // The connection ended without a close frame.
            Err(Error::Closed { frame: None, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Closes the connection normally (code 1000) and waits for the app's answering
    /// close, skipping the messages still on their way.
    #[track_caller]
    pub fn close(self) -> impl Future<Output = ()> + Send {
        let at = Location::caller();
        async move { or_panic(self.try_close().await, at) }
    }
    /// [`close`](Self::close), returning the error.
    pub async fn try_close(mut self) -> Result<(), Error> {
        if self.closed.is_some() {
            return Ok(()); // the answer to the app's close went out already
        }
        let frame = tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: tungstenite::Utf8Bytes::from_static(""),
        };
        self.closing = true;
        let sent = self.stream.close(Some(frame)).await;
        sent.map_err(|e| self.failed(e))?;
        loop {
            match self.try_recv().await {
                Ok(Message::Close(_)) | Err(Error::Closed { .. }) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next text or binary message (or close), skipping pings and pongs.
    async fn recv_data(&mut self) -> Result<Message, Error> {
        loop {
            match self.try_recv().await? {
                Message::Ping(_) | Message::Pong(_) => {}
                Message::Close(frame) => return Err(self.closed_error(frame)),
                message => return Ok(message),
            }
        }
    }

    fn closed_error(&self, frame: Option<CloseFrame>) -> Error {
        Error::Closed {
            url: self.url.to_string(),
            frame,
        }
    }

    fn unexpected(&self, expected: &'static str, got: Message) -> Error {
        Error::Unexpected {
            url: self.url.to_string(),
            expected,
            got,
        }
    }

    /// The error for a failed read or write: a closed connection is [`Error::Closed`], and
    /// so is one the app dropped without answering the test's close.
    fn failed(&mut self, e: tungstenite::Error) -> Error {
        use tungstenite::error::ProtocolError::ResetWithoutClosingHandshake;
        let closed = match &e {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => true,
            tungstenite::Error::Protocol(ResetWithoutClosingHandshake) => self.closing,
            _ => false,
        };
        if !closed {
            return Error::Connection {
                url: self.url.to_string(),
                source: e.into(),
            };
        }
        let frame = self.closed.clone().flatten();
        self.closed.get_or_insert(None);
        self.closed_error(frame)
    }
}
