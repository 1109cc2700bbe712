//! A cookie jar that stores and sends cookies the way a browser does (RFC 6265, section 5).
//!
//! [`CookieJar::store`] takes the URL a response came from and one `Set-Cookie` header
//! value; [`CookieJar::header_for`] gives the `Cookie` header a browser would send to a URL.
//! Domain matching, host-only cookies, default paths, `Max-Age` over `Expires` (read with
//! the cookie-date algorithm of section 5.1.1), deletion by expiry, `Secure` cookies only
//! over https or to loopback hosts, the `__Host-` and `__Secure-` prefixes of RFC 6265bis
//! and the refusal of cookies for a public suffix are all applied. The clock can be
//! injected, so expiry can be tested without waiting.
//!
//! ```
//! use squall::testing::CookieJar;
//!
//! let mut jar = CookieJar::new();
//! jar.store("https://www.example.com/account/login", "sid=abc; Path=/; Secure; HttpOnly")?;
//! jar.store("https://www.example.com/account/login", "lang=en")?; // default path: /account
//! jar.store("https://www.example.com/", "theme=dark; Domain=example.com")?;
//!
//! assert_eq!(
//!     jar.header_for("https://www.example.com/account/settings").as_deref(),
//!     Some("lang=en; sid=abc; theme=dark"),
//! );
//! assert_eq!(jar.header_for("http://www.example.com/").as_deref(), Some("theme=dark"));
//! assert_eq!(jar.header_for("https://example.org/"), None);
//!
//! // The server deletes a cookie with a date in the past.
//! jar.store("https://www.example.com/", "theme=; Domain=example.com; Expires=Thursday, 01-Jan-1970 00:00:00 GMT")?;
//! assert_eq!(jar.get("https://www.example.com/", "theme"), None);
//! # Ok::<(), squall::testing::jar::Error>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::{Host, Url};

/// Why a `Set-Cookie` header was not stored, or why a URL could not be used.
///
/// A browser ignores such cookies silently; the test client does too, and logs the reason
/// with `tracing` at debug level.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed.
    #[error("invalid URL {url:?}: {source}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What the URL parser said.
        source: url::ParseError,
    },
    /// The URL has no host, or a scheme that carries no cookies (only http and https do).
    #[error("URL {url} cannot carry cookies (only http and https URLs with a host can)")]
    NoCookieUrl {
        /// The URL.
        url: String,
    },
    /// The header is not a cookie: no `=` in the name-value pair, an empty name, or bytes
    /// that are not text.
    #[error("malformed Set-Cookie header {header:?}: {reason}")]
    Malformed {
        /// The header, as text.
        header: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `Domain` attribute does not domain-match the host the cookie came from.
    #[error(
        "cookie {name:?} from host {host} is for domain {domain}, which does not domain-match it"
    )]
    DomainMismatch {
        /// The cookie's name.
        name: String,
        /// The request host.
        host: String,
        /// The `Domain` attribute.
        domain: String,
    },
    /// The `Domain` attribute is a public suffix such as `com` or `co.uk`.
    #[error("cookie {name:?} is for the public suffix {domain}, refused")]
    PublicSuffix {
        /// The cookie's name.
        name: String,
        /// The `Domain` attribute.
        domain: String,
    },
    /// A `Secure` cookie came over an insecure connection, or an insecure response tried to
    /// overwrite a `Secure` cookie.
    #[error("cookie {name:?}: Secure cookies can only be set over https or to a loopback host")]
    Insecure {
        /// The cookie's name.
        name: String,
    },
    /// A `__Secure-` or `__Host-` cookie broke the rules of its prefix.
    #[error("cookie {name:?} breaks the rules of its prefix: {rule}")]
    Prefix {
        /// The cookie's name.
        name: String,
        /// The rule it broke.
        rule: &'static str,
    },
}

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

/// One cookie in the jar, with the fields of RFC 6265's storage model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCookie {
    name: String,
    value: String,
    domain: String,
    path: String,
    host_only: bool,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
    expires: Option<SystemTime>,
    creation: SystemTime,
    seq: u64,
}

