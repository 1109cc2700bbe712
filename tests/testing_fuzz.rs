//! Arbitrary bytes as `Set-Cookie` headers and as URLs never make the jar or the client
//! panic, and cookie dates in every shape servers send are read as RFC 6265 says.
#![cfg(feature = "testing")]

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use proptest::prelude::*;
use squall::testing::cookie::time;
use squall::testing::{CookieJar, TestClient};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes that look like cookies more often than pure noise would, a third of them with an
/// `Expires` date in one of the shapes servers send.
fn cookieish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "[a-zA-Z_=;,. \t\"\\-:/]{0,40}(; (Expires|Max-Age|Domain|Path|Secure|HttpOnly|SameSite)(=[ -~]{0,30})?){0,6}"
            .prop_map(String::into_bytes),
        (cookie_date(), "(; (Path=/|Secure|HttpOnly|Max-Age=[0-9]{1,3})){0,3}")
            .prop_map(|(date, rest)| format!("c=1; Expires={}{rest}", date.text).into_bytes()),
    ]
}

/// A cookie date (RFC 6265 section 5.1.1) and the time it stands for, in seconds since
/// 1970, or `None` when a browser ignores it.
#[derive(Debug, Clone)]
struct CookieDate {
    text: String,
    expected: Option<i64>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Dates in the shapes servers send (RFC 1123, RFC 850, asctime, and the fields in any
/// order), varied in every way the algorithm allows: weekday and zone noise, one- or
/// two-digit fields, two-, three- or four-digit years, month names long, short, odd-cased
/// or with trailing letters, suffixes after the numbers, the delimiters between tokens;
/// and sometimes out of range (day 0 or 32, hour 24, February 30, years before 1601), a
/// month that is no month, or a missing field.
fn cookie_date() -> impl Strategy<Value = CookieDate> {
    let day = (
        prop_oneof![12 => 1u32..=28, 3 => 29u32..=31, 1 => Just(0u32), 1 => 32u32..=99],
        any::<bool>(),
        prop::sample::select(vec!["", "", "", "th", "st", "Z"]),
    );
    let month = (1usize..=12, 0usize..4, prop::bool::weighted(0.05));
    let year = prop_oneof![6 => 1583u32..=2200, 3 => 0u32..=99, 1 => 100u32..=999];
    let field = |max: u32| prop_oneof![12 => 0..=max, 1 => (max + 1)..=99];
    let time = (
        (field(23), field(59), field(59)),
        any::<[bool; 3]>(),
        prop::sample::select(vec!["", "", "Z"]),
    );
    let noise = (
        prop::sample::select(vec!["", "Sun", "Sunday", "THU", "wed,", "Fri"]),
        prop::sample::select(vec!["", " GMT", " UTC", " +0000", " -0800", " gmt"]),
        proptest::collection::vec(
            prop::sample::select(vec![" ", ", ", "-", "  ", "\t", "/", ",", " , ", "."]),
            6,
        ),
        0usize..4,
        Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
        prop::option::weighted(0.05, 0usize..4),
    );
    (day, month, year, time, noise).prop_map(build_cookie_date)
}

type DateParts = (
    (u32, bool, &'static str),
    (usize, usize, bool),
    u32,
    ((u32, u32, u32), [bool; 3], &'static str),
    (
        &'static str,
        &'static str,
        Vec<&'static str>,
        usize,
        Vec<usize>,
        Option<usize>,
    ),
);

fn build_cookie_date(parts: DateParts) -> CookieDate {
    let ((day, day_pad, day_suffix), (month, month_style, bad_month), year, time, noise) = parts;
    let ((hour, minute, second), pads, time_suffix) = time;
    let (weekday, mut zone, separators, shape, order, dropped) = noise;

    let pad = |n: u32, two: bool| {
        if two {
            format!("{n:02}")
        } else {
            n.to_string()
        }
    };
    let name = MONTHS[month - 1];
    let month_token = if bad_month {
        "Smarch".to_owned()
    } else {
        match month_style {
            0 => name[..3].to_owned(),
            1 => name[..3].to_ascii_uppercase(),
            2 => name.to_ascii_lowercase(),
            _ => format!("{}ember", &name[..3]),
        }
    };
    let year_token = if year < 100 {
        format!("{year:02}")
    } else {
        year.to_string()
    };
    let mut tokens = [
        format!("{}{day_suffix}", pad(day, day_pad)),
        month_token,
        year_token,
        format!(
            "{}:{}:{}{time_suffix}",
            pad(hour, pads[0]),
            pad(minute, pads[1]),
            pad(second, pads[2])
        ),
    ];
    if let Some(i) = dropped {
        tokens[i].clear();
        // A numeric zone would stand in for a missing year.
        zone = " GMT";
    }
    let [d, m, y, t] = tokens.clone();
    let fields: Vec<String> = match shape {
        0 => vec![d, m, y, t], // RFC 1123: Sun, 06 Nov 1994 08:49:37 GMT
        1 => vec![format!("{d}-{m}-{y}"), t], // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        2 => vec![m, format!("{d:>2}"), t, y], // asctime: Sun Nov  6 08:49:37 1994
        _ => {
            // Any order, but a two-digit year after the day (before it, it would be
            // read as the day, as the algorithm says).
            let mut order = order;
            let at = |order: &[usize], x| order.iter().position(|&i| i == x);
            if year < 100
                && let (Some(di), Some(yi)) = (at(&order, 0), at(&order, 2))
                && yi < di
            {
                order.swap(di, yi);
            }
            order.iter().map(|&i| tokens[i].clone()).collect()
        }
    };
    let mut text = weekday.to_owned();
    for (i, field) in fields.iter().filter(|f| !f.trim().is_empty()).enumerate() {
        if !text.is_empty() || i > 0 {
            text.push_str(separators[i % separators.len()]);
        }
        text.push_str(field);
    }
    text.push_str(zone);

    // Section 5.1.1 steps 3 to 5; the calendar is the `time` crate's.
    let expected = (|| {
        if dropped.is_some() || bad_month {
            return None;
        }
        let year = match year {
            70..=99 => year + 1900,
            0..=69 => year + 2000,
            _ => year,
        };
        if !(1..=31).contains(&day) || year < 1601 || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
        let date = time::Date::from_calendar_date(
            i32::try_from(year).ok()?,
            month,
            u8::try_from(day).ok()?,
        )
        .ok()?;
        let at = date
            .with_hms(
                u8::try_from(hour).ok()?,
                u8::try_from(minute).ok()?,
                u8::try_from(second).ok()?,
            )
            .ok()?;
        Some(at.assume_utc().unix_timestamp())
    })();
    CookieDate { text, expected }
}

/// Seconds since 1970 (negative before).
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap(),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap(),
    }
}

/// A cookie date with a few characters changed, dropped or added anywhere.
fn mangled_date() -> impl Strategy<Value = String> {
    (
        cookie_date(),
        proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..4),
    )
        .prop_map(|(date, edits)| {
            let mut chars: Vec<char> = date.text.chars().collect();
            for (at, kind, c) in edits {
                let i = at.index(chars.len() + 1);
                match kind {
                    0 if i < chars.len() => chars[i] = c,
                    1 if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ => chars.insert(i, c),
                }
            }
            chars.into_iter().collect()
        })
}

fn urlish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..100),
        "(https?|ftp|data|file)?(:|://)?[a-zA-Z0-9.\\[\\]:@%/?#&=-]{0,40}"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn jar_never_panics(header in cookieish(), url in urlish(), other in urlish()) {
        let mut jar = CookieJar::new();
        let url = String::from_utf8_lossy(&url).into_owned();
        let header = String::from_utf8_lossy(&header).into_owned();
        let _ = jar.store(&url, &header);
        let _ = jar.store("https://www.example.co.uk/a/b", &header);
        let _ = jar.header_for(&url);
        let _ = jar.header_for(&String::from_utf8_lossy(&other));
        let _ = jar.get("https://www.example.co.uk/a/b", "x");
        // Whatever was stored serialises into a Cookie header that is a valid header value.
        if let Some(h) = jar.header_for("https://www.example.co.uk/a/b/c") {
            prop_assert!(HeaderValue::from_str(&h).is_ok(), "{h:?}");
        }
        prop_assert!(jar.list().iter().all(|c| !c.name().is_empty() && c.path().starts_with('/')));
    }

    /// Every generated date is read as RFC 6265 section 5.1.1 says, through the jar as a
    /// browser reads it: the `Expires` of a stored cookie, or a session cookie when the date
    /// is not one.
    #[test]
    fn cookie_dates_are_read_as_the_rfc_says(date in cookie_date()) {
        // A clock before every date the parser accepts (1601), so no cookie is expired.
        let long_ago = UNIX_EPOCH - Duration::from_secs(13_000_000_000);
        let mut jar = CookieJar::with_clock(move || long_ago);
        jar.store("http://example.com/", &format!("a=1; Expires={}", date.text)).unwrap();
        let stored = jar.list();
        prop_assert_eq!(stored.len(), 1);
        prop_assert_eq!(stored[0].expires().map(unix_seconds), date.expected, "{:?}", date.text);
    }

    #[test]
    fn cookie_dates_never_panic(s in prop_oneof!["\\PC{0,60}", mangled_date()]) {
        let mut jar = CookieJar::new();
        let _ = jar.store("http://example.com/", &format!("a=1; Expires={s}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The same bytes through the client: the app sends them as Set-Cookie, the client
    /// requests them as a URL.
    #[test]
    fn client_never_panics(header in cookieish(), url in urlish()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let value = HeaderValue::from_bytes(&header).ok();
            let app = Router::new().fallback(get(move || {
                let value = value.clone();
                async move {
                    match value {
                        Some(v) => ([(header::SET_COOKIE, v)], "ok").into_response(),
                        None => "ok".into_response(),
                    }
                }
            }));
            let client = TestClient::new(app);
            let _ = client.get("/").send().await;
            let target = String::from_utf8_lossy(&url).into_owned();
            let _ = client.get(&target).follow_redirects().send().await;
            let _ = client.post(&target).form(&[("a", "b")]).send().await;
            let _ = client.get("/").send().await;
        });
    }
}
