//! The request builder: headers, query, body and redirect policy of one request, and the
//! round trips that send it, follow its redirects and store the cookies of each response.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use url::Url;

use futures_util::FutureExt;
use futures_util::future::Either;

use super::client::{TestClient, is_safe};
use super::error::{Error, or_panic};
use super::exchange::{Call, Ended, Exchange};
use super::multipart::Multipart;
use super::response::TestResponse;
use super::transport::BoxError;
use super::xsrf::Xsrf;

/// The body of a request being built.
#[derive(Debug)]
enum Payload {
    Empty,
    Raw(Bytes),
    Form(String),
    Json(String),
    Multipart(Multipart),
}

impl Payload {
    /// The body's bytes and the `Content-Type` it implies.
    fn into_bytes(self) -> (Bytes, Option<HeaderValue>) {
        match self {
            Payload::Empty => (Bytes::new(), None),
            Payload::Raw(bytes) => (bytes, None),
            Payload::Form(form) => (
                Bytes::from(form),
                Some(HeaderValue::from_static(
                    "application/x-www-form-urlencoded",
                )),
            ),
            Payload::Json(json) => (
                Bytes::from(json),
                Some(HeaderValue::from_static("application/json")),
            ),
            Payload::Multipart(form) => {
                let (bytes, content_type) = form.encode();
                (bytes, HeaderValue::from_str(&content_type).ok())
            }
        }
    }
}

/// How [`RequestBuilder::query`], [`form`](RequestBuilder::form) and
/// [`json`](RequestBuilder::json) encode a value, and where it goes.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Query,
    Form,
    Json,
}

impl Encoding {
    /// What [`Error::Encode`] calls it.
    fn what(self) -> &'static str {
        match self {
            Encoding::Query => "query",
            Encoding::Form => "form",
            Encoding::Json => "JSON body",
        }
    }

    fn encode<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<String, BoxError> {
        Ok(match self {
            Encoding::Query | Encoding::Form => serde_urlencoded::to_string(value)?,
            Encoding::Json => serde_json::to_string(value)?,
        })
    }
}

/// Appends `more` (already encoded) to a query string.
fn append_query(query: &mut String, more: &str) {
    if !query.is_empty() && !more.is_empty() {
        query.push('&');
    }
    query.push_str(more);
}

/// A request being built; await it for a [`TestResponse`] (or call [`send`](Self::send)
/// for a `Result`).
///
/// Awaiting it panics when no response comes (a refused connection, a timeout), with the
/// file and line of the `.await` in the message.
#[must_use = "a request does nothing until it is awaited"]
#[derive(Debug)]
pub struct RequestBuilder<'c> {
    client: &'c TestClient,
    method: Method,
    /// The resolved URL and request URI (`None` when it could not be resolved: see `error`).
    target: Option<(Arc<Url>, Uri)>,
    headers: HeaderMap,
    /// Query parameters added by [`query`](Self::query), encoded (empty when none).
    query: String,
    body: Payload,
    timeout: Option<Duration>,
    max_redirects: Option<usize>,
    xsrf: bool,
    error: Option<Error>,
}

