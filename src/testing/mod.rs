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

pub mod jar;
pub mod response;
pub mod transport;

use crate::sync::lock;
use std::collections::hash_map::RandomState;
use std::future::{Future, IntoFuture};
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use tower::Service;
use url::{Position, Url};

/// The `cookie` crate, whose [`Cookie`](cookie::Cookie) [`StoredCookie::to_cookie`] gives.
pub use cookie;
pub use jar::{CookieJar, StoredCookie};
pub use response::{Redirect, SetCookie, TestResponse};
use transport::{BoxError, ServerGuard, Transport};

/// Why a request could not be made or did not get a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL (or path) could not be parsed against the client's base URL.
    #[error("invalid URL {url:?}: {source}")]
    InvalidUrl {
        /// The URL or path as given.
        url: String,
        /// What the URL parser said.
        source: url::ParseError,
    },
    /// The URL is not an http or https URL with a host.
    #[error("unsupported URL {url}: only http and https URLs with a host can be requested")]
    UnsupportedUrl {
        /// The URL.
        url: String,
    },
    /// A header name or value given to the request builder is not valid.
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name as given (or as far as it could be read).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The query, form or JSON body could not be serialised.
    #[error("could not encode the {what}: {reason}")]
    Encode {
        /// `query`, `form` or `JSON body`.
        what: &'static str,
        /// What the serialiser said.
        reason: String,
    },
    /// The request was sent but no response came back.
    #[error("{method} {url} failed: {source}")]
    Transport {
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// What went wrong.
        source: transport::Error,
    },
    /// No response came within the timeout.
    #[error("{method} {url} timed out after {after:?}")]
    Timeout {
        /// The request method.
        method: Method,
        /// The request URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// More redirects than allowed were followed.
    #[error("{method} {url}: more than {max} redirects")]
    TooManyRedirects {
        /// The method of the last request.
        method: Method,
        /// The last URL redirected from.
        url: String,
        /// The limit.
        max: usize,
    },
    /// A redirect's `Location` could not be followed.
    #[error("{url} redirected to {location:?}, which cannot be followed")]
    BadRedirect {
        /// The URL that redirected.
        url: String,
        /// The `Location` header.
        location: String,
    },
    /// The test server could not be started.
    #[error("could not start the test server: {0}")]
    Serve(#[source] transport::Error),
}

impl Error {
    /// Whether trying again may help (a connection problem or a timeout).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { source, .. } => source.is_transient(),
            Error::Timeout { .. } => true,
            _ => false,
        }
    }
}

/// How the client names its XSRF token: the cookie the app sets, and the form field and
/// header it hands the token back in.
///
/// The default is Tornado's (`_xsrf` cookie and field, `X-XSRFToken` header);
/// [`Xsrf::django`] is Django's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xsrf {
    cookie: String,
    field: String,
    header: HeaderName,
}

impl Default for Xsrf {
    fn default() -> Self {
        Xsrf::tornado()
    }
}

impl Xsrf {
    /// Tornado's names: cookie `_xsrf`, form field `_xsrf`, header `X-XSRFToken`.
    pub fn tornado() -> Self {
        Xsrf {
            cookie: "_xsrf".into(),
            field: "_xsrf".into(),
            header: HeaderName::from_static("x-xsrftoken"),
        }
    }
    /// Django's names: cookie `csrftoken`, form field `csrfmiddlewaretoken`, header
    /// `X-CSRFToken`.
    pub fn django() -> Self {
        Xsrf {
            cookie: "csrftoken".into(),
            field: "csrfmiddlewaretoken".into(),
            header: HeaderName::from_static("x-csrftoken"),
        }
    }
    /// Other names.
    pub fn new(cookie: impl Into<String>, field: impl Into<String>, header: HeaderName) -> Self {
        Xsrf {
            cookie: cookie.into(),
            field: field.into(),
            header,
        }
    }
}

