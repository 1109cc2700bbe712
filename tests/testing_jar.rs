//! The cookie jar, case by case from RFC 6265 section 5 (and the prefixes of RFC 6265bis),
//! with the clock injected.
#![cfg(feature = "testing")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use squall::testing::CookieError as Error;
use squall::testing::{CookieJar, StoredCookie};

/// A jar whose clock stands still at 2020-01-01 until moved.
fn jar() -> (CookieJar, Arc<Mutex<SystemTime>>) {
    let now = Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(1_577_836_800)));
    let clock = now.clone();
    (CookieJar::with_clock(move || *clock.lock().unwrap()), now)
}

fn advance(now: &Arc<Mutex<SystemTime>>, secs: u64) {
    *now.lock().unwrap() += Duration::from_secs(secs);
}

// 5.1.3 Domain matching, 5.3 steps 4-6.
#[test]
fn host_only_cookie_goes_only_to_its_host() {
    let (mut jar, _) = jar();
    jar.store("http://www.example.com/", "a=1").unwrap();
    assert_eq!(
        jar.header_for("http://www.example.com/").as_deref(),
        Some("a=1")
    );
    assert_eq!(jar.header_for("http://sub.www.example.com/"), None);
    assert_eq!(jar.header_for("http://example.com/"), None);
    let stored = &jar.list()[0];
    assert!(stored.host_only());
    assert_eq!(stored.domain(), "www.example.com");
}

#[test]
fn domain_attribute_covers_subdomains() {
    let (mut jar, _) = jar();
    jar.store("http://www.example.com/", "a=1; Domain=.Example.COM")
        .unwrap();
    assert_eq!(
        jar.header_for("http://example.com/").as_deref(),
        Some("a=1")
    );
    assert_eq!(
        jar.header_for("http://deep.sub.example.com/").as_deref(),
        Some("a=1")
    );
    assert_eq!(jar.header_for("http://notexample.com/"), None);
    assert_eq!(jar.header_for("http://example.com.evil.org/"), None);
    assert!(!jar.list()[0].host_only());
    assert_eq!(jar.list()[0].domain(), "example.com");
}

#[test]
fn domain_that_does_not_match_the_host_is_refused() {
    let (mut jar, _) = jar();
    assert!(matches!(
        jar.store("http://www.example.com/", "a=1; Domain=other.com"),
        Err(Error::DomainMismatch { .. })
    ));
    assert!(matches!(
        jar.store("http://example.com/", "a=1; Domain=www.example.com"),
        Err(Error::DomainMismatch { .. })
    ));
    assert!(matches!(
        jar.store("http://1.2.3.4/", "a=1; Domain=2.3.4"),
        Err(Error::DomainMismatch { .. })
    ));
    jar.store("http://1.2.3.4/", "b=2; Domain=1.2.3.4").unwrap();
    assert_eq!(jar.header_for("http://1.2.3.4/").as_deref(), Some("b=2"));
    assert_eq!(jar.list().len(), 1);
}

#[test]
fn public_suffix_is_refused_unless_it_is_the_host() {
    let (mut jar, _) = jar();
    assert!(matches!(
        jar.store("http://www.example.com/", "a=1; Domain=com"),
        Err(Error::PublicSuffix { .. })
    ));
    assert!(matches!(
        jar.store("http://foo.example.co.uk/", "a=1; Domain=co.uk"),
        Err(Error::PublicSuffix { .. })
    ));
    assert!(matches!(
        jar.store("http://x.github.io/", "a=1; Domain=github.io"),
        Err(Error::PublicSuffix { .. })
    ));
    // Section 5.3 step 5: a cookie for the suffix itself from that host becomes host-only.
    jar.store("http://github.io/", "b=2; Domain=github.io")
        .unwrap();
    assert!(jar.list()[0].host_only());
    assert_eq!(jar.header_for("http://x.github.io/"), None);
    assert_eq!(jar.header_for("http://github.io/").as_deref(), Some("b=2"));
    // A registrable domain under a multi-label suffix is fine.
    jar.store("http://foo.example.co.uk/", "c=3; Domain=example.co.uk")
        .unwrap();
    assert_eq!(
        jar.header_for("http://bar.example.co.uk/").as_deref(),
        Some("c=3")
    );
}