impl StoredCookie {
    /// A host-only session cookie for `host` with path `/`, to be put in a jar with
    /// [`CookieJar::insert`]. `host` is lower-cased; the builder methods change the rest.
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
    /// Sets the path (a path not starting with `/` becomes `/`).
    pub fn with_path(mut self, path: &str) -> Self {
        self.path = if path.starts_with('/') {
            path.to_owned()
        } else {
            "/".to_owned()
        };
        self
    }
    /// Sends the cookie to subdomains of its domain too (as a `Domain` attribute does).
    pub fn with_subdomains(mut self) -> Self {
        self.host_only = false;
        self
    }
    /// Marks the cookie `Secure`.
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }
    /// Marks the cookie `HttpOnly`.
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }
    /// Sets the expiry time (a persistent cookie); `None` makes it a session cookie.
    pub fn with_expires(mut self, expires: Option<SystemTime>) -> Self {
        self.expires = expires;
        self
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
    fn is_expired(&self, now: SystemTime) -> bool {
        matches!(self.expires, Some(t) if t <= now)
    }
}

/// Where the jar reads the time from.
type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

fn read_clock(clock: &Option<Clock>) -> SystemTime {
    match clock {
        Some(clock) => clock(),
        None => SystemTime::now(),
    }
}

/// A browser's cookie store: see the [module documentation](self).
#[derive(Clone, Default)]
pub struct CookieJar {
    cookies: Vec<StoredCookie>,
    clock: Option<Clock>,
    seq: u64,
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieJar")
            .field("cookies", &self.cookies)
            .finish_non_exhaustive()
    }
}

/// A URL reduced to what cookies need.
pub(crate) struct Target<'a> {
    host: &'a str,
    is_ip: bool,
    path: &'a str,
    secure: bool,
}

impl<'a> Target<'a> {
    pub(crate) fn new(url: &'a Url) -> Option<Target<'a>> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let (host, is_ip, loopback) = match url.host()? {
            Host::Domain(d) => (d, false, d == "localhost" || d.ends_with(".localhost")),
            Host::Ipv4(ip) => (url.host_str()?, true, ip.is_loopback()),
            Host::Ipv6(ip) => (url.host_str()?, true, IpAddr::V6(ip).is_loopback()),
        };
        Some(Target {
            host,
            is_ip,
            path: url.path(),
            secure: https || loopback,
        })
    }
}

fn parse_url(url: &str) -> Result<Url, Error> {
    Url::parse(url).map_err(|source| Error::InvalidUrl {
        url: url.to_owned(),
        source,
    })
}

impl CookieJar {
    /// An empty jar that reads the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty jar that reads the time from `clock`, for tests of expiry.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::{Duration, SystemTime};
    /// use squall::testing::CookieJar;
    ///
    /// let now = Arc::new(Mutex::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)));
    /// let clock = now.clone();
    /// let mut jar = CookieJar::with_clock(move || *clock.lock().unwrap());
    /// jar.store("http://example.com/", "a=1; Max-Age=60")?;
    /// assert!(jar.get("http://example.com/", "a").is_some());
    /// *now.lock().unwrap() += Duration::from_secs(61);
    /// assert!(jar.get("http://example.com/", "a").is_none());
    /// # Ok::<(), squall::testing::jar::Error>(())
    /// ```
    pub fn with_clock(clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        CookieJar {
            cookies: Vec::new(),
            clock: Some(Arc::new(clock)),
            seq: 0,
        }
    }

    fn now(&self) -> SystemTime {
        read_clock(&self.clock)
    }

    /// The time to check expiry against: no cookie can have expired when none has an
    /// expiry time, and then the clock is not read.
    fn now_for_expiry(&self) -> SystemTime {
        if self.cookies.iter().any(|c| c.expires.is_some()) {
            self.now()
        } else {
            UNIX_EPOCH
        }
    }

    /// Stores one `Set-Cookie` header value received from `url`, as a browser would.
    ///
    /// A cookie whose expiry is in the past deletes the stored cookie of the same name,
    /// domain and path. The error says why a cookie was refused; a browser ignores it.
    pub fn store(&mut self, url: &str, set_cookie: &str) -> Result<(), Error> {
        let url = parse_url(url)?;
        self.store_url(&url, set_cookie)
    }