/// What `Origin` and `Sec-Fetch-Site` headers requests carry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BrowserHeaders {
    /// A page of the app's own origin made the request.
    SameOrigin,
    /// A page of this origin made the request.
    From(Url),
    /// No such headers.
    Off,
}

/// A client for integration tests: see the [module documentation](self).
///
/// Clones share the cookie jar and the connection, so a clone can be moved into a task.
#[derive(Clone)]
pub struct TestClient {
    transport: Arc<dyn Transport>,
    base: Url,
    jar: Arc<Mutex<CookieJar>>,
    default_headers: HeaderMap,
    xsrf: Option<Xsrf>,
    browser: BrowserHeaders,
    timeout: Option<Duration>,
    max_redirects: usize,
    _server: Option<Arc<ServerGuard>>,
    /// `Host` of the base URL, sent in-process.
    host_header: Option<HeaderValue>,
    /// Targets resolved lately, with their URL and request URI.
    cache: Arc<Mutex<UrlCache>>,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl TestClient {
    fn with_transport(transport: Arc<dyn Transport>, base: Url) -> Self {
        let host_header =
            HeaderValue::from_str(&base[Position::BeforeHost..Position::AfterPort]).ok();
        TestClient {
            transport,
            base,
            jar: Arc::new(Mutex::new(CookieJar::new())),
            default_headers: HeaderMap::new(),
            xsrf: Some(Xsrf::default()),
            browser: BrowserHeaders::SameOrigin,
            timeout: None,
            max_redirects: 10,
            _server: None,
            host_header,
            cache: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A client that calls `service` in-process, with no socket. Requests go to
    /// `http://localhost/` (a loopback host, so `Secure` cookies are kept), with the path
    /// in origin form and a `Host` header, as a server would see them.
    ///
    /// The service takes `http::Request<`[`transport::Body`]`>` (the whole body in
    /// memory), as an axum `Router` and most tower stacks around one do.
    pub fn new<S, B>(service: S) -> Self
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self::with_transport(Arc::new(transport::InProcess::new(service)), localhost())
    }

    /// A client for a running server at `base_url` (`http://` only), over real HTTP with
    /// keep-alive connections. Paths resolve against it as links do: `/x` from the host's
    /// root, `x` below the base URL's directory.
    ///
    /// # Panics
    /// When `base_url` is not an http URL; [`try_http`](Self::try_http) returns the error.
    #[track_caller]
    pub fn http(base_url: &str) -> Self {
        match Self::try_http(base_url) {
            Ok(client) => client,
            Err(e) => panic!("TestClient::http: {e}"),
        }
    }

    /// [`http`](Self::http), returning an error for a bad URL.
    pub fn try_http(base_url: &str) -> Result<Self, Error> {
        let base = Url::parse(base_url).map_err(|source| Error::InvalidUrl {
            url: base_url.to_owned(),
            source,
        })?;
        if base.scheme() != "http" || !base.has_host() {
            return Err(Error::UnsupportedUrl {
                url: base.to_string(),
            });
        }
        Ok(Self::with_transport(Arc::new(transport::Http::new()), base))
    }

    /// Serves `service` on `127.0.0.1:0` (a free port) and gives a client that talks to it
    /// over a real socket. The server stops when the last clone of the client is dropped.
    ///
    /// # Panics
    /// Outside a tokio runtime, or when no socket can be bound; [`try_serve`](Self::try_serve)
    /// returns the error.
    #[track_caller]
    pub fn serve<S, B>(service: S) -> Self
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match Self::try_serve(service) {
            Ok(client) => client,
            Err(e) => panic!("TestClient::serve: {e}"),
        }
    }

    /// [`serve`](Self::serve), returning an error instead of panicking.
    pub fn try_serve<S, B>(service: S) -> Result<Self, Error>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let app: Arc<dyn Transport> = Arc::new(transport::InProcess::new(service));
        let (addr, guard) = transport::serve(app).map_err(Error::Serve)?;
        let base = Url::parse(&format!("http://{addr}/")).map_err(|source| Error::InvalidUrl {
            url: addr.to_string(),
            source,
        })?;
        let mut client = Self::with_transport(Arc::new(transport::Http::new()), base);
        client._server = Some(Arc::new(guard));
        Ok(client)
    }