// 5.1.4 Paths and path-match, 5.2.4 the Path attribute.
#[test]
fn default_path_is_the_directory_of_the_request() {
    let (mut jar, _) = jar();
    jar.store("http://example.com/docs/page.html", "a=1")
        .unwrap();
    jar.store("http://example.com/top", "b=2").unwrap();
    jar.store("http://example.com/x/", "c=3; Path=relative")
        .unwrap();
    let paths: Vec<(String, String)> = jar
        .list()
        .iter()
        .map(|c| (c.name().to_owned(), c.path().to_owned()))
        .collect();
    assert_eq!(
        paths,
        [
            ("a".into(), "/docs".into()),
            ("b".into(), "/".into()),
            ("c".into(), "/x".into())
        ]
    );
}

#[test]
fn path_match_respects_segment_boundaries() {
    let (mut jar, _) = jar();
    jar.store("http://example.com/", "a=1; Path=/docs").unwrap();
    assert_eq!(
        jar.header_for("http://example.com/docs").as_deref(),
        Some("a=1")
    );
    assert_eq!(
        jar.header_for("http://example.com/docs/").as_deref(),
        Some("a=1")
    );
    assert_eq!(
        jar.header_for("http://example.com/docs/deep/page")
            .as_deref(),
        Some("a=1")
    );
    assert_eq!(jar.header_for("http://example.com/docsearch"), None);
    assert_eq!(jar.header_for("http://example.com/"), None);
    jar.store("http://example.com/", "b=2; Path=/api/").unwrap();
    assert_eq!(
        jar.header_for("http://example.com/api/v1").as_deref(),
        Some("b=2")
    );
    assert_eq!(jar.header_for("http://example.com/api"), None);
}

// 5.2.1, 5.2.2, 5.3 step 3: expiry.
#[test]
fn max_age_expires_with_the_clock() {
    let (mut jar, now) = jar();
    jar.store("http://example.com/", "a=1; Max-Age=60").unwrap();
    advance(&now, 59);
    assert_eq!(
        jar.header_for("http://example.com/").as_deref(),
        Some("a=1")
    );
    advance(&now, 1);
    assert_eq!(jar.header_for("http://example.com/"), None);
    assert!(jar.list().is_empty());
}

#[test]
fn max_age_wins_over_expires() {
    let (mut jar, now) = jar();
    // Expires is in the past, Max-Age in the future: the cookie lives.
    jar.store(
        "http://example.com/",
        "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=100",
    )
    .unwrap();
    assert_eq!(jar.get("http://example.com/", "a").as_deref(), Some("1"));
    // And the other way round: Max-Age=0 deletes even with a far Expires.
    jar.store(
        "http://example.com/",
        "b=2; Max-Age=0; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
    )
    .unwrap();
    assert_eq!(jar.get("http://example.com/", "b"), None);
    advance(&now, 101);
    assert_eq!(jar.get("http://example.com/", "a"), None);
}

#[test]
fn expires_in_the_forms_servers_send() {
    let (mut jar, now) = jar();
    // Now is 2020-01-01 00:00:00; each expires one hour later.
    let forms = [
        "Wed, 01 Jan 2020 01:00:00 GMT",
        "Wednesday, 01-Jan-20 01:00:00 GMT",
        "Wed Jan  1 01:00:00 2020",
        "Wed, 01-Jan-2020 01:00:00 GMT",
        "1 jan 2020 01:00:00",
        "01:00:00 2020 January 1st",
    ];
    for (i, form) in forms.iter().enumerate() {
        jar.store("http://example.com/", &format!("c{i}=v; Expires={form}"))
            .unwrap();
        let stored = jar
            .list()
            .into_iter()
            .find(|c| c.name() == format!("c{i}"))
            .expect(form);
        assert_eq!(
            stored.expires(),
            Some(*now.lock().unwrap() + Duration::from_secs(3600)),
            "{form}"
        );
    }
    advance(&now, 3600);
    assert_eq!(jar.header_for("http://example.com/"), None);
}

