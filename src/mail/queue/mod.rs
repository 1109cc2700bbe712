//! The [`Queue`] trait that the disk spool and Redis implement, the [`QueuedMessage`] they
//! store, and the [`RetryPolicy`] the drainer applies.
//!
//! A web handler enqueues (fast, durable); a drainer claims due messages, sends them, and
//! then acks, defers or fails each one. A claim belongs to one drainer until it is acked,
//! deferred, failed or released, or until that drainer dies and another recovers it.
//!
//! ```
//! use std::time::Duration;
//! use squall::mail::RetryPolicy;
//!
//! let policy = RetryPolicy::default();
//! assert_eq!(policy.max_attempts, 12);
//! // Full jitter: the delay before attempt n+1 is uniform in [0, min(cap, base * 2^n)].
//! let delay = policy.backoff(3);
//! assert!(delay <= Duration::from_secs(8 * 60));
//! ```

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::RenderedEmail;
pub(crate) use super::random::random_u64;
use super::record::{RecordError, RecordWriter};

mod layout;
#[cfg(feature = "redis")]
mod redis;
mod spool;

#[cfg(feature = "redis")]
pub use redis::{RedisConfig, RedisQueue};
pub use spool::{Spool, SpoolConfig};

/// What went wrong with a queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A file operation on the spool failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done: "create", "rename", "fsync", "read", ...
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A message could not be encoded for storage (too large, or not encodable).
    #[error("message {id} cannot be stored: {source}")]
    Encode {
        /// The queue id of the message.
        id: String,
        /// What the record encoder said.
        #[source]
        source: RecordError,
    },
    /// The Redis server failed or could not be reached in time.
    #[error("redis {server}: {op}: {source}")]
    Redis {
        /// `host:port` of the server.
        server: String,
        /// What was being done, e.g. `enqueue` or `claim (XREADGROUP)`.
        op: &'static str,
        /// The Redis client's error (a `redis::RedisError`).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A claim was used after it was already acked, deferred, failed or released.
    #[error("message {id} is no longer claimed by this drainer")]
    NotClaimed {
        /// The queue id of the message.
        id: String,
    },
}

impl QueueError {
    /// True when trying again cannot help: the message itself cannot be stored (it is
    /// too large for a record). Everything else (a file or a server that failed, a claim
    /// lost) may work on a later try.
    pub fn is_permanent(&self) -> bool {
        matches!(self, QueueError::Encode { .. })
    }

    /// True when a later try may succeed; the opposite of [`is_permanent`](Self::is_permanent).
    pub fn is_transient(&self) -> bool {
        !self.is_permanent()
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        QueueError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// A message in a queue: its envelope, the rendered bytes (so every attempt sends the
/// same message), and its delivery history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// The queue id: `<created-unix-ms>-<pid>-<random>`, sortable and unique.
    pub id: String,
    /// When it was enqueued, in ms since the Unix epoch.
    pub created_unix_ms: u64,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Not to be sent before this time (ms since the Unix epoch).
    pub next_attempt_unix_ms: u64,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients still to deliver to.
    pub recipients: Vec<String>,
    /// The Message-ID header value.
    pub message_id: String,
    /// The whole message, RFC 5322, CRLF line ends. Cloning it shares the bytes; it is
    /// stored exactly as a `Vec<u8>` was (bincode writes both as a length and the bytes).
    pub bytes: Bytes,
}

impl QueuedMessage {
    /// A new message to enqueue, with a fresh id.
    pub fn new(rendered: &RenderedEmail) -> Self {
        let now = unix_ms(SystemTime::now());
        QueuedMessage {
            id: new_id(now),
            created_unix_ms: now,
            attempts: 0,
            next_attempt_unix_ms: now,
            last_error: None,
            from: rendered.from.clone(),
            recipients: rendered.recipients.clone(),
            message_id: rendered.message_id.clone(),
            bytes: rendered.bytes.clone(),
        }
    }

