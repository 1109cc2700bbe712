//! The HTTP side of live reload: `GET /` is the event stream, `GET /client.js` the
//! client script, anything else `404` (the running example is on the parent module).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tokio::sync::mpsc;
use tower::Service;

use super::{CLIENT_JS, LiveReload};

/// The body of a live reload answer: the script, or the endless event stream.
#[derive(Debug)]
pub struct LiveBody(BodyKind);

#[derive(Debug)]
enum BodyKind {
    Full(Option<Bytes>),
    Events(mpsc::Receiver<Bytes>),
}

impl http_body::Body for LiveBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        match &mut self.0 {
            BodyKind::Full(bytes) => {
                Poll::Ready(bytes.take().map(|b| Ok(http_body::Frame::data(b))))
            }
            BodyKind::Events(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(http_body::Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.0, BodyKind::Full(None))
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: LiveBody) -> Response<LiveBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl<B> Service<Request<B>> for LiveReload {
    type Response = Response<LiveBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<LiveBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path().trim_start_matches('/');
        let full = |status, content_type, text: &'static str| {
            answer(
                status,
                content_type,
                LiveBody(BodyKind::Full(Some(Bytes::from_static(text.as_bytes())))),
            )
        };
        let response = match (request.method().as_str(), path) {
            ("GET", "client.js") => {
                full(StatusCode::OK, "text/javascript; charset=utf-8", CLIENT_JS)
            }
            ("GET", "") => answer(
                StatusCode::OK,
                "text/event-stream",
                LiveBody(BodyKind::Events(self.subscribe())),
            ),
            _ => full(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "live reload serves / (events) and /client.js\n",
            ),
        };
        std::future::ready(Ok(response))
    }
}
