//! The test client's error: why a request could not be made or got no response, with
//! the predicate a retry needs.

use std::time::Duration;

use http::Method;

use super::transport::{self, BoxError};

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
    /// An https URL over real HTTP: the client speaks plain HTTP only (no TLS). Test the
    /// app in-process ([`TestClient::new`](super::TestClient::new), where https URLs go
    /// to the app) or serve it over plain HTTP
    /// ([`TestClient::serve`](super::TestClient::serve)).
    #[error(
        "{url}: https is not supported; the test client speaks plain HTTP only \
         (use TestClient::new for the app in-process, or serve it over http)"
    )]
    HttpsNotSupported {
        /// The URL.
        url: String,
    },
    /// A header name or value given to the request builder is not valid.
    #[error("invalid header {name:?}: {source}")]
    InvalidHeader {
        /// The header name (empty when the name itself is not valid).
        name: String,
        /// What is wrong.
        source: BoxError,
    },
    /// The query, form or JSON body could not be serialised.
    #[error("could not encode the {what}: {source}")]
    Encode {
        /// `query`, `form` or `JSON body`.
        what: &'static str,
        /// What the serialiser said.
        source: BoxError,
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

/// The value, or a panic naming `who` (`TestClient`), the error and the test's line that
/// awaited it. Rust cannot carry a caller's location into a future, so `#[track_caller]`
/// records it when the `.await` starts and the future brings it here.
pub(crate) fn or_panic<T, E: std::fmt::Display>(
    who: &str,
    result: Result<T, E>,
    awaited_at: &std::panic::Location<'_>,
) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("squall {who}: {e}\n  awaited at {awaited_at}"),
    }
}
