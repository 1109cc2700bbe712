//! The round trips of one request: send it, store the cookies of each response in the
//! client's jar, and follow its redirects while they stay on the app.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Uri};
use url::Url;

use super::client::TestClient;
use super::error::Error;
use super::response::{Redirect, TestResponse};
use super::transport::{self, Body, Transport};

/// A transport's call: [`Transport::call`] (the whole body) or [`Transport::stream`].
pub(super) type Call<B> =
    fn(
        &dyn Transport,
        http::Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Result<http::Response<B>, transport::Error>> + Send>>;

/// A request ready to go, and the redirects followed so far.
///
/// [`run`](Self::run) works on these fields in place: an `async fn` that moved them into
/// locals would carry them twice, and its future is moved (and boxed) on every request.
pub(super) struct Exchange<'c> {
    pub(super) client: &'c TestClient,
    pub(super) method: Method,
    pub(super) url: Arc<Url>,
    /// The request URI of `url`, taken by each round trip's request.
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
    pub(super) payload: Bytes,
    /// `None`: redirects are not followed.
    pub(super) max_redirects: Option<usize>,
    pub(super) redirects: Vec<Redirect>,
}

impl<'c> Exchange<'c> {
    /// Sends the request with `call`, and again to each redirect's target on the app.
    pub(super) async fn run<B: Send>(mut self, call: Call<B>) -> Result<Ended<B>, Error> {
        loop {
            let request = self.client.build(
                &self.method,
                &self.url,
                std::mem::take(&mut self.uri),
                &self.headers,
                self.payload.clone(),
            )?;
            tracing::trace!(method = %self.method, url = %self.url, "test client request");
            let response = match call(&*self.client.transport, request).await {
                Ok(response) => response,
                Err(source) => {
                    return Err(Error::Transport {
                        method: self.method,
                        url: self.url.to_string(),
                        source,
                    });
                }
            };
            let (parts, body) = response.into_parts();
            self.client.store_cookies(&self.url, &parts.headers);
            let location = match self.max_redirects {
                Some(_) if is_redirect(parts.status) => parts.headers.get(header::LOCATION),
                _ => None,
            };
            let (Some(location), Some(max)) = (location, self.max_redirects) else {
                return Ok(self.finish(parts, body, false));
            };
            let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
            let next = self
                .url
                .join(&location)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                .ok_or_else(|| Error::BadRedirect {
                    url: self.url.to_string(),
                    location: location.clone(),
                })?;
            if !self.client.is_app(&next) {
                tracing::debug!(url = %self.url, %next, "redirect off the app not followed");
                return Ok(self.finish(parts, body, true));
            }
            if self.redirects.len() >= max {
                return Err(Error::TooManyRedirects {
                    method: self.method,
                    url: self.url.to_string(),
                    max,
                });
            }
            self.follow(parts, location, next)?;
        }
    }

    /// Turns the exchange toward the redirect's target `next`, recording the hop.
    fn follow(
        &mut self,
        parts: http::response::Parts,
        location: String,
        next: Url,
    ) -> Result<(), Error> {
        let status = parts.status;
        let hop_method = self.method.clone();
        if (status == StatusCode::SEE_OTHER && self.method != Method::HEAD)
            || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                && self.method == Method::POST)
        {
            self.method = Method::GET;
            self.payload = Bytes::new();
            self.headers.remove(header::CONTENT_TYPE);
            self.headers.remove(header::CONTENT_LENGTH);
        }
        if next.origin() != self.url.origin() {
            self.headers.remove(header::AUTHORIZATION);
        }
        let set_cookies = parts
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        self.uri = self.client.uri_for(&next)?;
        let from = std::mem::replace(&mut self.url, Arc::new(next));
        self.redirects.push(Redirect {
            method: hop_method,
            url: Arc::unwrap_or_clone(from),
            status,
            location,
            set_cookies,
        });
        Ok(())
    }

    /// The response the request ends with. An HTML page keeps the client, so that its
    /// forms can be submitted and its links followed.
    fn finish<B>(self, parts: http::response::Parts, body: B, off_site: bool) -> Ended<B> {
        let client = is_html(&parts.headers).then(|| Box::new(self.client.clone()));
        Ended {
            method: self.method,
            url: self.url,
            parts,
            body,
            redirects: self.redirects,
            off_site,
            client,
        }
    }
}

/// The response a request ended with, its body as the transport gave it.
pub(super) struct Ended<B> {
    pub(super) method: Method,
    pub(super) url: Arc<Url>,
    pub(super) parts: http::response::Parts,
    pub(super) body: B,
    pub(super) redirects: Vec<Redirect>,
    /// A redirect off the app that was not followed.
    pub(super) off_site: bool,
    /// The client, kept by an HTML page so that its forms can be submitted and its
    /// links followed.
    pub(super) client: Option<Box<TestClient>>,
}

impl Ended<Bytes> {
    pub(super) fn into_response(self) -> TestResponse {
        TestResponse {
            method: self.method,
            url: self.url,
            status: self.parts.status,
            headers: self.parts.headers,
            body: self.body,
            redirects: self.redirects,
            off_site: self.off_site,
            client: self.client,
        }
    }
}

/// Whether the `Content-Type` is an HTML document (`text/html`, `application/xhtml+xml`).
fn is_html(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        let essence = v
            .split(|b| *b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        essence.eq_ignore_ascii_case(b"text/html")
            || essence.eq_ignore_ascii_case(b"application/xhtml+xml")
    })
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}