    /// Adds a header sent with every request (unless the request sets it itself).
    pub fn with_default_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.default_headers.insert(name, value);
        self
    }
    /// Uses other names for the XSRF cookie, field and header (see [`Xsrf`]).
    pub fn with_xsrf(mut self, xsrf: Xsrf) -> Self {
        self.xsrf = Some(xsrf);
        self
    }
    /// Never hands an XSRF token back (a request can also opt out: [`RequestBuilder::without_xsrf`]).
    pub fn without_xsrf(mut self) -> Self {
        self.xsrf = None;
        self
    }
    /// Sends requests as if made by a page of `origin` (`https://other.example`):
    /// `Origin` is that, and `Sec-Fetch-Site` says `same-origin`, `same-site` or
    /// `cross-site` accordingly. By default requests come from the app's own origin.
    ///
    /// # Panics
    /// When `origin` is not a URL.
    #[track_caller]
    pub fn with_origin(mut self, origin: &str) -> Self {
        match Url::parse(origin) {
            Ok(url) => self.browser = BrowserHeaders::From(url),
            Err(e) => panic!("TestClient::with_origin({origin:?}): {e}"),
        }
        self
    }
    /// Sends neither `Origin` nor `Sec-Fetch-Site`.
    pub fn without_browser_headers(mut self) -> Self {
        self.browser = BrowserHeaders::Off;
        self
    }
    /// A timeout for every request (a request can set its own).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// The most redirects [`RequestBuilder::follow_redirects`] follows (10 by default).
    pub fn with_max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }
    /// Uses `jar` as the cookie jar (for instance one with an injected clock).
    pub fn with_cookie_jar(mut self, jar: CookieJar) -> Self {
        self.jar = Arc::new(Mutex::new(jar));
        self
    }

    /// The URL paths are resolved against.
    pub fn base_url(&self) -> &Url {
        &self.base
    }
    /// The cookie jar, locked. Do not hold it across an `.await`.
    pub fn jar(&self) -> MutexGuard<'_, CookieJar> {
        lock(&self.jar)
    }
    /// The value of cookie `name` that would be sent to the base URL.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar().get_url(&self.base, name)
    }

    /// A GET request to `url` (a path, or a whole URL).
    pub fn get(&self, url: &str) -> RequestBuilder<'_> {
        self.request(Method::GET, url)
    }
    /// A POST request.
    pub fn post(&self, url: &str) -> RequestBuilder<'_> {
        self.request(Method::POST, url)
    }
    /// A PUT request.
    pub fn put(&self, url: &str) -> RequestBuilder<'_> {
        self.request(Method::PUT, url)
    }
    /// A PATCH request.
    pub fn patch(&self, url: &str) -> RequestBuilder<'_> {
        self.request(Method::PATCH, url)
    }
    /// A DELETE request.
    pub fn delete(&self, url: &str) -> RequestBuilder<'_> {
        self.request(Method::DELETE, url)
    }
    /// A HEAD request.
    pub fn head(&self, url: &str) -> RequestBuilder<'_> {
        self.request(Method::HEAD, url)
    }
    /// An OPTIONS request.
    pub fn options(&self, url: &str) -> RequestBuilder<'_> {
        self.request(Method::OPTIONS, url)
    }
    /// A request with any method.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder<'_> {
        let (target, error) = match self.resolve(url) {
            Ok(target) => (Some(target), None),
            Err(e) => (None, Some(e)),
        };
        RequestBuilder {
            client: self,
            method,
            target,
            headers: HeaderMap::new(),
            query: None,
            body: Payload::Empty,
            timeout: None,
            max_redirects: None,
            xsrf: true,
            error,
        }
    }

    /// The URL of `target` against the base URL, and its request URI; both are kept for
    /// the targets last used, as tests request the same few paths over and over.
    fn resolve(&self, target: &str) -> Result<(Arc<Url>, Uri), Error> {
        {
            let cache = lock(&self.cache);
            if let Some((_, url, uri)) = cache.iter().find(|(t, _, _)| t == target) {
                return Ok((url.clone(), uri.clone()));
            }
        }
        let url = self.base.join(target).map_err(|source| Error::InvalidUrl {
            url: target.to_owned(),
            source,
        })?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(Error::UnsupportedUrl {
                url: url.to_string(),
            });
        }
        let uri = self.uri_for(&url)?;
        let url = Arc::new(url);
        let mut cache = lock(&self.cache);
        if cache.len() >= URL_CACHE_SIZE {
            cache.remove(0);
        }
        cache.push((target.to_owned(), url.clone(), uri.clone()));
        Ok((url, uri))
    }

    /// The request URI: absolute for real HTTP, origin-form (`/path?query`) in-process.
    fn uri_for(&self, url: &Url) -> Result<Uri, Error> {
        let uri = if self.transport.absolute_uri() {
            Uri::try_from(url.as_str())
        } else {
            Uri::try_from(&url[Position::BeforePath..Position::AfterQuery])
        };
        uri.map_err(|_| Error::UnsupportedUrl {
            url: url.to_string(),
        })
    }

    /// One request as it goes on the wire, with the client's headers, cookies and the
    /// browser headers added.
    fn build(
        &self,
        method: &Method,
        url: &Url,
        uri: Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, Error> {
        let bad_url = || Error::UnsupportedUrl {
            url: url.to_string(),
        };
        let length = body.len();
        let mut request = Request::new(Full::new(body));
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
        if !self.transport.absolute_uri() && !set(&header::HOST) {
            let host = &url[Position::BeforeHost..Position::AfterPort];
            let host = match &self.host_header {
                Some(value) if value.as_bytes() == host.as_bytes() => value.clone(),
                _ => HeaderValue::from_str(host).map_err(|_| bad_url())?,
            };
            h.insert(header::HOST, host);
        }
        if !set(&header::COOKIE)
            && let Some(cookies) = self.jar().header_for_url(url)
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
        if !is_safe(method) && !set(&header::ORIGIN) {
            let origin = from.unwrap_or(url).origin().ascii_serialization();
            if let Ok(value) = HeaderValue::from_str(&origin) {
                h.insert(header::ORIGIN, value);
            }
        }
        Ok(request)
    }
}

