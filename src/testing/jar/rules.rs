//! Which cookie goes where: domain- and path-matching (RFC 6265 sections 5.1.3 and 5.1.4),
//! public suffixes, and the `__Secure-` and `__Host-` prefixes of RFC 6265bis.

use std::net::IpAddr;

use url::{Host, Url};

/// A URL reduced to what cookies need.
pub(super) struct Target<'a> {
    pub(super) host: &'a str,
    pub(super) is_ip: bool,
    pub(super) path: &'a str,
    pub(super) secure: bool,
}

impl<'a> Target<'a> {
    pub(super) fn new(url: &'a Url) -> Option<Target<'a>> {
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

/// Whether two URLs are of the same site: the same scheme and registrable domain
/// (RFC 6265bis "schemeful same-site"; a host with no registrable domain, such as
/// `localhost` or an IP address, is its own site).
pub(crate) fn same_site(a: &Url, b: &Url) -> bool {
    let site = |u: &Url| {
        let host = u.host_str().unwrap_or("");
        let host = host.trim_end_matches('.');
        match u.host() {
            Some(Host::Domain(_)) => psl::domain_str(host).unwrap_or(host).to_ascii_lowercase(),
            _ => host.to_owned(),
        }
    };
    a.scheme() == b.scheme() && site(a) == site(b)
}

/// Section 5.1.3: `host` domain-matches `domain`.
pub(super) fn domain_match(host: &str, host_is_ip: bool, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    !host_is_ip
        && host.len() > domain.len()
        && host.ends_with(domain)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
}

/// Section 5.1.4: the default path of a request path.
pub(super) fn default_path(path: &str) -> &str {
    if !path.starts_with('/') {
        return "/";
    }
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Section 5.1.4: `request_path` path-matches `cookie_path`.
pub(super) fn path_match(request_path: &str, cookie_path: &str) -> bool {
    if request_path == cookie_path {
        return true;
    }
    request_path.starts_with(cookie_path)
        && (cookie_path.ends_with('/')
            || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/'))
}

/// Whether `domain` is a known public suffix (a rule of the Public Suffix List).
pub(super) fn is_public_suffix(domain: &str) -> bool {
    match psl::suffix(domain.as_bytes()) {
        Some(suffix) => suffix.is_known() && suffix.as_bytes() == domain.as_bytes(),
        None => false,
    }
}

/// RFC 6265bis 4.1.3: the `__Secure-` and `__Host-` prefixes (matched case-insensitively).
/// The error is the rule the cookie broke.
pub(super) fn check_prefixes(
    name: &str,
    secure: bool,
    secure_origin: bool,
    has_domain: bool,
    path: &str,
) -> Result<(), &'static str> {
    let starts = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    if starts("__Secure-") && !(secure && secure_origin) {
        return Err("__Secure- cookies must be Secure and set from a secure origin");
    }
    if starts("__Host-") {
        if !(secure && secure_origin) {
            return Err("__Host- cookies must be Secure and set from a secure origin");
        }
        if has_domain {
            return Err("__Host- cookies must not have a Domain attribute");
        }
        if path != "/" {
            return Err("__Host- cookies must have Path=/");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
