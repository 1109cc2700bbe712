//! What a [`TestClient`](super::TestClient) request gives back: the status, headers and
//! whole body, the cookies the response set and the redirects it went through, with
//! chaining assertions whose failures explain themselves.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use url::Url;

use super::jar::parse_set_cookie;
use super::json_diff::{Mode, first_difference};

/// Why a response body could not be read as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not the JSON the caller asked for.
    #[error("{method} {url}: the body is not the JSON expected: {source}; body: {body}")]
    Json {
        /// The request method.
        method: Method,
        /// The URL of the response.
        url: String,
        /// The start of the body.
        body: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
}

/// One redirect that was followed: the request, the status and where it pointed.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// The method of the request that was redirected.
    pub method: Method,
    /// The URL of the request that was redirected.
    pub url: Url,
    /// The redirect status (301, 302, 303, 307 or 308).
    pub status: StatusCode,
    /// The `Location` header, as the server sent it.
    pub location: String,
    /// The `Set-Cookie` headers of the redirect response.
    pub set_cookies: Vec<String>,
}

/// A cookie that a response set, as read from its `Set-Cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value (empty for a deletion).
    pub value: String,
    /// The whole header.
    pub header: String,
}

/// A response to a [`TestClient`](super::TestClient) request: the status, headers and whole
/// body, the cookies it set and the redirects it went through, with chaining assertions.
///
/// A failed assertion panics with the method, the URL, the status and the start of the body:
///
/// ```should_panic
/// use axum::{Router, routing::get};
/// use squall::testing::TestClient;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = TestClient::new(Router::new().route("/", get(|| async { "hello stranger" })));
/// client.get("/").await
///     .assert_status(200)
///     .assert_contains("stranger")
///     .assert_contains("hi peterbe"); // panics:
/// // assert_contains failed: the body does not contain "hi peterbe"
/// //   request: GET http://localhost/
/// //   status: 200 OK
/// //   body (14 bytes): hello stranger
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub(crate) method: Method,
    pub(crate) url: Arc<Url>,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) redirects: Vec<Redirect>,
    /// A redirect off the app that was not followed.
    pub(crate) off_site: bool,
    /// The client that made the request, kept for an HTML page (its forms and links).
    pub(crate) client: Option<Box<super::TestClient>>,
}

const BODY_SHOWN: usize = 600;

