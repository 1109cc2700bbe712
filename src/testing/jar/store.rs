//! The jar itself: storing a `Set-Cookie` header as RFC 6265 section 5.3 says, and choosing
//! the cookies a request carries (section 5.4).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

use super::parse::parse_set_cookie;
use super::rules::{
    Target, check_prefixes, default_path, domain_match, is_public_suffix, path_match,
};
use super::stored_cookie::{RequestSite, SameSite, StoredCookie, far_future};

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
    /// The header is not a cookie: no `=` in the name-value pair, an empty name, or a
    /// control character.
    #[error("malformed Set-Cookie header {header:?}: {reason}")]
    Malformed {
        /// The header, as text.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The header's bytes are not UTF-8 text.
    #[error("Set-Cookie header {header:?} is not UTF-8")]
    NotUtf8 {
        /// The header, with the bytes that are not UTF-8 replaced.
        header: String,
        /// Where the text breaks.
        source: std::str::Utf8Error,
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
    /// A `SameSite=None` cookie without `Secure`: browsers refuse it (RFC 6265bis
    /// section 5.6 step 20; Chrome since 2020).
    #[error("cookie {name:?} is SameSite=None without Secure, refused as browsers do")]
    SameSiteNoneInsecure {
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

/// Where the jar reads the time from.
type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

fn read_clock(clock: &Option<Clock>) -> SystemTime {
    match clock {
        Some(clock) => clock(),
        None => SystemTime::now(),
    }
}

/// A browser's cookie store: it stores and sends cookies the way a browser does (RFC 6265,
/// section 5).
///
/// [`CookieJar::store`] takes the URL a response came from and one `Set-Cookie` header
/// value; [`CookieJar::header_for`] gives the `Cookie` header a browser would send to a URL.
/// Domain matching, host-only cookies, default paths, `Max-Age` over `Expires` (read with
/// the cookie-date algorithm of section 5.1.1), deletion by expiry, `Secure` cookies only
/// over https or to loopback hosts, the `__Host-` and `__Secure-` prefixes of RFC 6265bis
/// and the refusal of cookies for a public suffix are all applied. The clock can be
/// injected, so expiry can be tested without waiting.
///
/// ```
/// use squall::testing::CookieJar;
///
/// let mut jar = CookieJar::new();
/// jar.store("https://www.example.com/account/login", "sid=abc; Path=/; Secure; HttpOnly")?;
/// jar.store("https://www.example.com/account/login", "lang=en")?; // default path: /account
/// jar.store("https://www.example.com/", "theme=dark; Domain=example.com")?;
///
/// assert_eq!(
///     jar.header_for("https://www.example.com/account/settings").as_deref(),
///     Some("lang=en; sid=abc; theme=dark"),
/// );
/// assert_eq!(jar.header_for("http://www.example.com/").as_deref(), Some("theme=dark"));
/// assert_eq!(jar.header_for("https://example.org/"), None);
///
/// // The server deletes a cookie with a date in the past.
/// jar.store("https://www.example.com/", "theme=; Domain=example.com; Expires=Thursday, 01-Jan-1970 00:00:00 GMT")?;
/// assert_eq!(jar.get("https://www.example.com/", "theme"), None);
/// # Ok::<(), squall::testing::CookieError>(())
/// ```
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
    /// # Ok::<(), squall::testing::CookieError>(())
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
            Err(source) => Err(Error::NotUtf8 {
                header: String::from_utf8_lossy(set_cookie).into_owned(),
                source,
            }),
        }
    }

    fn store_target(&mut self, req: &Target<'_>, header: &str) -> Result<(), Error> {
        // The clock is read only when needed (an expiry, or a new cookie's creation time).
        let mut now_cell: Option<SystemTime> = None;
        let mut now = || *now_cell.get_or_insert_with(|| read_clock(&self.clock));
        let parsed = parse_set_cookie(header).map_err(|reason| Error::Malformed {
            header: header.to_owned(),
            reason,
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
        if parsed.same_site == Some(SameSite::None) && !secure {
            return Err(Error::SameSiteNoneInsecure {
                name: name.to_owned(),
            });
        }
        check_prefixes(name, secure, req.secure, parsed.domain.is_some(), path).map_err(
            |rule| Error::Prefix {
                name: name.to_owned(),
                rule,
            },
        )?;

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
        self.header_for_request(url, RequestSite::SameSite)
    }

    /// The `Cookie` header a browser would send to `url` on a request from `site`:
    /// [`header_for_url`](Self::header_for_url) less the `SameSite` cookies that such a
    /// request does not carry (see [`RequestSite`]).
    pub fn header_for_request(&self, url: &Url, site: RequestSite) -> Option<String> {
        let target = Target::new(url)?;
        let now = self.now_for_expiry();
        // The usual case of one cookie needs no list to sort.
        let mut applying = self
            .cookies
            .iter()
            .filter(|c| self.applies(c, &target, now) && site.allows(c.same_site));
        let first = applying.next()?;
        if applying.next().is_none() {
            let mut header = String::with_capacity(first.name.len() + first.value.len() + 1);
            header.push_str(&first.name);
            header.push('=');
            header.push_str(&first.value);
            return Some(header);
        }
        let mut matching = self.matching(&target, now, site);
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

    fn matching(&self, t: &Target<'_>, now: SystemTime, site: RequestSite) -> Vec<&StoredCookie> {
        self.cookies
            .iter()
            .filter(|c| self.applies(c, t, now) && site.allows(c.same_site))
            .collect()
    }

    /// Drops the cookies that have expired.
    pub fn purge_expired(&mut self) {
        let now = self.now();
        self.cookies.retain(|c| !c.is_expired(now));
    }
}
