//! A cookie-jar HTTP client for integration tests of any tower service, such as an axum
//! `Router`: in-process, or over real HTTP.
//!
//! [`TestClient`] keeps cookies like a browser ([`CookieJar`]), sends forms, JSON and
//! multipart bodies, follows redirects when asked, and hands the app's XSRF token back on
//! unsafe requests. Awaiting a request gives a [`TestResponse`] with chaining assertions:
//!
//! ```
//! use axum::{Form, Router, http::header, response::{IntoResponse, Redirect}, routing::{get, post}};
//! use squall::testing::TestClient;
//!
//! async fn home(headers: header::HeaderMap) -> String {
//!     let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
//!     match cookies.split("; ").find_map(|c| c.strip_prefix("user=")) {
//!         Some(user) => format!("hi {user}"),
//!         None => "hello stranger".to_owned(),
//!     }
//! }
//! async fn login(Form(form): Form<Vec<(String, String)>>) -> impl IntoResponse {
//!     let user = form.iter().find(|(k, _)| k == "username").map(|(_, v)| v.clone()).unwrap_or_default();
//!     ([(header::SET_COOKIE, format!("user={user}; Path=/; HttpOnly"))], Redirect::to("/"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().route("/", get(home)).route("/login/", post(login));
//! let client = TestClient::new(app);
//!
//! client.get("/").await.assert_status(200).assert_contains("stranger");
//! let r = client.post("/login/").form(&[("username", "peterbe"), ("password", "secret")]).await;
//! r.assert_status(303).assert_redirect_to("/").assert_cookie("user", "peterbe");
//! client.get("/").await.assert_contains("hi peterbe"); // the cookie came along
//!
//! // Or follow the redirect: the chain is kept.
//! let r = client.post("/login/").form(&[("username", "anna")]).follow_redirects().await;
//! r.assert_status(200).assert_contains("hi anna");
//! assert_eq!(r.redirects().len(), 1);
//! # }
//! ```
//!
//! [`TestClient::websocket`] opens a [`WebSocket`] to the app, in-process too.
//!
//! An HTML page can be read too: [`TestResponse::select`] and
//! [`TestResponse::assert_select`] take CSS selectors, [`TestResponse::form`] gives a
//! [`Form`] to fill in and submit as a browser would, and [`TestResponse::click_link`]
//! follows a link.
//!
//! In-process clients ([`TestClient::new`]) call the service directly; [`TestClient::serve`]
//! puts it behind a real socket on `127.0.0.1`, and [`TestClient::http`] talks to a server
//! that is already running, over plain HTTP (https is not supported). [`CookieJar`] can
//! also be used alone.
//!
//! A response can also be read as it comes, in-process and over HTTP alike:
//! [`RequestBuilder::stream`] gives the status and headers at once and the body chunk by
//! chunk ([`StreamingResponse`]), or as server-sent events ([`SseStream`]).

mod client;
mod error;
mod exchange;
mod form;
mod form_dom;
mod form_encode;
mod jar;
mod json_diff;
mod multipart;
mod page;
mod request;
mod response;
mod sse;
mod stream;
mod transport;
mod ws;
mod xsrf;

pub use client::TestClient;
/// The `cookie` crate, whose [`Cookie`](cookie::Cookie) [`StoredCookie::to_cookie`] gives.
pub use cookie;
pub use error::Error;
pub use form::{Error as FormError, Form};
pub use jar::{
    CookieJar, Error as CookieError, RequestSite, SameSite, StoredCookie, StoredCookieBuilder,
};
pub use multipart::Multipart;
pub use page::{Element, Error as HtmlError, Expect};
pub use request::RequestBuilder;
pub use response::{Error as ResponseError, Redirect, SetCookie, TestResponse};
pub use sse::{SseEvent, SseStream};
pub use stream::{DEFAULT_CHUNK_TIMEOUT, Error as StreamError, StreamingResponse};
pub use transport::{Body, Error as TransportError};
pub use ws::{
    CloseFrame, Error as WebSocketError, Message as WebSocketMessage, WebSocket, WebSocketRequest,
};
pub use xsrf::Xsrf;
