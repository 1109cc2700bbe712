//! What every backend's URL grammar shares: decoded query pairs, numbers of seconds and
//! counts read with a message that names the pair, and passwords masked for logs.

use std::borrow::Cow;
use std::time::Duration;

use crate::mail::Error;

/// An [`Error::Url`] for `url` (password masked) with `reason`.
pub(crate) fn bad_url(url: &str, reason: impl Into<String>) -> Error {
    Error::Url {
        url: mask_password(url),
        reason: reason.into(),
    }
}

/// The `key=value` pairs of a URL's query (the part after `?`), percent-decoded.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    ::url::form_urlencoded::parse(query.as_bytes())
}

/// Reads `key=value` as a positive, finite number of seconds under a billion (about 31
/// years); anything else (`inf`, `1e300`, `0`, `-1`, `abc`) is an error naming the pair.
pub(crate) fn seconds(key: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{key}={value:?} is not a positive number of seconds"))
}

/// Reads `key=value` as a count of at least 1.
pub(crate) fn count<T: std::str::FromStr + PartialOrd + From<u8>>(
    key: &str,
    value: &str,
) -> Result<T, String> {
    value
        .parse::<T>()
        .ok()
        .filter(|n| *n >= T::from(1))
        .ok_or_else(|| format!("{key}={value:?} is not a count of at least 1"))
}

/// Replaces the password of a URL with `***`, for messages and logs.
pub(crate) fn mask_password(url: &str) -> String {
    match ::url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password only fails for URLs that cannot have one, and this one has.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // Unparseable: mask anything between "://user:" and "@".
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                let userinfo = &url[start + 3..at];
                match userinfo.find(':') {
                    Some(colon) => format!("{}:***{}", &url[..start + 3 + colon], &url[at..]),
                    None => url.to_owned(),
                }
            }
            _ => url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_refuses_what_duration_cannot_hold() {
        assert_eq!(seconds("timeout", "2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["inf", "1e300", "0", "-1", "NaN", "abc", ""] {
            assert!(seconds("timeout", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_start_at_one() {
        assert_eq!(count::<usize>("pool", "4"), Ok(4));
        assert!(count::<usize>("pool", "0").is_err());
        assert!(count::<u64>("pool", "-1").is_err());
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("smtp://user:secret@host:587"),
            "smtp://user:***@host:587"
        );
        assert_eq!(mask_password("smtp://host:25"), "smtp://host:25");
        assert_eq!(
            mask_password("redis://u:p@h1,h2:6379/0"),
            "redis://u:***@h1,h2:6379/0"
        );
    }

    #[test]
    fn query_pairs_are_decoded() {
        let pairs: Vec<_> = query_pairs("queue=a%20b&durable=false").collect();
        assert_eq!(pairs[0], ("queue".into(), "a b".into()));
        assert_eq!(pairs[1], ("durable".into(), "false".into()));
    }
}