    /// [`store`](Self::store) with a parsed URL.
    pub fn store_url(&mut self, url: &Url, set_cookie: &str) -> Result<(), Error> {
        let target = Target::new(url).ok_or_else(|| Error::NoCookieUrl {
            url: url.as_str().to_owned(),
        })?;
        self.store_target(&target, set_cookie)
    }

    /// Stores a raw header value, which need not be text: bytes that are not UTF-8 make the
    /// header malformed.
    pub(crate) fn store_bytes(&mut self, url: &Url, set_cookie: &[u8]) -> Result<(), Error> {
        match std::str::from_utf8(set_cookie) {
            Ok(s) => self.store_url(url, s),
            Err(e) => Err(Error::Malformed {
                header: String::from_utf8_lossy(set_cookie).into_owned(),
                reason: e.to_string(),
            }),
        }
    }

    fn store_target(&mut self, req: &Target<'_>, header: &str) -> Result<(), Error> {
        // The clock is read only when needed (an expiry, or a new cookie's creation time).
        let mut now_cell: Option<SystemTime> = None;
        let mut now = || *now_cell.get_or_insert_with(|| read_clock(&self.clock));
        let parsed = parse_set_cookie(header).map_err(|reason| Error::Malformed {
            header: header.to_owned(),
            reason: reason.to_owned(),
        })?;
        let name = parsed.name;

        // Section 5.3 step 3: Max-Age wins over Expires, else a session cookie.
        let expires = match parsed.max_age {
            Some(secs) if secs <= 0 => Some(UNIX_EPOCH),
            Some(secs) => Some(
                now()
                    .checked_add(Duration::from_secs(secs.unsigned_abs()))
                    .map_or_else(far_future, |t| t.min(far_future())),
            ),
            None => parsed.expires,
        };

        // Step 4: the Domain attribute (one leading dot stripped), lower-cased.
        let domain_attr = parsed.domain.map(|d| {
            if d.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(d.to_ascii_lowercase())
            } else {
                Cow::Borrowed(d)
            }
        });
        // Step 5: a public suffix is refused, unless it is the request host itself.
        let (domain, host_only) = match domain_attr {
            Some(d) if is_public_suffix(&d) => {
                if d == req.host {
                    (d, true)
                } else {
                    return Err(Error::PublicSuffix {
                        name: name.to_owned(),
                        domain: d.into_owned(),
                    });
                }
            }
            Some(d) => {
                if !domain_match(req.host, req.is_ip, &d) {
                    return Err(Error::DomainMismatch {
                        name: name.to_owned(),
                        host: req.host.to_owned(),
                        domain: d.into_owned(),
                    });
                }
                (d, false)
            }
            None => (Cow::Borrowed(req.host), true),
        };
        let domain: &str = &domain;

        // Step 7: Path, else the default path.
        let path = parsed.path.unwrap_or_else(|| default_path(req.path));

        let secure = parsed.secure;
        if secure && !req.secure {
            return Err(Error::Insecure {
                name: name.to_owned(),
            });
        }
        check_prefixes(name, secure, req.secure, parsed.domain.is_some(), path)?;

        // RFC 6265bis 5.6 step 16: an insecure response cannot overwrite a Secure cookie.
        if !req.secure
            && self.cookies.iter().any(|c| {
                c.secure
                    && c.name == name
                    && (domain_match(&c.domain, false, domain)
                        || domain_match(domain, false, &c.domain))
                    && path_match(path, &c.path)
            })
        {
            return Err(Error::Insecure {
                name: name.to_owned(),
            });
        }

        let (same_site, http_only) = (parsed.same_site, parsed.http_only);
        let expired = matches!(expires, Some(t) if t <= now());