/// The base URL of in-process clients.
#[allow(clippy::expect_used)] // a literal that always parses, not input
fn localhost() -> Url {
    Url::parse("http://localhost/").expect("a literal URL")
}

/// Targets (paths or URLs as given) with their resolved URL and request URI.
type UrlCache = Vec<(String, Arc<Url>, Uri)>;

/// How many resolved targets a client keeps.
const URL_CACHE_SIZE: usize = 32;

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

fn is_safe(method: &Method) -> bool {
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
    let site = |u: &Url| {
        let host = u.host_str().unwrap_or("");
        (
            u.scheme().to_owned(),
            psl::domain_str(host).unwrap_or(host).to_owned(),
        )
    };
    if site(from) == site(to) {
        "same-site"
    } else {
        "cross-site"
    }
}

/// A `multipart/form-data` body, for forms with file uploads.
///
/// ```
/// # use axum::{Router, routing::post};
/// use squall::testing::{Multipart, TestClient};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let client = TestClient::new(Router::new().route("/upload", post(|b: axum::body::Bytes| async move { String::from_utf8_lossy(&b).into_owned() })));
/// let form = Multipart::new()
///     .text("title", "Holiday")
///     .file("photo", "beach.jpg", "image/jpeg", &b"\xff\xd8 jpeg bytes"[..]);
/// let r = client.post("/upload").multipart(form).await;
/// r.assert_contains("filename=\"beach.jpg\"");
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

