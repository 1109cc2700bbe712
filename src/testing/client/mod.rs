//! The client: its configuration, the URLs it resolves and the requests it puts on the
//! wire (default headers, cookies, `Host`, `Origin` and `Sec-Fetch-Site`).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use tower::Service;
use url::{Position, Url};

use super::error::Error;
use super::jar::CookieJar;
use super::request::RequestBuilder;
use super::transport::{self, Body, BoxError, ServerGuard, Transport};
use super::xsrf::Xsrf;
use crate::sync::lock;

mod wire;

use wire::BrowserHeaders;
pub(super) use wire::is_safe;

/// A client for integration tests: see the [module documentation](super).
///
/// Clones share the cookie jar and the connection, so a clone can be moved into a task.
///
/// [`new`](Self::new) calls the service directly, [`http`](Self::http) talks to a running
/// server, and [`serve`](Self::serve) binds the service to `127.0.0.1:0` and talks to it
/// over a real socket:
///
/// ```
/// use axum::{Router, routing::get};
/// use squall::testing::TestClient;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new().route("/", get(|| async { "hello" }));
/// let client = TestClient::serve(app.clone());
/// assert!(client.base_url().as_str().starts_with("http://127.0.0.1:"));
/// client.get("/").await.assert_status(200).assert_contains("hello");
/// TestClient::new(app).get("/").await.assert_contains("hello");
/// # }
/// ```
#[derive(Clone)]
pub struct TestClient {
    pub(super) transport: Arc<dyn Transport>,
    base: Url,
    jar: Arc<Mutex<CookieJar>>,
    default_headers: HeaderMap,
    pub(super) xsrf: Option<Xsrf>,
    browser: BrowserHeaders,
    pub(super) timeout: Option<Duration>,
    pub(super) max_redirects: usize,
    _server: Option<Arc<ServerGuard>>,
    /// `Host` of the base URL, sent in-process.
    host_header: Option<HeaderValue>,
    /// Targets resolved lately, with their URL and request URI.
    cache: Arc<Mutex<UrlCache>>,
    /// Other host names of the app (lower case), from [`host_alias`](Self::host_alias).
    aliases: Vec<String>,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl TestClient {
    fn from_transport(transport: Arc<dyn Transport>, base: Url) -> Self {
        let host_header = match &base[Position::BeforeHost..Position::AfterPort] {
            // The in-process host: a static value is copied without a reference count.
            "localhost" => Some(HeaderValue::from_static("localhost")),
            host => HeaderValue::from_str(host).ok(),
        };
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
            aliases: Vec::new(),
        }
    }