#[test]
fn deletion_with_a_date_in_the_past() {
    let (mut jar, _) = jar();
    jar.store("http://example.com/", "session=abc; Path=/")
        .unwrap();
    jar.store("http://example.com/", "keep=1; Path=/").unwrap();
    jar.store(
        "http://example.com/",
        "session=; Path=/; Expires=Thursday, 01-Jan-1970 00:00:00 GMT",
    )
    .unwrap();
    assert_eq!(
        jar.header_for("http://example.com/").as_deref(),
        Some("keep=1")
    );
    // Deletion needs the same path: another path leaves it alone.
    jar.store("http://example.com/", "keep=; Path=/other; Max-Age=-1")
        .unwrap();
    assert_eq!(
        jar.header_for("http://example.com/").as_deref(),
        Some("keep=1")
    );
}

#[test]
fn unparseable_expires_means_a_session_cookie() {
    let (mut jar, _) = jar();
    jar.store("http://example.com/", "a=1; Expires=not a date")
        .unwrap();
    jar.store("http://example.com/", "b=1; Expires=Feb 30 2020 00:00:00")
        .unwrap();
    assert_eq!(
        jar.list().iter().map(|c| c.expires()).collect::<Vec<_>>(),
        [None, None]
    );
}

// 5.3 step 11: replacement keeps the creation time.
#[test]
fn replacing_a_cookie_keeps_its_place() {
    let (mut jar, now) = jar();
    jar.store("http://example.com/", "a=1").unwrap();
    advance(&now, 1);
    jar.store("http://example.com/", "b=2").unwrap();
    advance(&now, 1);
    jar.store("http://example.com/", "a=3").unwrap();
    assert_eq!(
        jar.header_for("http://example.com/").as_deref(),
        Some("a=3; b=2")
    );
}

// 5.4 step 2: ordering.
#[test]
fn longer_paths_first_then_older_first() {
    let (mut jar, now) = jar();
    jar.store("http://example.com/", "first=1; Path=/").unwrap();
    advance(&now, 1);
    jar.store("http://example.com/", "deep=1; Path=/a/b")
        .unwrap();
    advance(&now, 1);
    jar.store("http://example.com/", "mid=1; Path=/a").unwrap();
    // Same creation second: the order of storing decides.
    jar.store("http://example.com/", "second=1; Path=/")
        .unwrap();
    jar.store("http://example.com/", "third=1; Path=/").unwrap();
    assert_eq!(
        jar.header_for("http://example.com/a/b/c").as_deref(),
        Some("deep=1; mid=1; first=1; second=1; third=1")
    );
}

#[test]
fn same_name_different_paths_are_different_cookies() {
    let (mut jar, _) = jar();
    jar.store("http://example.com/", "id=root; Path=/").unwrap();
    jar.store("http://example.com/", "id=app; Path=/app")
        .unwrap();
    assert_eq!(
        jar.header_for("http://example.com/app/x").as_deref(),
        Some("id=app; id=root")
    );
    assert_eq!(
        jar.get("http://example.com/app/x", "id").as_deref(),
        Some("app")
    );
    assert_eq!(
        jar.header_for("http://example.com/").as_deref(),
        Some("id=root")
    );
}

// Secure (5.4 step 1, RFC 6265bis 5.6 steps 8 and 16).
#[test]
fn secure_cookies_need_https_or_loopback() {
    let (mut jar, _) = jar();
    assert!(matches!(
        jar.store("http://example.com/", "s=1; Secure"),
        Err(Error::Insecure { .. })
    ));
    jar.store("https://example.com/", "s=1; Secure").unwrap();
    assert_eq!(
        jar.header_for("https://example.com/").as_deref(),
        Some("s=1")
    );
    assert_eq!(jar.header_for("http://example.com/"), None);
    // Loopback hosts count as secure, as browsers treat them.
    for host in ["localhost", "127.0.0.1", "[::1]", "app.localhost"] {
        let url = format!("http://{host}/");
        jar.store(&url, "l=1; Secure").unwrap();
        assert_eq!(jar.get(&url, "l").as_deref(), Some("1"), "{host}");
    }
    // An insecure response cannot overwrite a Secure cookie.
    assert!(matches!(
        jar.store("http://example.com/", "s=evil"),
        Err(Error::Insecure { .. })
    ));
    assert_eq!(jar.get("https://example.com/", "s").as_deref(), Some("1"));
}

