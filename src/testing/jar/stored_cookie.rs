//! One cookie as the jar keeps it: the fields of RFC 6265's storage model, and the
//! `SameSite` attribute.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `SameSite` attribute of a stored cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None`.
    None,
}

/// Where a request comes from, which decides whether `SameSite` cookies go along
/// (RFC 6265bis section 5.8.3, as browsers apply it).
///
/// `Strict` cookies go only on same-site requests; `Lax` cookies also on a cross-site
/// top-level navigation with a safe method (a link followed, a GET form); `None` cookies
/// (which must be `Secure`) and cookies without the attribute go on every request, as in
/// Firefox and Safari (Chrome treats the latter as `Lax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestSite {
    /// From a page of the same site as the URL (or typed into the address bar): every
    /// cookie goes.
    SameSite,
    /// A top-level navigation with a GET or HEAD from a page of another site: `Lax` and
    /// `None` cookies go, `Strict` ones do not.
    CrossSiteNavigation,
    /// Any other request from a page of another site (a POST form, a script's request, an
    /// image): neither `Strict` nor `Lax` cookies go.
    CrossSite,
}

impl RequestSite {
    /// The site of a navigation to `to` with `method` from a page at `from`: the same site
    /// when both have the same scheme and registrable domain (schemeful same-site), else a
    /// cross-site navigation for GET and HEAD and a cross-site request for other methods.
    pub fn for_navigation(from: &url::Url, to: &url::Url, method: &http::Method) -> Self {
        if super::rules::same_site(from, to) {
            RequestSite::SameSite
        } else if matches!(*method, http::Method::GET | http::Method::HEAD) {
            RequestSite::CrossSiteNavigation
        } else {
            RequestSite::CrossSite
        }
    }

    /// Whether a cookie with this `SameSite` attribute goes on such a request.
    pub(super) fn allows(self, same_site: Option<SameSite>) -> bool {
        match (self, same_site) {
            (RequestSite::SameSite, _) | (_, None | Some(SameSite::None)) => true,
            (RequestSite::CrossSiteNavigation, Some(SameSite::Lax)) => true,
            (_, Some(SameSite::Strict | SameSite::Lax)) => false,
        }
    }
}

/// One cookie in the jar, with the fields of RFC 6265's storage model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCookie {
    pub(super) name: String,
    pub(super) value: String,
    pub(super) domain: String,
    pub(super) path: String,
    pub(super) host_only: bool,
    pub(super) secure: bool,
    pub(super) http_only: bool,
    pub(super) same_site: Option<SameSite>,
    pub(super) expires: Option<SystemTime>,
    /// When the jar stored it; with `seq`, the order the `Cookie` header lists cookies in.
    pub(super) creation: SystemTime,
    pub(super) seq: u64,
}

impl StoredCookie {
    /// A host-only session cookie for `host` with path `/`, to be put in a jar with
    /// [`CookieJar::insert`](super::CookieJar::insert). `host` is lower-cased. For any
    /// other path, scope or flag, use [`builder`](Self::builder).
    pub fn new(name: impl Into<String>, value: impl Into<String>, host: &str) -> Self {
        StoredCookie {
            name: name.into(),
            value: value.into(),
            domain: host.trim_start_matches('.').to_ascii_lowercase(),
            path: "/".to_owned(),
            host_only: true,
            secure: false,
            http_only: false,
            same_site: None,
            expires: None,
            creation: UNIX_EPOCH,
            seq: 0,
        }
    }

    /// Builds a cookie for `host` attribute by attribute:
    ///
    /// ```
    /// use squall::testing::{CookieJar, StoredCookie};
    ///
    /// let mut jar = CookieJar::new();
    /// jar.insert(
    ///     StoredCookie::builder("sid", "42", "example.com")
    ///         .path("/app")
    ///         .subdomains()
    ///         .secure(true)
    ///         .build(),
    /// );
    /// assert_eq!(jar.header_for("https://www.example.com/app/x").as_deref(), Some("sid=42"));
    /// assert_eq!(jar.header_for("http://www.example.com/app/x"), None); // Secure
    /// ```
    pub fn builder(
        name: impl Into<String>,
        value: impl Into<String>,
        host: &str,
    ) -> StoredCookieBuilder {
        StoredCookieBuilder(StoredCookie::new(name, value, host))
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The cookie's value, as the server sent it (no decoding).
    pub fn value(&self) -> &str {
        &self.value
    }
    /// The domain: the request host for a host-only cookie, else the `Domain` attribute.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The path the cookie is sent to (and below).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// Whether the cookie goes only to exactly its domain (no `Domain` attribute was given).
    pub fn host_only(&self) -> bool {
        self.host_only
    }
    /// Whether the cookie is sent only over secure connections.
    pub fn secure(&self) -> bool {
        self.secure
    }
    /// Whether the cookie had `HttpOnly` (kept; an HTTP client sends it anyway).
    pub fn http_only(&self) -> bool {
        self.http_only
    }
    /// The `SameSite` attribute, if one was given.
    pub fn same_site(&self) -> Option<SameSite> {
        self.same_site
    }
    /// When the cookie expires; `None` for a session cookie.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires
    }
    /// The cookie as a [`cookie::Cookie`], with its attributes (`Domain` only when the
    /// cookie is not host-only), for code that works with the `cookie` crate.
    pub fn to_cookie(&self) -> cookie::Cookie<'static> {
        let mut c = cookie::Cookie::new(self.name.clone(), self.value.clone());
        c.set_path(self.path.clone());
        if !self.host_only {
            c.set_domain(self.domain.clone());
        }
        c.set_secure(self.secure);
        c.set_http_only(self.http_only);
        c.set_same_site(self.same_site.map(|s| match s {
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::None => cookie::SameSite::None,
        }));
        if let Some(expires) = self.expires {
            // Clamped to the year 9999, the last that `time` holds.
            c.set_expires(cookie::time::OffsetDateTime::from(
                expires.min(far_future()),
            ));
        }
        c
    }
    pub(super) fn is_expired(&self, now: SystemTime) -> bool {
        matches!(self.expires, Some(t) if t <= now)
    }
}

/// Stands for "later than anything": the end of year 9999 (or what the platform can hold).
pub(super) fn far_future() -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(253_402_300_799))
        .or_else(|| UNIX_EPOCH.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(UNIX_EPOCH)
}

/// Builds a [`StoredCookie`]; see [`StoredCookie::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct StoredCookieBuilder(StoredCookie);

impl StoredCookieBuilder {
    /// Sets the path (a path not starting with `/` becomes `/`).
    pub fn path(mut self, path: &str) -> Self {
        self.0.path = if path.starts_with('/') {
            path.to_owned()
        } else {
            "/".to_owned()
        };
        self
    }
    /// Sends the cookie to subdomains of its domain too (as a `Domain` attribute does).
    pub fn subdomains(mut self) -> Self {
        self.0.host_only = false;
        self
    }
    /// Marks the cookie `Secure` (sent over https only).
    pub fn secure(mut self, secure: bool) -> Self {
        self.0.secure = secure;
        self
    }
    /// Marks the cookie `HttpOnly`.
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.0.http_only = http_only;
        self
    }
    /// Sets the `SameSite` attribute.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.0.same_site = Some(same_site);
        self
    }
    /// Sets the expiry time (a persistent cookie); `None` makes it a session cookie.
    pub fn expires(mut self, expires: Option<SystemTime>) -> Self {
        self.0.expires = expires;
        self
    }
    /// The cookie.
    pub fn build(self) -> StoredCookie {
        self.0
    }
}