        // Step 11: replace the old cookie in place, keeping its creation time.
        if let Some(i) = self
            .cookies
            .iter()
            .position(|c| c.name == name && c.domain == domain && c.path == path)
        {
            if expired {
                tracing::debug!(name, "cookie deleted by expiry");
                self.cookies.remove(i);
                return Ok(());
            }
            let old = &mut self.cookies[i];
            old.value.clear();
            old.value.push_str(parsed.value);
            old.host_only = host_only;
            old.secure = secure;
            old.http_only = http_only;
            old.same_site = same_site;
            old.expires = expires;
            return Ok(());
        }
        if expired {
            return Ok(());
        }
        self.cookies.push(StoredCookie {
            name: name.to_owned(),
            value: parsed.value.to_owned(),
            domain: domain.to_owned(),
            path: path.to_owned(),
            host_only,
            secure,
            http_only,
            same_site,
            expires,
            creation: now(),
            seq: self.seq,
        });
        self.seq += 1;
        Ok(())
    }

    /// Puts a cookie in the jar as it is, replacing one with the same name, domain and path.
    pub fn insert(&mut self, mut cookie: StoredCookie) {
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        cookie.creation = self.now();
        cookie.seq = self.seq;
        self.seq += 1;
        self.cookies.push(cookie);
    }

    /// Removes the cookies called `name` for `domain` (any path); says whether any was there.
    pub fn remove(&mut self, domain: &str, name: &str) -> bool {
        let before = self.cookies.len();
        let domain = domain.trim_start_matches('.').to_ascii_lowercase();
        self.cookies
            .retain(|c| !(c.name == name && c.domain == domain));
        before != self.cookies.len()
    }

    /// Empties the jar.
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    /// The cookies that have not expired, in the order they were stored.
    pub fn list(&self) -> Vec<StoredCookie> {
        let now = self.now();
        let mut all: Vec<StoredCookie> = self
            .cookies
            .iter()
            .filter(|c| !c.is_expired(now))
            .cloned()
            .collect();
        all.sort_by_key(|c| (c.creation, c.seq));
        all
    }

    /// The `Cookie` header a browser would send to `url`, or `None` when no cookie applies
    /// (or the URL cannot carry cookies).
    pub fn header_for(&self, url: &str) -> Option<String> {
        self.header_for_url(&Url::parse(url).ok()?)
    }

    /// [`header_for`](Self::header_for) with a parsed URL.
    pub fn header_for_url(&self, url: &Url) -> Option<String> {
        let target = Target::new(url)?;
        let now = self.now_for_expiry();
        // The usual case of one cookie needs no list to sort.
        let mut applying = self
            .cookies
            .iter()
            .filter(|c| self.applies(c, &target, now));
        let first = applying.next()?;
        if applying.next().is_none() {
            let mut header = String::with_capacity(first.name.len() + first.value.len() + 1);
            header.push_str(&first.name);
            header.push('=');
            header.push_str(&first.value);
            return Some(header);
        }
        let mut matching = self.matching(&target, now);
        // Section 5.4 step 2: longer paths first, then earlier creation times first.
        matching.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then((a.creation, a.seq).cmp(&(b.creation, b.seq)))
        });
        let mut header = String::with_capacity(
            matching
                .iter()
                .map(|c| c.name.len() + c.value.len() + 2)
                .sum(),
        );
        for (i, c) in matching.iter().enumerate() {
            if i > 0 {
                header.push_str("; ");
            }
            header.push_str(&c.name);
            header.push('=');
            header.push_str(&c.value);
        }
        Some(header)
    }

    /// The value of the cookie `name` that would be sent to `url`.
    pub fn get(&self, url: &str, name: &str) -> Option<String> {
        self.get_url(&Url::parse(url).ok()?, name)
    }

    /// [`get`](Self::get) with a parsed URL.
    pub fn get_url(&self, url: &Url, name: &str) -> Option<String> {
        let target = Target::new(url)?;
        let now = self.now_for_expiry();
        let mut best: Option<&StoredCookie> = None;
        for c in self.cookies.iter().filter(|c| c.name == name) {
            if self.applies(c, &target, now)
                && best.is_none_or(|b| {
                    c.path.len() > b.path.len()
                        || (c.path.len() == b.path.len()
                            && (c.creation, c.seq) < (b.creation, b.seq))
                })
            {
                best = Some(c);
            }
        }
        best.map(|c| c.value.clone())
    }

    fn applies(&self, c: &StoredCookie, t: &Target<'_>, now: SystemTime) -> bool {
        let domain_ok = if c.host_only {
            c.domain == t.host
        } else {
            domain_match(t.host, t.is_ip, &c.domain)
        };
        domain_ok && path_match(t.path, &c.path) && (!c.secure || t.secure) && !c.is_expired(now)
    }

    fn matching(&self, t: &Target<'_>, now: SystemTime) -> Vec<&StoredCookie> {
        self.cookies
            .iter()
            .filter(|c| self.applies(c, t, now))
            .collect()
    }

    /// Drops the cookies that have expired.
    pub fn purge_expired(&mut self) {
        let now = self.now();
        self.cookies.retain(|c| !c.is_expired(now));
    }
}

