//! Why a WebSocket could not be opened, or a message not sent or received as expected.

use std::time::Duration;

use http::StatusCode;

use super::message::{CloseFrame, Message};
use crate::testing::transport::{self, BoxError};

/// Why a WebSocket could not be opened, or a message not sent or received as expected.
/// Every message names the WebSocket's URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The upgrade request could not be made (a bad URL or header).
    #[error(transparent)]
    Request(#[from] crate::testing::Error),
    /// The app answered the upgrade request with another status than 101.
    #[error(
        "GET {url}: the WebSocket upgrade was refused with {status}{}",
        body_part(body)
    )]
    Refused {
        /// The WebSocket's URL.
        url: String,
        /// The status the app answered with (403 when an Origin or login check said no).
        status: StatusCode,
        /// The start of the response body.
        body: String,
    },
    /// The opening handshake failed (no connection, a broken upgrade).
    #[error("GET {url}: {source}")]
    Handshake {
        /// The WebSocket's URL.
        url: String,
        /// What went wrong.
        source: transport::Error,
    },
    /// The connection is closed: the app closed it (with this close frame, when it sent
    /// one), or the test did.
    #[error("{url}: the WebSocket is closed{}", closed_part(frame))]
    Closed {
        /// The WebSocket's URL.
        url: String,
        /// The close frame the app sent.
        frame: Option<CloseFrame>,
    },
    /// Another kind of message came than the one asked for.
    #[error("{url}: expected {expected}, received {got}")]
    Unexpected {
        /// The WebSocket's URL.
        url: String,
        /// What was asked for.
        expected: &'static str,
        /// What came.
        got: Message,
    },
    /// A message is not the JSON asked for.
    #[error("{url}: the message is not the JSON expected ({source}): {text}")]
    Json {
        /// The WebSocket's URL.
        url: String,
        /// The message (its start, when long).
        text: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// A value could not be encoded as JSON to be sent.
    #[error("{url}: could not encode the JSON message: {source}")]
    Encode {
        /// The WebSocket's URL.
        url: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// No message came (or the upgrade was not answered) within the timeout.
    #[error("{url}: nothing came within {after:?}")]
    Timeout {
        /// The WebSocket's URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The connection broke (a reset without a close, a protocol violation by the app).
    #[error("{url}: the WebSocket failed: {source}")]
    Connection {
        /// The WebSocket's URL.
        url: String,
        /// What tungstenite said.
        source: BoxError,
    },
}

fn body_part(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn closed_part(frame: &Option<CloseFrame>) -> String {
    match frame {
        Some(frame) => format!(" ({frame})"),
        None => String::new(),
    }
}