impl Multipart {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a text field.
    pub fn text(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let value: String = value.into();
        self.parts.push(Part {
            name: name.into(),
            filename: None,
            content_type: None,
            data: Bytes::from(value),
        });
        self
    }
    /// Adds a file with its name and content type.
    pub fn file(
        mut self,
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Self {
        self.parts.push(Part {
            name: name.into(),
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            data: data.into(),
        });
        self
    }
    fn has_field(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p.name == name)
    }
    /// The body and its content type.
    fn encode(&self) -> (Bytes, String) {
        let mut boundary = new_boundary();
        while self
            .parts
            .iter()
            .any(|p| contains(&p.data, boundary.as_bytes()))
        {
            boundary = new_boundary();
        }
        // Names are escaped as browsers do (HTML's multipart/form-data encoding algorithm).
        let escape = |s: &str| {
            s.replace('"', "%22")
                .replace('\r', "%0D")
                .replace('\n', "%0A")
        };
        let mut body = Vec::with_capacity(self.parts.iter().map(|p| p.data.len() + 160).sum());
        for part in &self.parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut disposition = format!(
                "Content-Disposition: form-data; name=\"{}\"",
                escape(&part.name)
            );
            if let Some(filename) = &part.filename {
                disposition.push_str(&format!("; filename=\"{}\"", escape(filename)));
            }
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(b"\r\n");
            if let Some(ct) = &part.content_type {
                let ct: String = ct.chars().filter(|c| !c.is_control()).collect();
                body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(&part.data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (
            Bytes::from(body),
            format!("multipart/form-data; boundary={boundary}"),
        )
    }
}

fn new_boundary() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5175_616c_6c00);
    format!("----squall{:016x}", hasher.finish())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[derive(Debug)]
enum Payload {
    Empty,
    Raw(Bytes),
    Form(String),
    Json(Vec<u8>),
    Multipart(Multipart),
}

/// A request being built; await it for a [`TestResponse`] (or call [`send`](Self::send)
/// for a `Result`).
#[must_use = "a request does nothing until it is awaited"]
#[derive(Debug)]
pub struct RequestBuilder<'c> {
    client: &'c TestClient,
    method: Method,
    /// The resolved URL and request URI (`None` when it could not be resolved: see `error`).
    target: Option<(Arc<Url>, Uri)>,
    headers: HeaderMap,
    query: Option<String>,
    body: Payload,
    timeout: Option<Duration>,
    max_redirects: Option<usize>,
    xsrf: bool,
    error: Option<Error>,
}