/// Stands for "later than anything": the end of year 9999 (or what the platform can hold).
fn far_future() -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(253_402_300_799))
        .or_else(|| UNIX_EPOCH.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(UNIX_EPOCH)
}

/// A `Set-Cookie` header read with the parsing algorithm of RFC 6265 section 5.2.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ParsedSetCookie<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a str,
    /// The last valid `Expires`.
    pub(crate) expires: Option<SystemTime>,
    /// The last valid `Max-Age`, in seconds.
    pub(crate) max_age: Option<i64>,
    /// The last non-empty `Domain`, one leading dot stripped (not yet lower-cased).
    pub(crate) domain: Option<&'a str>,
    /// The last `Path`, if it was absolute (a later relative one resets it).
    pub(crate) path: Option<&'a str>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: Option<SameSite>,
}

/// RFC 6265 section 5.2 (with RFC 6265bis' refusal of control characters): the header, or
/// why it is ignored. Borrows from the header; allocates nothing.
pub(crate) fn parse_set_cookie(header: &str) -> Result<ParsedSetCookie<'_>, &'static str> {
    let bytes = header.as_bytes();
    if bytes.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err("control character");
    }
    let mut segments = Segments { rest: Some(header) };
    let pair = segments.next().unwrap_or("");
    let (name, value) = split_pair(pair).ok_or("no '=' in the name-value pair")?;
    if name.is_empty() {
        return Err("empty cookie name");
    }
    let mut c = ParsedSetCookie {
        name,
        value,
        ..ParsedSetCookie::default()
    };
    for av in segments {
        let (key, value) = split_pair(av).unwrap_or((trim_wsp(av), ""));
        let is = |k: &str| key.eq_ignore_ascii_case(k);
        match key.len() {
            4 if is("path") => {
                c.path = if value.starts_with('/') {
                    Some(value)
                } else {
                    None
                }
            }
            6 if is("secure") => c.secure = true,
            6 if is("domain") => {
                let domain = value.strip_prefix('.').unwrap_or(value);
                if !domain.is_empty() {
                    c.domain = Some(domain);
                }
            }
            7 if is("expires") => {
                if let Some(t) = parse_cookie_date(value) {
                    c.expires = Some(t);
                }
            }
            7 if is("max-age") => {
                let digits = value.strip_prefix('-').unwrap_or(value);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    // Too many digits saturate, as "a very long time" (or "long ago").
                    let secs = digits.parse::<i64>().unwrap_or(i64::MAX);
                    c.max_age = Some(if value.starts_with('-') { -secs } else { secs });
                }
            }
            8 if is("httponly") => c.http_only = true,
            8 if is("samesite") => {
                if value.eq_ignore_ascii_case("strict") {
                    c.same_site = Some(SameSite::Strict);
                } else if value.eq_ignore_ascii_case("lax") {
                    c.same_site = Some(SameSite::Lax);
                } else if value.eq_ignore_ascii_case("none") {
                    c.same_site = Some(SameSite::None);
                }
            }
            _ => {}
        }
    }
    Ok(c)
}

/// The `;`-separated parts of a header.
struct Segments<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b';') {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// `name=value`, each trimmed of spaces and tabs; `None` without `=`.
fn split_pair(s: &str) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == b'=')?;
    Some((trim_wsp(s.get(..i)?), trim_wsp(s.get(i + 1..)?)))
}

