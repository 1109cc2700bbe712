//! The Redis queue: the scale-out path of the mail queue, where every web process enqueues
//! to Redis and any number of `spool-drain --queue redis://…` processes drain it.
//!
//! [`RedisQueue`] says how it works, and [`RedisConfig`] holds its settings.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::mail::{Email, Mailer, Queue, RedisQueue};
//!
//! let queue = RedisQueue::from_url("redis://127.0.0.1:6379/0?queue=app&timeout=2")?;
//! let email = Email::builder().from("site@example.com").to("peter@example.com").build()?;
//! queue.send(&email).await?; // one script run
//! println!("{:?}", queue.status().await?);
//! # Ok(())
//! # }
//! ```

mod admin;
#[cfg(feature = "mail-preview")]
mod browse;
mod claims;
mod config;
mod conn;
mod enqueue;
mod lock;
mod queue_impl;
mod scripts;
mod wake;

pub use config::RedisConfig;

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use redis::Value;
use tokio::sync::OnceCell;

use super::random_u64;
use crate::mail::Error;
use crate::mail::url::grammar::bad_url;
use config::Keys;
use conn::Conn;

/// The consumer group every drainer of a queue joins.
const GROUP: &str = "squall-drainers";
/// The stream field that holds the record.
const FIELD: &str = "r";

/// A mail queue in Redis streams. Cheap to clone; clones share connections and the
/// drainer identity.
///
/// ```text
/// {NAME}:stream    queued and claimed messages (a stream; one consumer group of drainers)
/// {NAME}:deferred  messages waiting for a later attempt (a sorted set, score = due ms)
/// {NAME}:dead      the dead-letter stream: the record, the error, the time
/// {NAME}:enqueued  the queue ids enqueued in the last hour (a sorted set, score = ms)
/// {NAME}:single    the `spool-drain --single` lock
/// ```
///
/// A batch is enqueued by one Lua script that adds the same record the disk spool writes
/// ([`QueuedMessage::to_record`](crate::mail::QueuedMessage::to_record)) with `XADD`,
/// skipping the queue ids it added in the last hour (see below). A drainer claims with
/// `XREADGROUP` as a consumer named after its process; a sent message is removed with
/// `XACK`+`XDEL` in one `MULTI`; a deferred, failed or released one is moved by a Lua
/// script that first checks that the claim is still held (so a late settle after a
/// takeover never makes a copy). An idle watching drainer blocks in `XREAD` on a
/// connection of its own, from the group's last delivered id, until an entry the group has
/// not been given arrives or the earliest deferred message falls due. A drainer keeps its claims alive while it holds them
/// (`XCLAIM … JUSTID` every third of the lease); the claims of a drainer that died are
/// taken over with `XAUTOCLAIM` once they have been idle for the lease (`lease=`, default
/// 60 s). An entry delivered more than `max_deliveries=` times (default 5) without an ack
/// has killed its drainers: it goes to the dead-letter stream, as does an entry that does
/// not decode. All keys share the hash tag `{NAME}`, so the queue runs on Redis Cluster.
///
/// `spool-drain --single` takes a `SET NX PX` lock on `{NAME}:single` (a random token,
/// the lease as its expiry) that a task renews every third of the lease while the guard
/// lives; dropping the guard deletes it without blocking the async runtime, and a killed
/// run's lock expires after the lease. (Redis has no lock that dies with its holder's
/// process, so expiry plus renewal stands in for the spool's `flock`.)
///
/// URL: `redis://[user:pass@]host:port[/db]?queue=NAME&timeout=SECS&lease=SECS`; several
/// hosts (`redis://h1:7000,h2:7001/?queue=app`) or `cluster=true` use Redis Cluster.
/// Every command has a timeout (`timeout=`, default 5 s); the drainer's commands retry
/// with backoff for up to `reconnect=` seconds (default 60) while Redis restarts. The
/// same settings, typed: [`RedisConfig`].
///
/// # Enqueueing is all or nothing, and a retry adds nothing twice
///
/// [`Mailer::send_messages`](crate::mail::Mailer::send_messages),
/// [`enqueue_batch`](Self::enqueue_batch) and [`Queue::enqueue`](crate::mail::Queue::enqueue)
/// add their messages in one Lua script, which Redis runs atomically: the whole batch is
/// in the stream, or none of it. The script skips every queue id it added in the last
/// hour (kept in `{NAME}:enqueued`), so when a connection drops after Redis ran it, the
/// retry that follows (within `timeout=`) adds nothing twice, and neither does a caller
/// that sends the same [`QueuedMessage`](crate::mail::QueuedMessage)s again.
///
/// An `Err` means that the batch was not queued, with one exception that no client can rule
/// out: a reply lost for longer than `timeout=` (Redis ran the script and then became
/// unreachable). Then the error is a [`QueueError::Redis`](crate::mail::QueueError) whose
/// source is a timeout or a dropped connection, and the batch may be queued; calling
/// `enqueue_batch` again with the same messages is safe within the hour.
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("server", &self.inner.config.server)
            .field("stream", &self.inner.keys.stream)
            .field("consumer", &self.inner.consumer)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: RedisConfig,
    keys: Keys,
    /// Commands (multiplexed).
    conn: OnceCell<Conn>,
    /// Blocking reads only ([`Queue::wait_for_mail`](crate::mail::Queue::wait_for_mail)),
    /// so they never hold up commands.
    blocking: OnceCell<Conn>,
    /// This process's consumer name in the group.
    consumer: String,
    group_ready: AtomicBool,
    persistence_checked: AtomicBool,
    warnings: Mutex<Vec<String>>,
    /// Entry ids this process has claimed and not settled: kept alive by the heartbeat.
    in_flight: Mutex<HashSet<String>>,
    heartbeat_started: AtomicBool,
    last_takeover: Mutex<Option<Instant>>,
    last_promote: Mutex<Option<Instant>>,
    autoclaim_cursor: Mutex<String>,
}