    /// The envelope and bytes, ready for a transport (the bytes are shared, not copied).
    pub fn to_rendered(&self) -> RenderedEmail {
        RenderedEmail {
            from: self.from.clone(),
            recipients: self.recipients.clone(),
            message_id: self.message_id.clone(),
            bytes: self.bytes.clone(),
        }
    }

    /// Whether `id` names this message: its queue id, or its Message-ID with or without
    /// the angle brackets.
    pub fn is_named(&self, id: &str) -> bool {
        let bare = |s: &str| {
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        };
        let wanted = bare(id);
        self.id == id || (!wanted.is_empty() && bare(&self.message_id) == wanted)
    }

    /// The message as one queue record, exactly as the spool writes it to a file and
    /// Redis stores it in a stream entry: a 14-byte header (magic `SQML`, format version,
    /// body length, CRC-32) and the message in bincode.
    pub fn to_record(&self) -> Result<Vec<u8>, QueueError> {
        crate::mail::record::encode_record(self).map_err(|e| self.unstorable(e))
    }

    /// The message's record, to be written straight into a file (see [`RecordWriter`]).
    pub(crate) fn record_writer(&self) -> Result<RecordWriter<'_, Self>, QueueError> {
        RecordWriter::new(self).map_err(|e| self.unstorable(e))
    }

    fn unstorable(&self, source: RecordError) -> QueueError {
        QueueError::Encode {
            id: self.id.clone(),
            source,
        }
    }

    /// Reads one whole queue record, checking its header, length limit and CRC first.
    pub fn from_record(record: &[u8]) -> Result<Self, RecordError> {
        Self::from_shared_record(Bytes::copy_from_slice(record))
    }

    /// Reads one whole queue record held in `record`; the message's bytes are a slice of
    /// it, not a copy.
    pub(crate) fn from_shared_record(record: Bytes) -> Result<Self, RecordError> {
        crate::mail::record::decode_record(record)
    }
}

/// A message claimed by one drainer: send it, then ack, defer or fail it.
#[derive(Debug)]
pub struct Claimed {
    /// The message as stored.
    pub message: QueuedMessage,
    /// Where the queue keeps the claim; only the queue that made it can read it.
    token: ClaimToken,
}

/// Where a queue keeps one claim.
#[derive(Debug)]
enum ClaimToken {
    /// The spool: the claimed file, in this drainer's `cur/` directory.
    File(PathBuf),
    /// Redis: the stream entry id.
    #[cfg(feature = "redis")]
    Entry(String),
}

impl Claimed {
    /// A claim on a spool file.
    pub(crate) fn file(message: QueuedMessage, path: PathBuf) -> Self {
        Claimed {
            message,
            token: ClaimToken::File(path),
        }
    }

    /// A claim on a Redis stream entry.
    #[cfg(feature = "redis")]
    pub(crate) fn entry(message: QueuedMessage, id: String) -> Self {
        Claimed {
            message,
            token: ClaimToken::Entry(id),
        }
    }

    /// The claimed spool file; `NotClaimed` for a claim made by another kind of queue.
    pub(crate) fn path(&self) -> Result<&std::path::Path, QueueError> {
        match &self.token {
            ClaimToken::File(path) => Ok(path),
            #[cfg(feature = "redis")]
            ClaimToken::Entry(_) => Err(self.not_claimed()),
        }
    }

    /// The claimed Redis stream entry; `NotClaimed` for a claim made by another kind of
    /// queue.
    #[cfg(feature = "redis")]
    pub(crate) fn entry_id(&self) -> Result<&str, QueueError> {
        match &self.token {
            ClaimToken::Entry(id) => Ok(id),
            ClaimToken::File(_) => Err(self.not_claimed()),
        }
    }

    /// The error for a claim this queue does not hold.
    pub(crate) fn not_claimed(&self) -> QueueError {
        QueueError::NotClaimed {
            id: self.message.id.clone(),
        }
    }
}