    /// A client that calls `service` in-process, with no socket. Requests go to
    /// `http://localhost/` (a loopback host, so `Secure` cookies are kept), with the path
    /// in origin form and a `Host` header, as a server would see them.
    ///
    /// The service takes `http::Request<`[`Body`](super::Body)`>` (the whole body in
    /// memory), as an axum `Router` and most tower stacks around one do.
    pub fn new<S, B>(service: S) -> Self
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self::from_transport(Arc::new(transport::InProcess::new(service)), localhost())
    }

    /// A client for a running server at `base_url` (`http://` only: https is not
    /// supported), over real HTTP with keep-alive connections. Paths resolve against it as links do: `/x` from the host's
    /// root, `x` below the base URL's directory.
    ///
    /// # Panics
    /// When `base_url` is not an http URL; [`try_http`](Self::try_http) returns the error
    /// ([`Error::HttpsNotSupported`] for an https URL).
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
        if base.scheme() == "https" {
            return Err(Error::HttpsNotSupported {
                url: base.to_string(),
            });
        }
        if base.scheme() != "http" || !base.has_host() {
            return Err(Error::UnsupportedUrl {
                url: base.to_string(),
            });
        }
        Ok(Self::from_transport(Arc::new(transport::Http::new()), base))
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
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
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
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (addr, guard) = transport::serve(service).map_err(Error::Serve)?;
        let base = Url::parse(&format!("http://{addr}/")).map_err(|source| Error::InvalidUrl {
            url: addr.to_string(),
            source,
        })?;
        let mut client = Self::from_transport(Arc::new(transport::Http::new()), base);
        client._server = Some(Arc::new(guard));
        Ok(client)
    }

    /// Adds a header sent with every request (unless the request sets it itself).
    pub fn default_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.default_headers.insert(name, value);
        self
    }
    /// Uses other names for the XSRF cookie, field and header (see [`Xsrf`]).
    pub fn xsrf(mut self, xsrf: Xsrf) -> Self {
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
    /// Cookies follow the `SameSite` rules as in a browser (see [`RequestSite`]): from
    /// another site, `Strict` cookies never go, `Lax` cookies only with GET and HEAD (taken
    /// as a link followed), `None` and unmarked cookies always. A page of another origin
    /// cannot read the app's cookies, so no XSRF token is handed back either: a cross-site
    /// POST is tested as an attacker's page would send it.
    ///
    /// [`RequestSite`]: super::RequestSite
    ///
    /// # Panics
    /// When `origin` is not a URL.
    #[track_caller]
    pub fn origin(mut self, origin: &str) -> Self {
        match Url::parse(origin) {
            Ok(url) => self.browser = BrowserHeaders::From(url),
            Err(e) => panic!("TestClient::origin({origin:?}): {e}"),
        }
        self
    }
    /// Takes `host` (`other.example`, any port) as another name of the app under test.
    ///
    /// [`follow_redirects`](RequestBuilder::follow_redirects) follows a redirect only
    /// into the app: to the base URL's host (and, over a socket, its port) or to an alias.
    /// A redirect anywhere else stops the chain, and the response is that redirect, with
    /// [`redirect_target`](super::TestResponse::redirect_target) saying where it pointed,
    /// so an open redirect does not pass unseen. Requests to an alias go to the app with
    /// `Host: host`, in-process and over HTTP alike.
    ///
    /// ```
    /// use axum::{Router, http::HeaderMap, response::Redirect, routing::get};
    /// use squall::testing::TestClient;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = Router::new()
    ///     .route("/go", get(|| async { Redirect::to("https://shop.example/cart") }))
    ///     .route("/cart", get(|h: HeaderMap| async move { format!("cart on {:?}", h["host"]) }));
    /// let client = TestClient::new(app);
    /// let r = client.get("/go").follow_redirects().await;
    /// r.assert_status(303);
    /// assert_eq!(r.redirect_target().unwrap().as_str(), "https://shop.example/cart");
    ///
    /// let client = client.host_alias("shop.example");
    /// client.get("/go").follow_redirects().await.assert_contains("cart on \"shop.example\"");
    /// # }
    /// ```
    pub fn host_alias(mut self, host: &str) -> Self {
        self.aliases
            .push(host.trim().trim_end_matches('.').to_ascii_lowercase());
        // Resolved request URIs depend on the aliases: this client keeps its own.
        self.cache = Arc::new(Mutex::new(Vec::new()));
        self
    }
    /// Sends neither `Origin` nor `Sec-Fetch-Site`.
    pub fn without_browser_headers(mut self) -> Self {
        self.browser = BrowserHeaders::Off;
        self
    }
    /// A timeout for every request (a request can set its own).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// The most redirects [`RequestBuilder::follow_redirects`] follows (10 by default).
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }
    /// Uses `jar` as the cookie jar (for instance one with an injected clock).
    pub fn cookie_jar(mut self, jar: CookieJar) -> Self {
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
    /// The value of cookie `name` that a request to the base URL would carry.
    ///
    /// A cookie with a narrower `Path` (`Path=/api`) does not go to the base URL, so this
    /// does not see it: ask [`cookie_for`](Self::cookie_for) with a URL under that path.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar().get_url(&self.base, name)
    }
    /// The value of cookie `name` that a request to `url` (a path such as `/api/items`, or
    /// a whole URL, resolved as requests resolve it) would carry; `None` when no such
    /// cookie applies there or `url` does not resolve.
    ///
    /// ```
    /// use axum::{Router, routing::get, http::header};
    /// use squall::testing::TestClient;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = Router::new().route("/api/login", get(|| async {
    ///     ([(header::SET_COOKIE, "token=t0k; Path=/api")], "ok")
    /// }));
    /// let client = TestClient::new(app);
    /// client.get("/api/login").await;
    /// assert_eq!(client.cookie("token"), None); // not sent to http://localhost/
    /// assert_eq!(client.cookie_for("/api/items", "token").as_deref(), Some("t0k"));
    /// # }
    /// ```
    pub fn cookie_for(&self, url: &str, name: &str) -> Option<String> {
        let url = self.base.join(url).ok()?;
        self.jar().get_url(&url, name)
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
        RequestBuilder::new(self, method, self.resolve(url))
    }

    /// The URL of `target` against the base URL, and its request URI; both are kept for
    /// the targets last used, as tests request the same few paths over and over.
    pub(super) fn resolve(&self, target: &str) -> Result<(Arc<Url>, Uri), Error> {
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

    /// Whether `url`'s host is one [`host_alias`](Self::host_alias) named.
    fn is_alias(&self, url: &Url) -> bool {
        !self.aliases.is_empty()
            && url
                .host_str()
                .is_some_and(|host| self.aliases.iter().any(|a| a == host))
    }

    /// Whether `url` is the app under test: the base URL's host (with its port, when the
    /// client talks over a socket) or an alias.
    pub(super) fn is_app(&self, url: &Url) -> bool {
        let same_host = url.host() == self.base.host()
            && (!self.transport.absolute_uri()
                || url.port_or_known_default() == self.base.port_or_known_default());
        same_host || self.is_alias(url)
    }

    /// The request URI: absolute for real HTTP, origin-form (`/path?query`) in-process.
    /// Over HTTP, a URL of an alias goes to the base URL's server.
    pub(super) fn uri_for(&self, url: &Url) -> Result<Uri, Error> {
        if self.transport.absolute_uri() && url.scheme() == "https" && !self.is_alias(url) {
            return Err(Error::HttpsNotSupported {
                url: url.to_string(),
            });
        }
        let uri = if self.transport.absolute_uri() && self.is_alias(url) {
            Uri::try_from(format!(
                "{}{}",
                &self.base[..Position::AfterPort],
                &url[Position::BeforePath..Position::AfterQuery]
            ))
        } else if self.transport.absolute_uri() {
            Uri::try_from(url.as_str())
        } else {
            Uri::try_from(&url[Position::BeforePath..Position::AfterQuery])
        };
        uri.map_err(|_| Error::UnsupportedUrl {
            url: url.to_string(),
        })
    }

    /// Stores the cookies a response to `url` sets.
    pub(super) fn store_cookies(&self, url: &Url, headers: &HeaderMap) {
        let mut jar = self.jar();
        for value in headers.get_all(header::SET_COOKIE) {
            if let Err(e) = jar.store_bytes(url, value.as_bytes()) {
                tracing::debug!(error = %e, %url, "cookie ignored");
            }
        }
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