#[test]
fn http_only_and_same_site_are_kept() {
    let (mut jar, _) = jar();
    jar.store("http://example.com/", "a=1; HttpOnly; SameSite=Strict")
        .unwrap();
    let c = &jar.list()[0];
    assert!(c.http_only());
    assert_eq!(c.same_site(), Some(squall::testing::SameSite::Strict));
    // HttpOnly cookies still go out with HTTP requests.
    assert_eq!(
        jar.header_for("http://example.com/").as_deref(),
        Some("a=1")
    );
}

// RFC 6265bis 4.1.3: cookie prefixes.
#[test]
fn secure_and_host_prefixes() {
    let (mut jar, _) = jar();
    let https = "https://example.com/account/";
    assert!(matches!(
        jar.store(https, "__Secure-a=1"),
        Err(Error::Prefix { .. })
    ));
    jar.store(https, "__Secure-a=1; Secure; Domain=example.com")
        .unwrap();
    assert!(
        matches!(
            jar.store(https, "__Host-b=1; Secure"),
            Err(Error::Prefix { .. })
        ),
        "default path is not /"
    );
    assert!(matches!(
        jar.store(https, "__Host-b=1; Secure; Path=/; Domain=example.com"),
        Err(Error::Prefix { .. })
    ));
    assert!(matches!(
        jar.store(https, "__Host-b=1; Path=/"),
        Err(Error::Prefix { .. })
    ));
    assert!(
        matches!(
            jar.store(https, "__host-b=1; Path=/"),
            Err(Error::Prefix { .. })
        ),
        "case-insensitive"
    );
    jar.store(https, "__Host-b=1; Secure; Path=/").unwrap();
    let names: Vec<String> = jar.list().iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(names, ["__Secure-a", "__Host-b"]);
}

// 5.2: malformed headers are ignored, never a panic.
#[test]
fn bad_headers_are_ignored() {
    let (mut jar, _) = jar();
    for bad in [
        "",
        "novalue",
        "=value",
        " ; Path=/",
        "a=1\u{0}; Path=/",
        "a\r\nb=1",
        ";;;",
        "=",
        "  =x",
    ] {
        assert!(
            matches!(
                jar.store("http://example.com/", bad),
                Err(Error::Malformed { .. })
            ),
            "{bad:?} should be refused as malformed"
        );
    }
    assert!(jar.list().is_empty());
    // Odd but valid: attributes without values, unknown attributes, spaces, quotes.
    jar.store(
        "http://example.com/",
        " a = \"quoted\" ; Path ; Domain= ; Max-Age=abc; Foo=bar; HttpOnly=no",
    )
    .unwrap();
    let c = &jar.list()[0];
    assert_eq!(
        (c.name(), c.value(), c.path(), c.host_only(), c.expires()),
        ("a", "\"quoted\"", "/", true, None)
    );
    assert!(
        c.http_only(),
        "an attribute's value does not matter for HttpOnly"
    );
    // Secure with any value is Secure, so over http it is refused.
    assert!(matches!(
        jar.store("http://example.com/", "s=1; Secure=no"),
        Err(Error::Insecure { .. })
    ));
    // URLs that carry no cookies.
    assert!(matches!(
        jar.store("not a url", "a=1"),
        Err(Error::InvalidUrl { .. })
    ));
    for url in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "data:text/plain,hi",
    ] {
        assert!(
            matches!(jar.store(url, "a=1"), Err(Error::NoCookieUrl { .. })),
            "{url}"
        );
    }
    assert_eq!(jar.header_for("data:text/plain,hi"), None);
}

#[test]
fn insert_remove_clear() {
    let (mut jar, _) = jar();
    jar.insert(
        StoredCookie::builder("a", "1", "Example.com")
            .subdomains()
            .path("/x")
            .build(),
    );
    jar.insert(
        StoredCookie::builder("b", "2", "example.com")
            .secure(true)
            .build(),
    );
    assert_eq!(
        jar.header_for("https://www.example.com/x/y").as_deref(),
        Some("a=1")
    );
    assert_eq!(
        jar.header_for("https://example.com/x").as_deref(),
        Some("a=1; b=2")
    );
    assert_eq!(
        jar.header_for("http://example.com/x").as_deref(),
        Some("a=1")
    );
    assert!(jar.remove("example.com", "a"));
    assert!(!jar.remove("example.com", "a"));
    assert_eq!(
        jar.header_for("https://example.com/x").as_deref(),
        Some("b=2")
    );
    jar.clear();
    assert!(jar.list().is_empty());
}