fn trim_wsp(s: &str) -> &str {
    let b = s.as_bytes();
    let is_wsp = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !is_wsp(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_wsp(c)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or("")
}

/// RFC 6265 section 5.1.1: the cookie-date algorithm, as browsers read `Expires`.
///
/// ```
/// use squall::testing::jar::parse_cookie_date;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(parse_cookie_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
/// assert_eq!(parse_cookie_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
/// assert_eq!(parse_cookie_date("Sun Nov  6 08:49:37 1994"), Some(t));
/// assert_eq!(parse_cookie_date("Thursday, 01-Jan-1970 00:00:00 GMT"), Some(UNIX_EPOCH));
/// assert_eq!(parse_cookie_date("Feb 30 2020 00:00:00"), None);
/// ```
pub fn parse_cookie_date(s: &str) -> Option<SystemTime> {
    let is_delim =
        |b: u8| matches!(b, 0x09 | 0x20..=0x2F | 0x3B..=0x40 | 0x5B..=0x60 | 0x7B..=0x7E);
    let mut time: Option<(u32, u32, u32)> = None;
    let mut day: Option<u32> = None;
    let mut month: Option<u32> = None;
    let mut year: Option<u32> = None;
    for token in s
        .as_bytes()
        .split(|&b| is_delim(b))
        .filter(|t| !t.is_empty())
    {
        if time.is_none()
            && let Some(t) = parse_hms(token)
        {
            time = Some(t);
            continue;
        }
        if day.is_none()
            && let Some(d) = leading_digits(token, 1, 2)
        {
            day = Some(d);
            continue;
        }
        if month.is_none()
            && let Some(m) = parse_month(token)
        {
            month = Some(m);
            continue;
        }
        if year.is_none()
            && let Some(y) = leading_digits(token, 2, 4)
        {
            year = Some(y);
            continue;
        }
    }
    let (hour, minute, second) = time?;
    let (day, month, mut year) = (day?, month?, year?);
    if (70..=99).contains(&year) {
        year += 1900;
    } else if year <= 69 {
        year += 2000;
    }
    if !(1..=31).contains(&day) || year < 1601 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        Some(
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs.unsigned_abs()))
                .unwrap_or(UNIX_EPOCH),
        )
    }
}

/// `min..=max` digits, then the end of the token or a non-digit.
fn leading_digits(token: &[u8], min: usize, max: usize) -> Option<u32> {
    let n = token.iter().take_while(|b| b.is_ascii_digit()).count();
    if n < min || n > max {
        return None;
    }
    token[..n]
        .iter()
        .try_fold(0u32, |acc, b| Some(acc * 10 + u32::from(b - b'0')))
}

/// `hms-time ( non-digit *OCTET )`, with time-field = 1*2DIGIT.
fn parse_hms(token: &[u8]) -> Option<(u32, u32, u32)> {
    let mut fields = [0u32; 3];
    let mut rest = token;
    for (i, field) in fields.iter_mut().enumerate() {
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 2 {
            return None;
        }
        *field = rest[..n]
            .iter()
            .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'));
        rest = &rest[n..];
        if i < 2 {
            rest = rest.strip_prefix(b":")?;
        }
    }
    match rest.first() {
        Some(b) if b.is_ascii_digit() => None,
        _ => Some((fields[0], fields[1], fields[2])),
    }
}

