//! The messages a [`WebSocket`](super::WebSocket) sends and receives, and the close frame
//! that ends one.

use std::fmt;

use bytes::Bytes;

use crate::testing::response::trimmed;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as WireCloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message as WireMessage};

/// One WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping (answered with a pong on its own).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer closes the connection, with a code and a reason when it gave them.
    Close(Option<CloseFrame>),
}

/// Why a WebSocket was closed: the code (1000 is a normal close, 1008 a policy violation,
/// 4000–4999 are the app's own) and the reason text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code.
    pub code: u16,
    /// The reason (may be empty).
    pub reason: String,
}

impl CloseFrame {
    /// A close frame with this code and reason.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "code {}", self.code)
        } else {
            write!(f, "code {} ({:?})", self.code, self.reason)
        }
    }
}

impl fmt::Display for Message {
    /// A short description for error messages: the kind and the start of the payload.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Text(text) => write!(f, "text {:?}", trimmed(text.as_bytes())),
            Message::Binary(bytes) => write!(f, "binary message of {} bytes", bytes.len()),
            Message::Ping(_) => f.write_str("ping"),
            Message::Pong(_) => f.write_str("pong"),
            Message::Close(Some(frame)) => write!(f, "close, {frame}"),
            Message::Close(None) => f.write_str("close, no code"),
        }
    }
}

impl From<WireMessage> for Message {
    fn from(message: WireMessage) -> Self {
        match message {
            WireMessage::Text(text) => Message::Text(text.as_str().to_owned()),
            WireMessage::Binary(bytes) => Message::Binary(bytes),
            WireMessage::Ping(bytes) => Message::Ping(bytes),
            WireMessage::Pong(bytes) => Message::Pong(bytes),
            WireMessage::Close(frame) => Message::Close(frame.map(|frame| CloseFrame {
                code: frame.code.into(),
                reason: frame.reason.as_str().to_owned(),
            })),
            // Only sent raw, never read.
            WireMessage::Frame(frame) => Message::Binary(frame.into_payload()),
        }
    }
}

impl From<Message> for WireMessage {
    fn from(message: Message) -> Self {
        match message {
            Message::Text(text) => WireMessage::text(text),
            Message::Binary(bytes) => WireMessage::Binary(bytes),
            Message::Ping(bytes) => WireMessage::Ping(bytes),
            Message::Pong(bytes) => WireMessage::Pong(bytes),
            Message::Close(frame) => WireMessage::Close(frame.map(|frame| WireCloseFrame {
                code: CloseCode::from(frame.code),
                reason: tungstenite::Utf8Bytes::from(frame.reason),
            })),
        }
    }
}
