//! The requests a client puts on the wire: its default headers, the jar's cookies,
//! `Host`, and the `Origin` and `Sec-Fetch-Site` headers a browser adds.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use url::{Position, Url};

use super::TestClient;
use crate::testing::error::Error;
use crate::testing::jar::{RequestSite, same_site};
use crate::testing::transport::Body;

/// What `Origin` and `Sec-Fetch-Site` headers requests carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BrowserHeaders {
    /// A page of the app's own origin made the request.
    SameOrigin,
    /// A page of this origin made the request.
    From(Url),
    /// No such headers.
    Off,
}

impl TestClient {
    /// One request as it goes on the wire, with the client's headers, cookies and the
    /// browser headers added.
    pub(crate) fn build(
        &self,
        method: &Method,
        url: &Url,
        uri: Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Request<Body>, Error> {
        self.assemble(method, url, uri, headers, body, false)
    }

    /// The upgrade request of a WebSocket to `url`. As a browser's, it carries `Origin`
    /// although it is a GET, and from another site it is no navigation (no `Lax` cookies).
    pub(crate) fn build_websocket(
        &self,
        url: &Url,
        uri: Uri,
        headers: &HeaderMap,
    ) -> Result<Request<Body>, Error> {
        self.assemble(&Method::GET, url, uri, headers, Bytes::new(), true)
    }

    fn assemble(
        &self,
        method: &Method,
        url: &Url,
        uri: Uri,
        headers: &HeaderMap,
        body: Bytes,
        websocket: bool,
    ) -> Result<Request<Body>, Error> {
        let bad_url = || Error::UnsupportedUrl {
            url: url.to_string(),
        };
        let length = body.len();
        let mut request = Request::new(Body::new(body));
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri;
        let defaults = &self.default_headers;
        // Whether the request or the client's defaults set this header already (both are
        // usually empty, so this is cheap).
        let set = |name: &HeaderName| {
            (!headers.is_empty() && headers.contains_key(name))
                || (!defaults.is_empty() && defaults.contains_key(name))
        };
        let h = request.headers_mut();
        if !headers.is_empty() {
            h.clone_from(headers);
        }
        for (name, value) in defaults {
            if headers.is_empty() || !headers.contains_key(name) {
                h.insert(name.clone(), value.clone());
            }
        }
        if (!self.transport.absolute_uri() || self.is_alias(url)) && !set(&header::HOST) {
            let host = &url[Position::BeforeHost..Position::AfterPort];
            let host = match &self.host_header {
                Some(value) if value.as_bytes() == host.as_bytes() => value.clone(),
                _ => HeaderValue::from_str(host).map_err(|_| bad_url())?,
            };
            h.insert(header::HOST, host);
        }
        if !set(&header::COOKIE)
            && let Some(cookies) = self
                .jar()
                .header_for_request(url, self.request_site(method, url, websocket))
            && let Ok(value) = HeaderValue::try_from(cookies)
        {
            h.insert(header::COOKIE, value);
        }
        if (length > 0 || !is_safe(method)) && !set(&header::CONTENT_LENGTH) {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        let from = match &self.browser {
            BrowserHeaders::Off => return Ok(request),
            BrowserHeaders::SameOrigin => None,
            BrowserHeaders::From(from) => Some(from),
        };
        if !set(&SEC_FETCH_SITE) {
            let site = from.map_or("same-origin", |from| sec_fetch_site(from, url));
            h.insert(SEC_FETCH_SITE, HeaderValue::from_static(site));
        }
        if (websocket || !is_safe(method)) && !set(&header::ORIGIN) {
            let origin = from.unwrap_or(url).origin().ascii_serialization();
            if let Ok(value) = HeaderValue::from_str(&origin) {
                h.insert(header::ORIGIN, value);
            }
        }
        Ok(request)
    }

    /// Where a request to `url` comes from, for the `SameSite` rules: the app's own pages
    /// unless [`origin`](Self::origin) named another. GET and HEAD from another site count
    /// as top-level navigations (a link followed), other methods and WebSockets as a form
    /// or a script.
    fn request_site(&self, method: &Method, url: &Url, websocket: bool) -> RequestSite {
        match &self.browser {
            BrowserHeaders::From(from) if websocket && !same_site(from, url) => {
                RequestSite::CrossSite
            }
            BrowserHeaders::From(from) => RequestSite::for_navigation(from, url, method),
            BrowserHeaders::SameOrigin | BrowserHeaders::Off => RequestSite::SameSite,
        }
    }

    /// Whether the page making requests is of `url`'s origin, so that it can read the
    /// app's cookies (and hand the XSRF token back).
    pub(crate) fn page_is_same_origin(&self, url: &Url) -> bool {
        match &self.browser {
            BrowserHeaders::From(from) => from.origin() == url.origin(),
            BrowserHeaders::SameOrigin | BrowserHeaders::Off => true,
        }
    }
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// `Sec-Fetch-Site` for a request from a page at `from` to `to`.
fn sec_fetch_site(from: &Url, to: &Url) -> &'static str {
    if from.origin() == to.origin() {
        return "same-origin";
    }
    if same_site(from, to) {
        "same-site"
    } else {
        "cross-site"
    }
}
