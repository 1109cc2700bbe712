//! Reading `Set-Cookie` headers (RFC 6265 section 5.2) and the dates in their `Expires`
//! attributes (section 5.1.1), as browsers do: leniently, without allocating.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::stored_cookie::SameSite;

/// A `Set-Cookie` header read with the parsing algorithm of RFC 6265 section 5.2.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ParsedSetCookie<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a str,
    /// The last valid `Expires`.
    pub(super) expires: Option<SystemTime>,
    /// The last valid `Max-Age`, in seconds.
    pub(super) max_age: Option<i64>,
    /// The last non-empty `Domain`, one leading dot stripped (not yet lower-cased).
    pub(super) domain: Option<&'a str>,
    /// The last `Path`, if it was absolute (a later relative one resets it).
    pub(super) path: Option<&'a str>,
    pub(super) secure: bool,
    pub(super) http_only: bool,
    pub(super) same_site: Option<SameSite>,
}

/// RFC 6265 section 5.2 (with RFC 6265bis' refusal of control characters): the header, or
/// why it is ignored. Borrows from the header; allocates nothing.
pub(crate) fn parse_set_cookie(header: &str) -> Result<ParsedSetCookie<'_>, &'static str> {
    if has_control(header.as_bytes()) {
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
        // The value is trimmed only for the attributes that read it.
        let (key, raw) = match av.bytes().position(|b| b == b'=') {
            Some(i) => (av.get(..i).unwrap_or(""), av.get(i + 1..).unwrap_or("")),
            None => (av, ""),
        };
        let key = trim_wsp(key);
        let is = |k: &str| key.eq_ignore_ascii_case(k);
        match key.len() {
            4 if is("path") => {
                let value = trim_wsp(raw);
                c.path = if value.starts_with('/') {
                    Some(value)
                } else {
                    None
                }
            }
            6 if is("secure") => c.secure = true,
            6 if is("domain") => {
                let value = trim_wsp(raw);
                let domain = value.strip_prefix('.').unwrap_or(value);
                if !domain.is_empty() {
                    c.domain = Some(domain);
                }
            }
            7 if is("expires") => {
                let value = trim_wsp(raw);
                if let Some(t) = parse_cookie_date(value) {
                    c.expires = Some(t);
                }
            }
            7 if is("max-age") => {
                let value = trim_wsp(raw);
                let digits = value.strip_prefix('-').unwrap_or(value);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    // Too many digits saturate, as "a very long time" (or "long ago").
                    let secs = digits.parse::<i64>().unwrap_or(i64::MAX);
                    c.max_age = Some(if value.starts_with('-') { -secs } else { secs });
                }
            }
            8 if is("httponly") => c.http_only = true,
            8 if is("samesite") => {
                let value = trim_wsp(raw);
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

/// Whether `bytes` holds a control character other than a tab. The scan does not stop
/// early, so that it runs on whole vectors of bytes.
fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |bad, &b| {
        bad | ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
    })
}

/// `name=value`, each trimmed of spaces and tabs; `None` without `=`.
fn split_pair(s: &str) -> Option<(&str, &str)> {
    let (name, value) = s.split_at_checked(s.bytes().position(|b| b == b'=')?)?;
    Some((trim_wsp(name), trim_wsp(value.get(1..)?)))
}

/// `s` without leading and trailing spaces and tabs.
fn trim_wsp(s: &str) -> &str {
    let mut b = s.as_bytes();
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    let start = s.len() - b.len();
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    s.get(start..start + b.len()).unwrap_or("")
}

/// RFC 6265 section 5.1.1: the cookie-date algorithm, as browsers read `Expires`.
///
pub(super) fn parse_cookie_date(s: &str) -> Option<SystemTime> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_date_shapes() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_cookie_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_cookie_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_cookie_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(
            parse_cookie_date("Thursday, 01-Jan-1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(parse_cookie_date("Feb 30 2020 00:00:00"), None);
    }

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
}