impl TestResponse {
    /// The status code; compares with a number: `assert_eq!(r.status(), 302)`.
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
    /// The body as text (invalid UTF-8 replaced by U+FFFD).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body as bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }
    /// The URL of this response (after redirects, the last one).
    pub fn url(&self) -> &Url {
        &self.url
    }
    /// The method of the request that got this response.
    pub fn method(&self) -> &Method {
        &self.method
    }
    /// The redirects followed to get here, first first (empty unless asked to follow).
    pub fn redirects(&self) -> &[Redirect] {
        &self.redirects
    }
    /// Where this response redirects to: its `Location` resolved against its URL, when it
    /// is a redirect (301, 302, 303, 307 or 308) with a `Location` that resolves.
    ///
    /// After [`follow_redirects`](super::RequestBuilder::follow_redirects), a response that
    /// still has a target is one the client did not follow: it pointed off the app (see
    /// [`TestClient::host_alias`](super::TestClient::host_alias)).
    pub fn redirect_target(&self) -> Option<Url> {
        if !matches!(self.status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            return None;
        }
        self.url.join(self.header("location")?).ok()
    }
    /// The body read as JSON into `T`, or why it could not be.
    pub fn try_json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|source| Error::Json {
            method: self.method.clone(),
            url: self.url.to_string(),
            body: trimmed(&self.body),
            source,
        })
    }
    /// The body read as JSON into `T`.
    ///
    /// # Panics
    /// When the body is not such JSON, with the request and the body in the message.
    #[track_caller]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        match self.try_json() {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }
    /// The cookies set by this response and by the redirects before it, in order.
    /// Malformed `Set-Cookie` headers are left out.
    pub fn cookies(&self) -> Vec<SetCookie> {
        let hops = self
            .redirects
            .iter()
            .flat_map(|r| r.set_cookies.iter().map(String::as_str));
        let here = self
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        hops.chain(here)
            .filter_map(|h| {
                let c = parse_set_cookie(h).ok()?;
                Some(SetCookie {
                    name: c.name.to_owned(),
                    value: c.value.to_owned(),
                    header: h.to_owned(),
                })
            })
            .collect()
    }
    /// The last value this response (or a redirect before it) set for cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .into_iter()
            .rev()
            .find(|c| c.name == name)
            .map(|c| c.value)
    }

    #[track_caller]
    pub(super) fn fail(&self, what: fmt::Arguments<'_>) -> ! {
        panic!("{what}\n{}", self.describe())
    }

    fn describe(&self) -> String {
        let mut s = String::new();
        for hop in &self.redirects {
            let _ = writeln!(
                s,
                "  redirected: {} {} -> {} {}",
                hop.method, hop.url, hop.status, hop.location
            );
        }
        let _ = writeln!(s, "  request: {} {}", self.method, self.url);
        let _ = writeln!(s, "  status: {}", self.status);
        if let Some(location) = self.header("location") {
            let _ = writeln!(s, "  location: {location}");
        }
        if self.off_site {
            let _ = writeln!(
                s,
                "  (a redirect off the app is not followed; TestClient::host_alias names other hosts of the app)"
            );
        }
        let _ = write!(
            s,
            "  body ({} bytes): {}",
            self.body.len(),
            trimmed(&self.body)
        );
        s
    }

    /// Asserts the status code.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        if self.status.as_u16() != status {
            self.fail(format_args!(
                "assert_status failed: expected {status}, got {}",
                self.status.as_u16()
            ));
        }
        self
    }
    /// Asserts that header `name` is present with exactly `value`.
    #[track_caller]
    pub fn assert_header(&self, name: &str, value: &str) -> &Self {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if !values.contains(&value) {
            self.fail(format_args!(
                "assert_header failed: expected {name}: {value:?}, got {values:?}"
            ));
        }
        self
    }
    /// Asserts that the body contains `text`.
    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &Self {
        if !contains(&self.body, text.as_bytes()) {
            self.fail(format_args!(
                "assert_contains failed: the body does not contain {text:?}"
            ));
        }
        self
    }
    /// Asserts that the body does not contain `text`.
    #[track_caller]
    pub fn assert_not_contains(&self, text: &str) -> &Self {
        if contains(&self.body, text.as_bytes()) {
            self.fail(format_args!(
                "assert_not_contains failed: the body contains {text:?}"
            ));
        }
        self
    }
    /// Asserts a redirect to `location` (as sent, or resolved against the request URL):
    /// this response is a redirect there, or the last redirect followed pointed there.
    #[track_caller]
    pub fn assert_redirect_to(&self, location: &str) -> &Self {
        let (from, got) = if self.status.is_redirection() {
            (&*self.url, self.header("location"))
        } else if let Some(hop) = self.redirects.last() {
            (&hop.url, Some(hop.location.as_str()))
        } else {
            self.fail(format_args!(
                "assert_redirect_to failed: expected a redirect to {location:?}, got none"
            ))
        };
        let same = |got: &str| {
            got == location
                || match (from.join(got), from.join(location)) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                }
        };
        if !got.is_some_and(same) {
            self.fail(format_args!(
                "assert_redirect_to failed: expected a redirect to {location:?}, got {got:?}"
            ));
        }
        self
    }
    /// Asserts that the body is JSON equal to `expected`.
    ///
    /// A failure names the first place the two differ as a JSON path, with both sides
    /// there: `assert_json failed at $.user.roles[2]: expected "owner", got "admin"`, then
    /// the request, the status and the body.
    #[track_caller]
    pub fn assert_json<T: serde::Serialize + ?Sized>(&self, expected: &T) -> &Self {
        self.json_matches("assert_json", expected, Mode::Equal)
    }
    /// Asserts that the body is JSON that includes `expected`.
    ///
    /// Objects match as subsets: every key of an expected object must be in the body's
    /// object, with a value that includes the expected value; keys the expected object does
    /// not name are ignored, at any depth. Arrays match element by element and must have
    /// the same length: each expected element is included in the body's element at the
    /// same index, and an extra or a missing element is a difference. Other values must be
    /// equal. The body may be any JSON value, a top-level array too.
    ///
    /// A failure names the first difference as a JSON path with both sides, as
    /// [`assert_json`](Self::assert_json) does:
    /// `assert_json_include failed at $.items[1].name: expected "b", got "c"`.
    #[track_caller]
    pub fn assert_json_include<T: serde::Serialize + ?Sized>(&self, expected: &T) -> &Self {
        self.json_matches("assert_json_include", expected, Mode::Include)
    }

    #[track_caller]
    fn json_matches<T: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        expected: &T,
        mode: Mode,
    ) -> &Self {
        let expected = match serde_json::to_value(expected) {
            Ok(v) => v,
            Err(e) => self.fail(format_args!(
                "{name} failed: the expected value is not JSON: {e}"
            )),
        };
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(got) => {
                if let Some(d) = first_difference(&expected, &got, mode) {
                    self.fail(format_args!(
                        "{name} failed at {}: expected {}, got {}",
                        d.path, d.expected, d.got
                    ))
                }
            }
            Err(e) => self.fail(format_args!("{name} failed: the body is not JSON ({e})")),
        }
        self
    }
    /// Asserts that this response (or a redirect before it) set cookie `name` to `value`.
    #[track_caller]
    pub fn assert_cookie(&self, name: &str, value: &str) -> &Self {
        match self.cookie(name) {
            Some(v) if v == value => {}
            got => self.fail(format_args!(
                "assert_cookie failed: expected cookie {name}={value:?}, got {got:?}"
            )),
        }
        self
    }
}

/// Whether `needle` occurs in `haystack` (an empty needle always does).
pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The start of a body as text, cut at a character boundary.
pub(super) fn trimmed(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.len() <= BODY_SHOWN {
        return text.to_owned();
    }
    let mut end = BODY_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}
