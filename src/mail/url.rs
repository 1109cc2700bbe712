//! Mailers, queues and transports by URL: the one place that reads a URL's scheme, plus
//! the pieces every backend's URL grammar shares (query pairs, masking a password).

use std::borrow::Cow;
use std::time::Duration;

#[cfg(feature = "redis")]
use super::RedisQueue;
use super::mailer::{Error, Mailer, Transport};
use super::queue::Queue;
use super::{ConsoleMailer, MemoryMailer, SmtpConfig, SmtpMailer, Spool};

/// The backends a URL can name, by scheme: the crate's one scheme dispatch.
enum Scheme {
    Smtp,
    Console,
    Memory,
    Spool,
    Redis,
    Unknown,
}

fn scheme(url: &str) -> Scheme {
    match url.split_once(':').map(|(s, _)| s).unwrap_or("") {
        "smtp" | "smtps" => Scheme::Smtp,
        "console" => Scheme::Console,
        "memory" => Scheme::Memory,
        "spool" => Scheme::Spool,
        "redis" => Scheme::Redis,
        _ => Scheme::Unknown,
    }
}

/// An [`Error::Url`] for `url` (password masked) with `reason`.
pub(crate) fn bad_url(url: &str, reason: impl Into<String>) -> Error {
    Error::Url {
        url: mask_password(url),
        reason: reason.into(),
    }
}

/// Makes a mailer from a URL; see the [module docs](crate::mail) for the schemes.
///
/// An unknown scheme, or one whose backend is not built in, is an error that quotes the
/// URL (password masked) and lists what is expected.
pub fn from_url(url: &str) -> Result<Box<dyn Mailer>, Error> {
    match scheme(url) {
        Scheme::Smtp => Ok(Box::new(SmtpMailer::new(SmtpConfig::from_url(url)?)?)),
        Scheme::Console => Ok(Box::new(ConsoleMailer::stdout())),
        Scheme::Memory => Ok(Box::new(MemoryMailer::new())),
        Scheme::Spool | Scheme::Redis => Ok(open_queue(url)?.into_mailer()),
        Scheme::Unknown => Err(bad_url(
            url,
            "unknown scheme; expected smtp://, smtps://, console://, memory://, spool:// or redis://",
        )),
    }
}

/// Makes a [`Transport`] (where a drainer sends queued mail) from a URL: `smtp://`,
/// `smtps://` or `console://`. `connections` caps the SMTP connections used at once.
pub fn transport_from_url(url: &str, connections: usize) -> Result<Box<dyn Transport>, Error> {
    match scheme(url) {
        Scheme::Smtp => {
            let config = SmtpConfig::from_url(url)?.max_connections(connections);
            Ok(Box::new(SmtpMailer::new(config)?))
        }
        Scheme::Console => Ok(Box::new(ConsoleMailer::stdout())),
        _ => Err(bad_url(
            url,
            "queued mail can be sent only through smtp://, smtps:// or console://",
        )),
    }
}

/// Opens the queue a URL names: `spool:///var/spool/app` or `spool:relative/dir`
/// (`?durable=false` to skip fsyncs), or `redis://host:6379/0?queue=app` (feature `redis`).
pub fn queue_from_url(url: &str) -> Result<Box<dyn Queue>, Error> {
    Ok(open_queue(url)?.into_queue())
}

/// A queue opened by URL, still of its own type, so it can become either trait object.
enum OpenedQueue {
    Spool(Spool),
    #[cfg(feature = "redis")]
    Redis(RedisQueue),
}

impl OpenedQueue {
    fn into_mailer(self) -> Box<dyn Mailer> {
        match self {
            OpenedQueue::Spool(spool) => Box::new(spool),
            #[cfg(feature = "redis")]
            OpenedQueue::Redis(redis) => Box::new(redis),
        }
    }

    fn into_queue(self) -> Box<dyn Queue> {
        match self {
            OpenedQueue::Spool(spool) => Box::new(spool),
            #[cfg(feature = "redis")]
            OpenedQueue::Redis(redis) => Box::new(redis),
        }
    }
}

fn open_queue(url: &str) -> Result<OpenedQueue, Error> {
    match scheme(url) {
        Scheme::Spool => Ok(OpenedQueue::Spool(Spool::from_url(url)?)),
        #[cfg(feature = "redis")]
        Scheme::Redis => Ok(OpenedQueue::Redis(RedisQueue::from_url(url)?)),
        #[cfg(not(feature = "redis"))]
        Scheme::Redis => Err(bad_url(
            url,
            "the Redis queue (redis://) is not built in; build squall with the `redis` feature, or use spool:",
        )),
        _ => Err(bad_url(
            url,
            "not a queue; expected spool:///absolute/dir, spool:relative/dir or redis://host:port/db",
        )),
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