impl<'c> RequestBuilder<'c> {
    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Adds a header (an invalid name or value makes the request fail when sent).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: std::fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: std::fmt::Display,
    {
        let name = match name.try_into() {
            Ok(n) => n,
            Err(e) => {
                return self.fail(Error::InvalidHeader {
                    name: String::new(),
                    reason: e.to_string(),
                });
            }
        };
        match value.try_into() {
            Ok(v) => {
                self.headers.append(name, v);
                self
            }
            Err(e) => self.fail(Error::InvalidHeader {
                name: name.to_string(),
                reason: e.to_string(),
            }),
        }
    }
    /// Adds query parameters (anything serde_urlencoded takes: pairs, maps, structs).
    pub fn query<T: serde::Serialize + ?Sized>(mut self, query: &T) -> Self {
        match serde_urlencoded::to_string(query) {
            Ok(q) if q.is_empty() => self,
            Ok(q) => {
                match &mut self.query {
                    Some(existing) => {
                        existing.push('&');
                        existing.push_str(&q);
                    }
                    None => self.query = Some(q),
                }
                self
            }
            Err(e) => self.fail(Error::Encode {
                what: "query",
                reason: e.to_string(),
            }),
        }
    }
    /// Sends an `application/x-www-form-urlencoded` body.
    pub fn form<T: serde::Serialize + ?Sized>(mut self, form: &T) -> Self {
        match serde_urlencoded::to_string(form) {
            Ok(f) => {
                self.body = Payload::Form(f);
                self
            }
            Err(e) => self.fail(Error::Encode {
                what: "form",
                reason: e.to_string(),
            }),
        }
    }
    /// Sends a JSON body (`application/json`).
    pub fn json<T: serde::Serialize + ?Sized>(mut self, json: &T) -> Self {
        match serde_json::to_vec(json) {
            Ok(j) => {
                self.body = Payload::Json(j);
                self
            }
            Err(e) => self.fail(Error::Encode {
                what: "JSON body",
                reason: e.to_string(),
            }),
        }
    }
    /// Sends a `multipart/form-data` body.
    pub fn multipart(mut self, form: Multipart) -> Self {
        self.body = Payload::Multipart(form);
        self
    }
    /// Sends these bytes as the body (set a `Content-Type` with [`header`](Self::header)).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Payload::Raw(body.into());
        self
    }
    /// HTTP basic authentication.
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        use base64::Engine as _;
        let credentials = format!("{user}:{}", password.unwrap_or(""));
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        self.header(header::AUTHORIZATION, value)
    }
    /// A bearer token (`Authorization: Bearer …`).
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, format!("Bearer {token}"))
    }
    /// A timeout for this request (including the redirects it follows).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Follows redirects, at most the client's limit (10 by default). 301, 302 and 303
    /// turn a POST into a GET; 307 and 308 keep the method and body.
    pub fn follow_redirects(mut self) -> Self {
        self.max_redirects = Some(self.client.max_redirects);
        self
    }
    /// Follows at most `max` redirects.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = Some(max);
        self
    }
    /// Does not hand the XSRF token back on this request.
    pub fn without_xsrf(mut self) -> Self {
        self.xsrf = false;
        self
    }

    /// Sends the request, following redirects if asked, and stores the cookies of every
    /// response in the client's jar.
    pub async fn send(self) -> Result<TestResponse, Error> {
        let RequestBuilder {
            client,
            mut method,
            target,
            mut headers,
            query,
            mut body,
            timeout,
            max_redirects,
            xsrf,
            error,
        } = self;
        let (mut url, mut uri) = match (error, target) {
            (None, Some(target)) => target,
            (Some(error), _) => return Err(error),
            (None, None) => return Err(Error::UnsupportedUrl { url: String::new() }),
        };
        if let Some(query) = query {
            let joined = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{query}"),
                _ => query,
            };
            Arc::make_mut(&mut url).set_query(Some(&joined));
            uri = client.uri_for(&url)?;
        }
        if xsrf
            && !is_safe(&method)
            && let Some(x) = &client.xsrf
        {
            let token = client.jar().get_url(&url, &x.cookie);
            if let Some(token) = token {
                add_xsrf(x, &token, &mut body, &mut headers);
            }
        }
        let (mut payload, content_type) = match body {
            Payload::Empty => (Bytes::new(), None),
            Payload::Raw(b) => (b, None),
            Payload::Form(f) => (
                Bytes::from(f),
                Some("application/x-www-form-urlencoded".to_owned()),
            ),
            Payload::Json(j) => (Bytes::from(j), Some("application/json".to_owned())),
            Payload::Multipart(m) => {
                let (b, ct) = m.encode();
                (b, Some(ct))
            }
        };
        if let Some(ct) = content_type
            && !headers.contains_key(header::CONTENT_TYPE)
            && let Ok(v) = HeaderValue::from_str(&ct)
        {
            headers.insert(header::CONTENT_TYPE, v);
        }

        let timeout = timeout.or(client.timeout);
        let for_timeout = timeout.map(|after| (after, method.clone(), url.to_string()));
        let mut redirects = Vec::new();
        let round_trips =
            async move {
                loop {
                    let request = client.build(
                        &method,
                        &url,
                        std::mem::take(&mut uri),
                        &headers,
                        payload.clone(),
                    )?;
                    tracing::trace!(%method, %url, "test client request");
                    let response = client.transport.call(request).await.map_err(|source| {
                        Error::Transport {
                            method: method.clone(),
                            url: url.to_string(),
                            source,
                        }
                    })?;
                    let (parts, body) = response.into_parts();
                    {
                        let mut jar = client.jar();
                        for value in parts.headers.get_all(header::SET_COOKIE) {
                            if let Err(e) = jar.store_bytes(&url, value.as_bytes()) {
                                tracing::debug!(error = %e, %url, "cookie ignored");
                            }
                        }
                    }
                    let location = match max_redirects {
                        Some(_) if is_redirect(parts.status) => parts.headers.get(header::LOCATION),
                        _ => None,
                    };
                    let (Some(location), Some(max)) = (location, max_redirects) else {
                        return Ok(TestResponse {
                            method,
                            url,
                            status: parts.status,
                            headers: parts.headers,
                            body,
                            redirects: std::mem::take(&mut redirects),
                        });
                    };
                    let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
                    if redirects.len() >= max {
                        return Err(Error::TooManyRedirects {
                            method,
                            url: url.to_string(),
                            max,
                        });
                    }
                    let next = url
                        .join(&location)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                        .ok_or_else(|| Error::BadRedirect {
                            url: url.to_string(),
                            location: location.clone(),
                        })?;
                    let status = parts.status;
                    let hop_method = method.clone();
                    if (status == StatusCode::SEE_OTHER && method != Method::HEAD)
                        || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                            && method == Method::POST)
                    {
                        method = Method::GET;
                        payload = Bytes::new();
                        headers.remove(header::CONTENT_TYPE);
                        headers.remove(header::CONTENT_LENGTH);
                    }
                    if next.origin() != url.origin() {
                        headers.remove(header::AUTHORIZATION);
                    }
                    let set_cookies = parts
                        .headers
                        .get_all(header::SET_COOKIE)
                        .iter()
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .collect();
                    uri = client.uri_for(&next)?;
                    let from = std::mem::replace(&mut url, Arc::new(next));
                    redirects.push(Redirect {
                        method: hop_method,
                        url: Arc::unwrap_or_clone(from),
                        status,
                        location,
                        set_cookies,
                    });
                }
            };
        match for_timeout {
            None => round_trips.await,
            Some((after, method, url)) => match tokio::time::timeout(after, round_trips).await {
                Ok(result) => result,
                Err(_) => Err(Error::Timeout { method, url, after }),
            },
        }
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn add_xsrf(x: &Xsrf, token: &str, body: &mut Payload, headers: &mut HeaderMap) {
    match body {
        Payload::Form(form) => {
            if !url::form_urlencoded::parse(form.as_bytes()).any(|(k, _)| k == x.field.as_str()) {
                let mut s = url::form_urlencoded::Serializer::new(std::mem::take(form));
                s.append_pair(&x.field, token);
                *form = s.finish();
            }
        }
        Payload::Multipart(m) => {
            if !m.has_field(&x.field) {
                *m = std::mem::take(m).text(x.field.clone(), token);
            }
        }
        _ => {
            if !headers.contains_key(&x.header)
                && let Ok(v) = HeaderValue::from_str(token)
            {
                headers.insert(x.header.clone(), v);
            }
        }
    }
}

impl<'c> IntoFuture for RequestBuilder<'c> {
    type Output = TestResponse;
    type IntoFuture = Pin<Box<dyn Future<Output = TestResponse> + Send + 'c>>;

    /// Sends the request; panics with the method, the URL and the reason when no response
    /// came (use [`send`](RequestBuilder::send) for a `Result`).
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.send().await {
                Ok(response) => response,
                Err(e) => panic!("squall TestClient: {e}"),
            }
        })
    }
}