impl<'c> RequestBuilder<'c> {
    /// A request to `target` (or the error that resolving it gave).
    pub(super) fn new(
        client: &'c TestClient,
        method: Method,
        target: Result<(Arc<Url>, Uri), Error>,
    ) -> Self {
        let (target, error) = match target {
            Ok(target) => (Some(target), None),
            Err(e) => (None, Some(e)),
        };
        RequestBuilder {
            client,
            method,
            target,
            headers: HeaderMap::new(),
            query: String::new(),
            body: Payload::Empty,
            timeout: None,
            max_redirects: None,
            xsrf: true,
            error,
        }
    }

    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Adds a header (an invalid name or value makes the request fail when sent).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<BoxError>,
        V: TryInto<HeaderValue>,
        V::Error: Into<BoxError>,
    {
        let name = match name.try_into() {
            Ok(n) => n,
            Err(e) => {
                return self.fail(Error::InvalidHeader {
                    name: String::new(),
                    source: e.into(),
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
                source: e.into(),
            }),
        }
    }
    /// Adds query parameters (anything serde_urlencoded takes: pairs, maps, structs).
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        self.encoded(Encoding::Query, query)
    }
    /// Sends an `application/x-www-form-urlencoded` body.
    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        self.encoded(Encoding::Form, form)
    }
    /// Sends a JSON body (`application/json`).
    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> Self {
        self.encoded(Encoding::Json, json)
    }
    /// Encodes `value` and puts it where `encoding` says.
    fn encoded<T: serde::Serialize + ?Sized>(mut self, encoding: Encoding, value: &T) -> Self {
        let text = match encoding.encode(value) {
            Ok(text) => text,
            Err(source) => {
                return self.fail(Error::Encode {
                    what: encoding.what(),
                    source,
                });
            }
        };
        match encoding {
            Encoding::Query if self.query.is_empty() => self.query = text,
            Encoding::Query => append_query(&mut self.query, &text),
            Encoding::Form => self.body = Payload::Form(text),
            Encoding::Json => self.body = Payload::Json(text),
        }
        self
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
    ///
    /// Only redirects into the app are followed (see
    /// [`TestClient::host_alias`](super::TestClient::host_alias)): a redirect elsewhere
    /// ends the chain, and the response is that redirect.
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
    pub fn send(self) -> impl Future<Output = Result<TestResponse, Error>> + Send + 'c {
        self.exchange(|transport, request| transport.call(request))
            .map(|ended| ended.map(Ended::into_response))
    }

    /// Sends the request with `call` (the transport's whole-body or streaming call),
    /// following redirects if asked and storing the cookies of every response in the
    /// client's jar; the last response's body is as `call` gave it.
    ///
    /// The future is no bigger than the round trips' state (it is moved, and boxed by
    /// `.await`, once per request); a timeout boxes it once more.
    pub(super) fn exchange<B: Send + 'c>(
        self,
        call: Call<B>,
    ) -> impl Future<Output = Result<Ended<B>, Error>> + Send + 'c {
        let timeout = self.timeout.or(self.client.timeout);
        type Boxed<'c, B> = Pin<Box<dyn Future<Output = Result<Ended<B>, Error>> + Send + 'c>>;
        match (self.prepare(), timeout) {
            (Ok(exchange), None) => Either::Left(exchange.run(call)),
            (Ok(exchange), Some(after)) => {
                let (method, url) = (exchange.method.clone(), exchange.url.to_string());
                let timed = async move {
                    match tokio::time::timeout(after, exchange.run(call)).await {
                        Ok(result) => result,
                        Err(_) => Err(Error::Timeout { method, url, after }),
                    }
                };
                Either::Right(Box::pin(timed) as Boxed<'c, B>)
            }
            (Err(error), _) => {
                Either::Right(Box::pin(std::future::ready(Err(error))) as Boxed<'c, B>)
            }
        }
    }

    /// The request as its first round trip sends it: the query joined to the URL, the
    /// XSRF token added, the body encoded.
    fn prepare(self) -> Result<Exchange<'c>, Error> {
        let RequestBuilder {
            client,
            method,
            target,
            mut headers,
            query,
            mut body,
            timeout: _,
            max_redirects,
            xsrf,
            error,
        } = self;
        let (mut url, mut uri) = match (error, target) {
            (None, Some(target)) => target,
            (Some(error), _) => return Err(error),
            (None, None) => return Err(Error::UnsupportedUrl { url: String::new() }),
        };
        if !query.is_empty() {
            let joined = match url.query() {
                Some(q) if !q.is_empty() => {
                    let mut joined = q.to_owned();
                    append_query(&mut joined, &query);
                    joined
                }
                _ => query,
            };
            Arc::make_mut(&mut url).set_query(Some(&joined));
            uri = client.uri_for(&url)?;
        }
        if xsrf
            && !is_safe(&method)
            && client.page_is_same_origin(&url)
            && let Some(x) = &client.xsrf
        {
            let token = client.jar().get_url(&url, &x.cookie);
            if let Some(token) = token {
                add_xsrf(x, &token, &mut body, &mut headers);
            }
        }
        let (payload, content_type) = body.into_bytes();
        if let Some(content_type) = content_type
            && !headers.contains_key(header::CONTENT_TYPE)
        {
            headers.insert(header::CONTENT_TYPE, content_type);
        }
        Ok(Exchange {
            client,
            method,
            url,
            uri,
            headers,
            payload,
            max_redirects,
            redirects: Vec::new(),
        })
    }
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

    /// Sends the request; panics with the method, the URL, the reason and the place of the
    /// `.await` when no response came (use [`send`](RequestBuilder::send) for a `Result`).
    ///
    /// Rust cannot carry a caller's location into a future, so the panic itself is
    /// reported inside squall; its message names the test's line (`awaited at
    /// tests/login.rs:12:34`), which `#[track_caller]` records when `.await` starts.
    #[track_caller]
    fn into_future(self) -> Self::IntoFuture {
        let awaited_at = std::panic::Location::caller();
        Box::pin(
            self.send()
                .map(move |response| or_panic("TestClient", response, awaited_at)),
        )
    }
}