/// What one [`Queue::claim`] took: the claims, and how many unreadable records it moved
/// to the dead-letter place on the way.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ClaimBatch {
    /// The messages claimed, to be sent and then settled one by one.
    pub claims: Vec<Claimed>,
    /// Records that could not be decoded, moved to the dead-letter place with the reason.
    pub quarantined: u64,
}

impl ClaimBatch {
    /// A batch of `claims`, with `quarantined` records moved aside.
    #[cfg(feature = "redis")]
    pub(crate) fn new(claims: Vec<Claimed>, quarantined: u64) -> Self {
        ClaimBatch {
            claims,
            quarantined,
        }
    }
}

/// How many messages are in each place of a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    /// Waiting to be sent now.
    pub queued: u64,
    /// Claimed by a drainer that is sending them.
    pub in_flight: u64,
    /// Waiting for a later attempt.
    pub deferred: u64,
    /// In the dead-letter place.
    pub failed: u64,
    /// Anything the operator should know (for Redis: persistence is off).
    pub warnings: Vec<String>,
}

/// A mail queue: the disk spool or Redis.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Stores a message durably (the id is the message's own).
    async fn enqueue(&self, message: &QueuedMessage) -> Result<(), QueueError>;

    /// Claims up to `max` messages that are due now. Records that cannot be decoded are
    /// moved to the dead-letter place with the reason, and counted in the batch.
    async fn claim(&self, max: usize) -> Result<ClaimBatch, QueueError>;

    /// The message was sent: remove it.
    async fn ack(&self, claim: Claimed) -> Result<(), QueueError>;

    /// Acks several claims; backends override it to do it in one round trip.
    async fn ack_all(&self, claims: Vec<Claimed>) -> Result<(), QueueError> {
        for claim in claims {
            self.ack(claim).await?;
        }
        Ok(())
    }

    /// Stores `message` (with its attempts, error, next attempt time and recipients
    /// updated) for a later attempt, in place of the claimed one.
    async fn defer(&self, claim: Claimed, message: QueuedMessage) -> Result<(), QueueError>;

    /// Moves `message` (the claimed one, its attempts and error updated) to the
    /// dead-letter place with `error` beside it.
    async fn fail(
        &self,
        claim: Claimed,
        message: QueuedMessage,
        error: &str,
    ) -> Result<(), QueueError>;

    /// Gives the claim back unchanged, due at once (no attempt spent).
    async fn release(&self, claim: Claimed) -> Result<(), QueueError>;

    /// Reads up to `max` due messages without claiming or changing anything.
    async fn peek(&self, max: usize) -> Result<Vec<QueuedMessage>, QueueError>;

    /// Counts the messages in each place.
    async fn status(&self) -> Result<QueueStatus, QueueError>;

    /// Moves every failed message back to the queue with its attempts reset; returns
    /// how many.
    async fn retry_failed(&self) -> Result<u64, QueueError>;

    /// Moves deferred messages back to the queue, due now, keeping their attempts and
    /// last error: every one of them, or with `id` the one whose queue id or Message-ID
    /// (angle brackets optional) it is. For mail dated in the future, e.g. after clock
    /// skew. A drainer that claims at the same time gets each message once. Returns how
    /// many were moved: 0 when `id` matched none.
    async fn retry_deferred(&self, id: Option<&str>) -> Result<u64, QueueError>;

    /// Takes the queue-wide lock that `spool-drain --single` uses, without waiting:
    /// `Ok(None)` when another run holds it. The lock lasts as long as the guard (and
    /// never outlives the process).
    async fn try_lock_single(&self) -> Result<Option<SingleRunGuard>, QueueError>;

    /// Waits until new mail may have arrived or deferred mail may have fallen due, or
    /// `timeout` passed: what an idle watching drainer does between claims. A backend
    /// should wake as soon as mail arrives, also mail that arrived since the last
    /// [`claim`](Self::claim) came back empty (a spurious wake costs one empty claim).
    /// The spool watches `new/` with inotify, Redis blocks in `XREAD`; this default sleeps.
    async fn wait_for_mail(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }
}

