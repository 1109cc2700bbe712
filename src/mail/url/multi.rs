//! The grammar of several transports in one URL, as Symfony writes it:
//! `failover(smtp://a smtp://b)` and `roundrobin(smtp://a smtp://b)`, the transports
//! separated by spaces, nested forms allowed, and `?cooldown=30s` after the parenthesis.

use std::time::Duration;

use super::grammar::{mask_password, query_pairs};
use crate::mail::Error;

/// How the transports of a [`Spec`] are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Failover,
    RoundRobin,
}

/// A parsed `failover(...)` or `roundrobin(...)`: its transports' URLs, still unparsed.
#[derive(Debug)]
pub(crate) struct Spec<'a> {
    pub(crate) kind: Kind,
    pub(crate) members: Vec<&'a str>,
    pub(crate) cooldown: Option<Duration>,
}

/// True when `url` is a `failover(...)` or `roundrobin(...)`.
pub(crate) fn is_multi(url: &str) -> bool {
    kind(url.trim_start()).is_some()
}

fn kind(url: &str) -> Option<(Kind, &str)> {
    if let Some(rest) = url.strip_prefix("failover(") {
        Some((Kind::Failover, rest))
    } else {
        url.strip_prefix("roundrobin(")
            .map(|rest| (Kind::RoundRobin, rest))
    }
}

/// `url` with the password of every transport in it masked, for messages and logs.
pub(crate) fn mask(url: &str) -> String {
    url.split(' ')
        .map(mask_password)
        .collect::<Vec<_>>()
        .join(" ")
}

/// An [`Error::Url`] for the whole of `url` (passwords masked).
pub(crate) fn bad(url: &str, reason: impl Into<String>) -> Error {
    Error::Url {
        url: mask(url),
        reason: reason.into(),
    }
}

/// The error for transport `index` (from 0) of `url`, which failed with `error`.
pub(crate) fn bad_member(url: &str, index: usize, member: &str, error: Error) -> Error {
    let why = match error {
        Error::Url { reason, .. } => reason,
        other => other.to_string(),
    };
    bad(
        url,
        format!("transport {} ({}): {why}", index + 1, mask(member)),
    )
}

/// Splits `url` into its kind, its transports and its parameters.
pub(crate) fn parse(url: &str) -> Result<Spec<'_>, Error> {
    let trimmed = url.trim();
    let Some((kind, inside)) = kind(trimmed) else {
        return Err(bad(
            url,
            "expected failover(URL URL ...) or roundrobin(URL URL ...)",
        ));
    };
    let name = match kind {
        Kind::Failover => "failover",
        Kind::RoundRobin => "roundrobin",
    };
    let mut members = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    let mut end = None;
    for (i, c) in inside.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                end = Some(i);
                break;
            }
            ')' => depth -= 1,
            _ => {}
        }
        if c.is_ascii_whitespace() && depth == 0 {
            if let Some(s) = start.take() {
                members.push(&inside[s..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    let Some(end) = end else {
        return Err(bad(
            url,
            format!("{name}( has no closing parenthesis; expected {name}(smtp://a smtp://b)"),
        ));
    };
    if let Some(s) = start {
        members.push(&inside[s..end]);
    }
    if members.len() < 2 {
        return Err(bad(
            url,
            format!(
                "{name}(...) needs at least two transports separated by spaces, as in {name}(smtp://a smtp://b); found {}",
                members.len()
            ),
        ));
    }
    let mut cooldown = None;
    match &inside[end + 1..] {
        "" => {}
        rest => {
            let Some(query) = rest.strip_prefix('?') else {
                return Err(bad(
                    url,
                    format!(
                        "unexpected {rest:?} after {name}(...); expected nothing or ?cooldown=30s"
                    ),
                ));
            };
            for (key, value) in query_pairs(query) {
                match &*key {
                    "cooldown" => {
                        let parsed = crate::parse_duration(&value)
                            .ok()
                            .filter(|d| !d.is_zero())
                            .ok_or_else(|| {
                                bad(
                                    url,
                                    format!(
                                        "cooldown={value:?} is not a duration such as 30s, 5m or 1h"
                                    ),
                                )
                            })?;
                        cooldown = Some(parsed);
                    }
                    other => {
                        return Err(bad(
                            url,
                            format!(
                                "unknown parameter {other:?} of {name}(...); expected cooldown"
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(Spec {
        kind,
        members,
        cooldown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(url: &str) -> String {
        match parse(url) {
            Err(Error::Url { url, reason }) => {
                assert!(!url.contains("hunter2"), "password leaked: {url}");
                reason
            }
            other => panic!("{url}: expected Error::Url, got {other:?}"),
        }
    }

    #[test]
    fn transports_are_split_on_spaces_and_nesting_is_kept() {
        let spec =
            parse("failover(smtp://a:25  roundrobin(smtp://b smtp://c) console://)").unwrap();
        assert_eq!(spec.kind, Kind::Failover);
        assert_eq!(
            spec.members,
            ["smtp://a:25", "roundrobin(smtp://b smtp://c)", "console://"]
        );
        assert_eq!(spec.cooldown, None);
        let spec = parse("roundrobin(smtp://a smtp://b?timeout=2)?cooldown=90s").unwrap();
        assert_eq!(spec.kind, Kind::RoundRobin);
        assert_eq!(spec.members, ["smtp://a", "smtp://b?timeout=2"]);
        assert_eq!(spec.cooldown, Some(Duration::from_secs(90)));
    }

    #[test]
    fn bad_forms_name_what_is_wrong() {
        for (url, expect) in [
            (
                "failover(smtp://u:hunter2@a smtp://b",
                "no closing parenthesis",
            ),
            ("failover(smtp://u:hunter2@a)", "at least two transports"),
            ("failover(smtp://u:hunter2@a,smtp://b)", "found 1"),
            ("failover()", "found 0"),
            ("failover(smtp://a smtp://b)x", "unexpected \"x\""),
            (
                "failover(smtp://a smtp://b)?cooldown=soon",
                "cooldown=\"soon\"",
            ),
            ("failover(smtp://a smtp://b)?cooldown=0", "cooldown=\"0\""),
            (
                "roundrobin(smtp://a smtp://b)?color=red",
                "unknown parameter \"color\"",
            ),
        ] {
            let why = reason(url);
            assert!(why.contains(expect), "{url}: {why}");
        }
    }

    #[test]
    fn every_password_is_masked() {
        assert_eq!(
            mask("failover(smtp://u:hunter2@a smtp://v:hunter2@b)"),
            "failover(smtp://u:***@a smtp://v:***@b)"
        );
    }
}
