//! [`RedisConfig`]: the `redis://` URL grammar, and the settings it gives.
//!
//! ```
//! use std::time::Duration;
//! use squall::mail::RedisConfig;
//!
//! let config = RedisConfig::from_url("redis://127.0.0.1:6379/0?queue=app&lease=30")?
//!     .timeout(Duration::from_secs(2))
//!     .max_deliveries(3);
//! assert_eq!(config.queue_name(), "app");
//! # Ok::<(), squall::mail::Error>(())
//! ```

use std::time::Duration;

use crate::mail::Error;
use crate::mail::url::grammar::{bad_url, count, query_pairs, seconds};

/// Where a Redis queue lives and how it behaves: the typed form of a `redis://` URL (see
/// the [`RedisQueue`](super::RedisQueue) docs for the grammar). Make one with
/// [`from_url`](Self::from_url), adjust it with the setters, and open it with
/// [`RedisQueue::new`](super::RedisQueue::new).
///
/// ```
/// use std::time::Duration;
/// use squall::mail::{RedisConfig, RedisQueue};
///
/// let config = RedisConfig::from_url("redis://127.0.0.1:6379/0")?
///     .queue("app")
///     .timeout(Duration::from_secs(2))
///     .lease(Duration::from_secs(30))
///     .reconnect(Duration::from_secs(120));
/// let queue = RedisQueue::new(config)?; // connects on first use
/// assert_eq!(queue.stream_key(), "{app}:stream");
/// # Ok::<(), squall::mail::Error>(())
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    /// `host:port[,host:port…]`, for messages (no password).
    pub(super) server: String,
    /// One connection URL per node, for the client (may hold a password).
    pub(super) nodes: Vec<String>,
    pub(super) cluster: bool,
    db: i64,
    queue: String,
    pub(super) timeout: Duration,
    pub(super) lease: Duration,
    pub(super) reconnect: Duration,
    pub(super) max_deliveries: u64,
}

impl std::fmt::Debug for RedisConfig {
    /// Leaves out the node URLs, which may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("server", &self.server)
            .field("cluster", &self.cluster)
            .field("db", &self.db)
            .field("queue", &self.queue)
            .field("timeout", &self.timeout)
            .field("lease", &self.lease)
            .field("reconnect", &self.reconnect)
            .field("max_deliveries", &self.max_deliveries)
            .finish()
    }
}

impl RedisConfig {
    /// Reads `redis://[user:pass@]host:port[/db]?queue=NAME&timeout=SECS&lease=SECS&…`
    /// (several hosts, or `cluster=true`, for Redis Cluster). An error quotes the URL
    /// with its password masked.
    pub fn from_url(url: &str) -> Result<RedisConfig, Error> {
        let config = parse(url).map_err(|reason| bad_url(url, reason))?;
        config.check().map_err(|reason| bad_url(url, reason))?;
        Ok(config)
    }

    /// The queue name: every key is `{NAME}:…` (default `squall`). It may not be empty
    /// nor hold braces, which would break the Redis Cluster hash tag;
    /// [`RedisQueue::new`](super::RedisQueue::new) refuses such a name.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        self.queue = name.into();
        self
    }

    /// The limit on each command and on an enqueue with its retries (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a claim, and the `--single` lock, last without renewal (default 60 s):
    /// a drainer that died has its claims taken over after this long.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a drainer's commands keep retrying while Redis is away (default 60 s).
    pub fn reconnect(mut self, reconnect: Duration) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Deliveries without an ack after which an entry is dead-lettered as poison
    /// (default 5).
    pub fn max_deliveries(mut self, n: u64) -> Self {
        self.max_deliveries = n;
        self
    }

    /// The queue name.
    pub fn queue_name(&self) -> &str {
        &self.queue
    }

    /// `redis://host:port[,…]/db?queue=NAME` (no password), for messages.
    pub(super) fn describe(&self) -> String {
        format!("redis://{}/{}?queue={}", self.server, self.db, self.queue)
    }

    /// What no URL can say but a setter can: an unusable name or a zero duration.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.queue.is_empty() || self.queue.contains(['{', '}']) {
            return Err(format!(
                "queue={:?}: a queue name is not empty and has no braces",
                self.queue
            ));
        }
        for (name, value) in [
            ("timeout", self.timeout),
            ("lease", self.lease),
            ("reconnect", self.reconnect),
        ] {
            if value.is_zero() {
                return Err(format!("{name}: zero is not a usable duration"));
            }
        }
        if self.max_deliveries == 0 {
            return Err("max_deliveries=0 is not a count of at least 1".into());
        }
        Ok(())
    }
}

/// The keys of one queue; they share the hash tag `{NAME}`, so the queue runs on Redis
/// Cluster.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub(super) stream: String,
    pub(super) deferred: String,
    pub(super) dead: String,
    pub(super) single: String,
    pub(super) enqueued: String,
}

impl Keys {
    pub(super) fn new(queue: &str) -> Keys {
        let tag = format!("{{{queue}}}");
        Keys {
            stream: format!("{tag}:stream"),
            deferred: format!("{tag}:deferred"),
            dead: format!("{tag}:dead"),
            single: format!("{tag}:single"),
            enqueued: format!("{tag}:enqueued"),
        }
    }
}