impl RedisQueue {
    /// Opens the queue a URL names (see [`RedisQueue`] for the grammar); connects on first use,
    /// so this never blocks and works outside an async runtime.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        Self::new(RedisConfig::from_url(url)?)
    }

    /// Opens the queue `config` describes; connects on first use. An unusable setting
    /// (a queue name with braces, a zero duration) is an [`Error::Url`] that names it.
    pub fn new(config: RedisConfig) -> Result<Self, Error> {
        config
            .check()
            .map_err(|reason| bad_url(&config.describe(), reason))?;
        let consumer = format!("{}-{:08x}", std::process::id(), random_u64() as u32);
        Ok(RedisQueue {
            inner: Arc::new(Inner {
                keys: Keys::new(config.queue_name()),
                config,
                conn: OnceCell::new(),
                blocking: OnceCell::new(),
                consumer,
                group_ready: AtomicBool::new(false),
                persistence_checked: AtomicBool::new(false),
                warnings: Mutex::new(Vec::new()),
                in_flight: Mutex::new(HashSet::new()),
                heartbeat_started: AtomicBool::new(false),
                last_takeover: Mutex::new(None),
                last_promote: Mutex::new(None),
                autoclaim_cursor: Mutex::new("0-0".into()),
            }),
        })
    }

    /// The stream key, `{NAME}:stream`.
    pub fn stream_key(&self) -> &str {
        &self.inner.keys.stream
    }

    /// The dead-letter stream key, `{NAME}:dead`.
    pub fn dead_key(&self) -> &str {
        &self.inner.keys.dead
    }

    /// The sorted set of deferred messages, `{NAME}:deferred`.
    pub fn deferred_key(&self) -> &str {
        &self.inner.keys.deferred
    }

    /// This process's consumer name in the drainers' group.
    pub fn consumer(&self) -> &str {
        &self.inner.consumer
    }
}

/// The bytes of a string reply, moved out of it.
fn owned_bytes(value: Value) -> Option<Bytes> {
    match value {
        Value::BulkString(b) => Some(b.into()),
        Value::SimpleString(s) => Some(s.into_bytes().into()),
        _ => None,
    }
}

fn bytes_of(value: Option<&Value>) -> Option<&[u8]> {
    match value {
        Some(Value::BulkString(b)) => Some(b),
        Some(Value::SimpleString(s)) => Some(s.as_bytes()),
        _ => None,
    }
}

/// Collects every text in a reply (INFO answers as one string, or one per node).
fn texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => out.push(s.clone()),
        Value::Array(items) | Value::Set(items) => items.iter().for_each(|v| texts(v, out)),
        Value::Map(pairs) => pairs.iter().for_each(|(_, v)| texts(v, out)),
        _ => {}
    }
}
