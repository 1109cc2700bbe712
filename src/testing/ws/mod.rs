//! WebSockets in the test client: [`TestClient::websocket`](super::TestClient::websocket)
//! opens one to the app, in-process (hyper's upgrade over an in-memory duplex, no socket)
//! or over TCP, and gives a [`WebSocket`] to send and receive text, JSON and binary
//! messages on, and to close or see closed.
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
//! use squall::testing::TestClient;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().route("/ws", get(|ws: WebSocketUpgrade| async {
//!     ws.on_upgrade(|mut socket| async move {
//!         let _ = socket.send(Message::Text(r#"{"hello":"world"}"#.into())).await;
//!         let frame = CloseFrame { code: 4000, reason: "bye".into() };
//!         let _ = socket.send(Message::Close(Some(frame))).await;
//!     })
//! }));
//! let mut ws = TestClient::new(app).websocket("/ws").await;
//! let value: serde_json::Value = ws.recv_json().await;
//! assert_eq!(value["hello"], "world");
//! let frame = ws.recv_close().await.unwrap();
//! assert_eq!((frame.code, frame.reason.as_str()), (4000, "bye"));
//! # }
//! ```

mod connect;
mod error;
pub(crate) mod handshake;
mod message;
mod socket;

pub use connect::WebSocketRequest;
pub use error::Error;
pub use message::{CloseFrame, Message};
pub use socket::WebSocket;