fn parse(url: &str) -> Result<RedisConfig, String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or("expected redis://host:port/db?queue=NAME")?;
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let db: i64 = match path.trim_end_matches('/') {
        "" => 0,
        n => n
            .parse()
            .map_err(|_| format!("the database {n:?} is not a number"))?,
    };
    let mut config = RedisConfig {
        server: String::new(),
        nodes: Vec::new(),
        cluster: false,
        db,
        queue: "squall".to_owned(),
        timeout: Duration::from_secs(5),
        lease: Duration::from_secs(60),
        reconnect: Duration::from_secs(60),
        max_deliveries: 5,
    };
    for (key, value) in query_pairs(query) {
        match &*key {
            "queue" | "key" => config.queue = value.into_owned(),
            "cluster" => {
                config.cluster = match &*value {
                    "true" | "yes" | "1" => true,
                    "false" | "no" | "0" => false,
                    _ => return Err(format!("cluster={value:?}: expected true or false")),
                }
            }
            "timeout" => config.timeout = seconds(&key, &value)?,
            "lease" => config.lease = seconds(&key, &value)?,
            "reconnect" => config.reconnect = seconds(&key, &value)?,
            "max_deliveries" => config.max_deliveries = count(&key, &value)?,
            _ => {
                return Err(format!(
                    "unknown parameter {key:?}; expected queue, timeout, lease, reconnect, \
                     max_deliveries or cluster"
                ));
            }
        }
    }
    let hosts: Vec<&str> = hosts.split(',').filter(|h| !h.is_empty()).collect();
    if hosts.is_empty() {
        return Err("no host; expected redis://host:port/db?queue=NAME".into());
    }
    config.cluster |= hosts.len() > 1;
    if config.cluster && db != 0 {
        return Err("Redis Cluster has only database 0".into());
    }
    let auth = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    config.nodes = hosts
        .iter()
        .map(|h| {
            let has_port = match h.rfind(']') {
                Some(i) => h[i..].contains(':'),
                None => h.contains(':'),
            };
            if !has_port {
                return Ok(format!("redis://{auth}{h}:6379/{db}"));
            }
            let port = h.rsplit_once(':').map_or("", |(_, p)| p);
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(format!("redis://{auth}{h}/{db}")),
                _ => Err(format!(
                    "the port {port:?} of {h:?} is not a port (1 to 65535)"
                )),
            }
        })
        .collect::<Result<_, String>>()?;
    config.server = hosts.join(",");
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> RedisConfig {
        let config = parse(url).unwrap();
        config.check().unwrap();
        config
    }

    #[test]
    fn urls() {
        let c = parsed("redis://127.0.0.1:6400/2?queue=app&timeout=0.5&lease=1");
        let keys = Keys::new(c.queue_name());
        assert_eq!(keys.stream, "{app}:stream");
        assert_eq!(keys.deferred, "{app}:deferred");
        assert_eq!(keys.dead, "{app}:dead");
        assert_eq!(keys.enqueued, "{app}:enqueued");
        assert_eq!(c.nodes, ["redis://127.0.0.1:6400/2"]);
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(c.lease, Duration::from_secs(1));
        assert!(!c.cluster);

        let c = parsed("redis://u:p@a:7000,b:7001/?queue=q");
        assert!(c.cluster);
        assert_eq!(c.server, "a:7000,b:7001");
        assert_eq!(c.nodes, ["redis://u:p@a:7000/0", "redis://u:p@b:7001/0"]);
        assert!(!format!("{c:?}").contains("u:p"), "no password in Debug");

        let c = parsed("redis://localhost?cluster=true");
        assert!(c.cluster);
        assert_eq!(c.nodes, ["redis://localhost:6379/0"]);
        assert_eq!(c.queue_name(), "squall");

        for (url, expect) in [
            ("redis://h:1/x", "not a number"),
            ("redis://h:1/0?lease=-1", "positive number"),
            ("redis://h:1/0?bogus=1", "unknown parameter"),
            ("redis://h:1/0?queue=a{b}", "braces"),
            ("redis://a:1,b:2/3", "only database 0"),
            ("redis:///0", "no host"),
            (
                "redis://127.0.0.1:99999/0",
                "\"99999\" of \"127.0.0.1:99999\" is not a port",
            ),
            ("redis://a:1,b:x/", "\"x\""),
            ("redis://h:/0", "is not a port"),
        ] {
            match RedisConfig::from_url(url) {
                Err(Error::Url { reason, .. }) => {
                    assert!(reason.contains(expect), "{url}: {reason}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        match RedisConfig::from_url("redis://u:secret@h:1/0?x=1") {
            Err(Error::Url { url, .. }) => assert!(!url.contains("secret"), "{url}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn setters_are_checked_like_the_url() {
        let base = parsed("redis://h:1/0");
        let c = base.clone().queue("app").max_deliveries(2);
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.describe(), "redis://h:1/0?queue=app");
        for (bad, expect) in [
            (base.clone().queue(""), "queue name"),
            (base.clone().queue("}x"), "braces"),
            (base.clone().lease(Duration::ZERO), "lease"),
            (base.clone().timeout(Duration::ZERO), "timeout"),
            (base.clone().max_deliveries(0), "max_deliveries"),
        ] {
            let reason = bad.check().unwrap_err();
            assert!(reason.contains(expect), "{reason}");
        }
    }
}