fn parse_month(token: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let head = token.get(..3)?;
    MONTHS
        .iter()
        .position(|m| head.eq_ignore_ascii_case(&m[..]))
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Section 5.1.3: `host` domain-matches `domain`.
fn domain_match(host: &str, host_is_ip: bool, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    !host_is_ip
        && host.len() > domain.len()
        && host.ends_with(domain)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
}

/// Section 5.1.4: the default path of a request path.
fn default_path(path: &str) -> &str {
    if !path.starts_with('/') {
        return "/";
    }
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Section 5.1.4: `request_path` path-matches `cookie_path`.
fn path_match(request_path: &str, cookie_path: &str) -> bool {
    if request_path == cookie_path {
        return true;
    }
    request_path.starts_with(cookie_path)
        && (cookie_path.ends_with('/')
            || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/'))
}

/// Whether `domain` is a known public suffix (a rule of the Public Suffix List).
fn is_public_suffix(domain: &str) -> bool {
    match psl::suffix(domain.as_bytes()) {
        Some(suffix) => suffix.is_known() && suffix.as_bytes() == domain.as_bytes(),
        None => false,
    }
}

/// RFC 6265bis 4.1.3: the `__Secure-` and `__Host-` prefixes (matched case-insensitively).
fn check_prefixes(
    name: &str,
    secure: bool,
    secure_origin: bool,
    has_domain: bool,
    path: &str,
) -> Result<(), Error> {
    let starts = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let err = |rule| {
        Err(Error::Prefix {
            name: name.to_owned(),
            rule,
        })
    };
    if starts("__Secure-") && !(secure && secure_origin) {
        return err("__Secure- cookies must be Secure and set from a secure origin");
    }
    if starts("__Host-") {
        if !(secure && secure_origin) {
            return err("__Host- cookies must be Secure and set from a secure origin");
        }
        if has_domain {
            return err("__Host- cookies must not have a Domain attribute");
        }
        if path != "/" {
            return err("__Host- cookies must have Path=/");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_dates() {
        let t = |s| {
            parse_cookie_date(s)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        assert_eq!(t("Wed, 21 Oct 2015 07:28:00 GMT"), Some(1_445_412_480));
        assert_eq!(t("21 Oct 2015 07:28:00"), Some(1_445_412_480));
        assert_eq!(t("Wed, 21-Oct-15 07:28:00 GMT"), Some(1_445_412_480));
        assert_eq!(t("Wed, 29 Feb 2012 00:00:00 GMT"), Some(1_330_473_600));
        assert_eq!(t("Wed, 29 Feb 2013 00:00:00 GMT"), None);
        assert_eq!(t("Wed, 21 Oct 2015 24:00:00 GMT"), None);
        assert_eq!(t("Wed, 21 Oct 1600 00:00:00 GMT"), None);
        assert_eq!(t("Wed, 21 Oct 2015 7:28:00:9 GMT"), Some(1_445_412_480));
        assert_eq!(t("Wed, 21 Octember 2015 07:28:00 GMT"), Some(1_445_412_480));
        assert_eq!(t("garbage"), None);
        assert_eq!(t(""), None);
        assert!(parse_cookie_date("Sat, 01 Jan 1601 00:00:00 GMT").is_some());
    }

    #[test]
    fn set_cookie_parsing() {
        let c = parse_set_cookie(" sid = a b ; path=/x ;DOMAIN=.Ex.com; max-age=-3; secure; httponly=1; samesite=LAX; expires=x")
            .unwrap();
        assert_eq!(
            (c.name, c.value, c.path, c.domain),
            ("sid", "a b", Some("/x"), Some("Ex.com"))
        );
        assert_eq!(
            (c.max_age, c.secure, c.http_only, c.expires),
            (Some(-3), true, true, None)
        );
        assert_eq!(c.same_site, Some(SameSite::Lax));
        // The last valid attribute wins; a relative Path resets to the default.
        let c = parse_set_cookie(
            "a=1; Path=/a; Path=rel; Max-Age=5; Max-Age=x; Domain=; SameSite=bogus",
        )
        .unwrap();
        assert_eq!(
            (c.path, c.max_age, c.domain, c.same_site),
            (None, Some(5), None, None)
        );
        assert_eq!(
            parse_set_cookie("a=1; Max-Age=99999999999999999999")
                .unwrap()
                .max_age,
            Some(i64::MAX)
        );
        assert!(parse_set_cookie("novalue").is_err());
        assert!(parse_set_cookie(" =x").is_err());
        assert!(parse_set_cookie("a=\u{1}").is_err());
        assert_eq!(parse_set_cookie("a=").unwrap().value, "");
    }

    #[test]
    fn paths() {
        assert_eq!(default_path("/"), "/");
        assert_eq!(default_path("/a"), "/");
        assert_eq!(default_path("/a/b"), "/a");
        assert_eq!(default_path("/a/b/"), "/a/b");
        assert_eq!(default_path(""), "/");
        assert!(path_match("/a/b", "/a"));
        assert!(path_match("/a/", "/a/"));
        assert!(!path_match("/ab", "/a"));
        assert!(!path_match("/", "/a"));
    }

    #[test]
    fn domains() {
        assert!(domain_match("www.example.com", false, "example.com"));
        assert!(!domain_match("wwwexample.com", false, "example.com"));
        assert!(!domain_match("1.2.3.4", true, "2.3.4"));
        assert!(is_public_suffix("com"));
        assert!(is_public_suffix("co.uk"));
        assert!(!is_public_suffix("example.com"));
        assert!(!is_public_suffix("localhost"));
    }
}