/// Held while a `--single` run goes on; see [`Queue::try_lock_single`].
pub struct SingleRunGuard(#[allow(dead_code)] Box<dyn Send + Sync>);

impl SingleRunGuard {
    pub(crate) fn new(inner: impl Send + Sync + 'static) -> Self {
        SingleRunGuard(Box::new(inner))
    }
}

impl std::fmt::Debug for SingleRunGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SingleRunGuard")
    }
}

/// When to retry and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a message goes to the dead-letter place.
    pub max_attempts: u32,
    /// Age after which a message that failed again goes to the dead-letter place.
    pub max_age: Duration,
    /// The first backoff step.
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    /// 12 attempts or 2 days, backoff from 1 minute doubling up to 1 hour.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 12,
            max_age: Duration::from_secs(2 * 24 * 3600),
            base: Duration::from_secs(60),
            cap: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The delay before the next attempt after `attempts` attempts: exponential backoff
    /// with full jitter, uniform in `[0, min(cap, base * 2^(attempts-1))]`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .saturating_mul(1u32 << exp)
            .min(self.cap)
            .as_millis() as u64;
        Duration::from_millis(random_u64() % (ceiling + 1))
    }

    /// Whether a message that has now had `attempts` attempts, created at `created`, is
    /// to be given up.
    pub fn exhausted(&self, attempts: u32, created_unix_ms: u64, now_unix_ms: u64) -> bool {
        attempts >= self.max_attempts
            || now_unix_ms.saturating_sub(created_unix_ms) >= self.max_age.as_millis() as u64
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `<created-unix-ms>-<pid>-<random>`: sortable by age, unique without probing.
fn new_id(now_ms: u64) -> String {
    format!(
        "{now_ms:013}-{}-{:012x}",
        pid(),
        random_u64() & 0xffff_ffff_ffff
    )
}

/// The process id, asked of the OS once per process (a fork gets its own: the value is
/// checked against the OS only when it is first read in a process).
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_ceiling_and_cap() {
        let p = RetryPolicy::default();
        for attempts in 1..40 {
            let ceiling = (60u64 << (attempts - 1).min(30)).min(3600);
            for _ in 0..50 {
                assert!(p.backoff(attempts) <= Duration::from_secs(ceiling));
            }
        }
        // Full jitter spreads the delays.
        let delays: std::collections::HashSet<_> = (0..50).map(|_| p.backoff(10)).collect();
        assert!(delays.len() > 10);
    }

    #[test]
    fn exhausted_by_attempts_or_age() {
        let p = RetryPolicy::default();
        assert!(!p.exhausted(11, 0, 1000));
        assert!(p.exhausted(12, 0, 1000));
        assert!(p.exhausted(1, 0, 2 * 24 * 3600 * 1000));
    }

    #[test]
    fn a_message_is_named_by_its_queue_id_or_message_id() {
        let mut m = QueuedMessage::new(&RenderedEmail {
            from: "a@example.com".into(),
            recipients: vec!["b@example.com".into()],
            message_id: "<x1@example.com>".into(),
            bytes: Bytes::from_static(b"Subject: x\r\n\r\nx\r\n"),
        });
        m.id = "1700000000000-1-abc".into();
        assert!(m.is_named("1700000000000-1-abc"));
        assert!(m.is_named("<x1@example.com>") && m.is_named("x1@example.com"));
        assert!(!m.is_named("x2@example.com") && !m.is_named("") && !m.is_named("<>"));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = new_id(999);
        let b = new_id(1_700_000_000_000);
        assert!(a < b, "{a} {b}");
        assert_ne!(new_id(5), new_id(5));
    }
}
