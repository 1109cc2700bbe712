//! Responses read as they come: the status and headers at once, then the body chunk by
//! chunk, each within a timeout, so a test can check a stream before the app has finished
//! it (and an endless one at all).
//!
//! The running example is on [`StreamingResponse`].

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use url::Url;

use super::client::TestClient;
use super::error::{Error as RequestError, or_panic};
use super::exchange::Ended;
use super::request::RequestBuilder;
use super::response::{Redirect, TestResponse};
use super::transport::{BoxError, StreamBody};

/// How long [`StreamingResponse::next_chunk`] waits for a chunk unless told otherwise.
pub const DEFAULT_CHUNK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a streamed body could not be read on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No chunk came within the chunk timeout. The stream can be read on.
    #[error("{method} {url}: no chunk of the body came within {after:?}")]
    ChunkTimeout {
        /// The request method.
        method: Method,
        /// The URL of the response.
        url: String,
        /// The chunk timeout.
        after: Duration,
    },
    /// Reading the body failed (the app's body failed, or the connection broke).
    #[error("{method} {url}: reading the body failed: {source}")]
    Body {
        /// The request method.
        method: Method,
        /// The URL of the response.
        url: String,
        /// What went wrong.
        source: BoxError,
    },
    /// [`StreamingResponse::try_sse`] on a response that a browser's `EventSource` would
    /// not read: not `200 OK`, or not `Content-Type: text/event-stream`.
    #[error(
        "{method} {url}: not an event stream: status {status}, content type {content_type:?} \
         (an EventSource needs 200 and text/event-stream)"
    )]
    NotEventStream {
        /// The request method.
        method: Method,
        /// The URL of the response.
        url: String,
        /// The response status.
        status: StatusCode,
        /// The `Content-Type` header, if any.
        content_type: Option<String>,
    },
}

impl Error {
    /// Whether this is a [`ChunkTimeout`](Error::ChunkTimeout): nothing came in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::ChunkTimeout { .. })
    }
}

impl<'c> RequestBuilder<'c> {
    /// Sends the request and gives back the response as soon as its status and headers
    /// have come, with the body to read chunk by chunk
    /// ([`StreamingResponse::next_chunk`]) or as server-sent events
    /// ([`StreamingResponse::sse`]). Cookies and redirects are handled as for any
    /// request; a request timeout counts until the head of the last response.
    ///
    /// # Panics
    /// When no response comes, naming the line that awaited it, as awaiting a request
    /// does; [`try_stream`](Self::try_stream) returns the error.
    #[track_caller]
    pub fn stream(self) -> impl Future<Output = StreamingResponse> + Send + 'c {
        let awaited_at = std::panic::Location::caller();
        async move { or_panic("TestClient", self.try_stream().await, awaited_at) }
    }

    /// [`stream`](Self::stream), returning an error instead of panicking.
    pub fn try_stream(
        self,
    ) -> impl Future<Output = Result<StreamingResponse, RequestError>> + Send + 'c {
        self.exchange(|transport, request| transport.stream(request))
            .map(|ended| Ok(StreamingResponse::new(ended?)))
    }
}

/// A response whose body is read as it comes ([`RequestBuilder::stream`]).
///
/// The status, headers and cookies are there at once (the jar has stored the cookies
/// already); [`next_chunk`](Self::next_chunk) waits for the next piece of the body, at
/// most the [chunk timeout](Self::chunk_timeout). [`sse`](Self::sse) reads the body as
/// server-sent events instead. Dropping it closes the stream.
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use squall::testing::TestClient;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (tx, rx) = tokio::sync::mpsc::channel::<&'static str>(1);
/// let rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(rx)));
/// let app = Router::new().route("/feed", get(move || async move {
///     let rx = rx.lock().await.take().unwrap();
///     let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
///         let chunk = rx.recv().await?;
///         Some((Ok::<_, std::io::Error>(chunk), rx))
///     });
///     Body::from_stream(chunks)
/// }));
/// let client = TestClient::new(app);
///
/// let mut r = client.get("/feed").stream().await.chunk_timeout(Duration::from_secs(5));
/// assert_eq!(r.status(), 200);
/// tx.send("first").await.unwrap(); // the app is still running when the chunk is read
/// assert_eq!(r.next_chunk().await.unwrap().unwrap(), "first");
/// drop(tx); // the app ends the body
/// assert!(r.next_chunk().await.is_none());
/// # }
/// ```
pub struct StreamingResponse {
    method: Method,
    url: Arc<Url>,
    status: StatusCode,
    headers: HeaderMap,
    redirects: Vec<Redirect>,
    off_site: bool,
    client: Option<Box<TestClient>>,
    body: StreamBody,
    chunk_timeout: Duration,
    ended: bool,
}

impl std::fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("status", &self.status)
            .field("chunk_timeout", &self.chunk_timeout)
            .finish_non_exhaustive()
    }
}

impl StreamingResponse {
    fn new(ended: Ended<StreamBody>) -> Self {
        StreamingResponse {
            method: ended.method,
            url: ended.url,
            status: ended.parts.status,
            headers: ended.parts.headers,
            redirects: ended.redirects,
            off_site: ended.off_site,
            client: ended.client,
            body: ended.body,
            chunk_timeout: DEFAULT_CHUNK_TIMEOUT,
            ended: false,
        }
    }

    /// How long each [`next_chunk`](Self::next_chunk) waits
    /// ([`DEFAULT_CHUNK_TIMEOUT`], 10 s, unless set).
    pub fn chunk_timeout(mut self, timeout: Duration) -> Self {
        self.chunk_timeout = timeout;
        self
    }
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// The value of header `name` as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The URL of this response (after redirects, the last one).
    pub fn url(&self) -> &Url {
        &self.url
    }
    /// The method of the request that got this response.
    pub fn method(&self) -> &Method {
        &self.method
    }
    /// The redirects followed to get here, first first.
    pub fn redirects(&self) -> &[Redirect] {
        &self.redirects
    }

    /// The next chunk of the body as the app (or the connection) gave it: `None` at the
    /// end, an error when the body failed or no chunk came within the
    /// [chunk timeout](Self::chunk_timeout) ([`Error::ChunkTimeout`], after which the
    /// stream can be read on). Empty chunks and trailers are skipped.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, Error>> {
        while !self.ended {
            let frame = match tokio::time::timeout(self.chunk_timeout, self.body.frame()).await {
                Ok(frame) => frame,
                Err(_) => {
                    return Some(Err(Error::ChunkTimeout {
                        method: self.method.clone(),
                        url: self.url.to_string(),
                        after: self.chunk_timeout,
                    }));
                }
            };
            match frame {
                None => self.ended = true,
                Some(Err(source)) => {
                    self.ended = true;
                    return Some(Err(Error::Body {
                        method: self.method.clone(),
                        url: self.url.to_string(),
                        source,
                    }));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Some(Ok(data)),
                    _ => {} // an empty chunk or trailers
                },
            }
        }
        None
    }

    /// Reads the rest of the body (each chunk within the chunk timeout) and gives the
    /// whole response, with [`TestResponse`]'s assertions.
    pub async fn into_response(mut self) -> Result<TestResponse, Error> {
        let mut body = BytesMut::new();
        while let Some(chunk) = self.next_chunk().await {
            body.extend_from_slice(&chunk?);
        }
        Ok(TestResponse {
            method: self.method,
            url: self.url,
            status: self.status,
            headers: self.headers,
            body: body.freeze(),
            redirects: self.redirects,
            off_site: self.off_site,
            client: self.client,
        })
    }
}
