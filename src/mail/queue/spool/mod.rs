//! The disk spool: a mail queue in a directory, with Maildir's and Postfix's discipline,
//! so that no message is ever lost or seen half-written.
//!
//! ```text
//! <dir>/tmp/             records being written (never read)
//! <dir>/new/<id>         queued, due now
//! <dir>/cur/<drainer>/   claimed by one live drainer (it holds <drainer>/.lock)
//! <dir>/deferred/<next-attempt-ms>-<id>
//! <dir>/failed/<id>      the dead-letter place, with <id>.error beside each record
//! ```
//!
//! Enqueue writes the record to `tmp/`, `fsync`s it, renames it into `new/` and `fsync`s
//! the directory ([`SpoolConfig::durable`]`(false)` or `?durable=false` skips both fsyncs);
//! enqueues that run at the same time share the directory `fsync` (group commit), and
//! none returns before one that started after its rename has succeeded. A drainer claims a message by
//! renaming it into its own `cur/<drainer>/`: one rename wins, so two drainers never send
//! the same message. A drainer that can take another drainer's lock knows that one is dead
//! and moves its claims back to `new/`. An idle watching drainer sleeps until inotify says
//! a record landed in `new/` or the earliest record in `deferred/` falls due.
//!
//! Each record is a 14-byte header (magic `SQML`, u16 format version, u32 body length, u32
//! CRC-32 of the body, little-endian) and a bincode body (serde mode, size-limited). A
//! record that does not decode is moved, as it is, to `failed/` with the reason.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::mail::{Email, Mailer, Queue, Spool};
//!
//! let dir = tempfile::tempdir()?;
//! let spool = Spool::open(dir.path())?;
//! let email = Email::builder().from("site@example.com").to("peter@example.com").build()?;
//! spool.send(&email).await?; // returns as soon as the record is on disk
//! assert_eq!(spool.status().await?.queued, 1);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{ClaimBatch, Claimed, Queue, QueueError, QueueStatus, QueuedMessage, SingleRunGuard};
use crate::mail::url::grammar::{bad_url, query_pairs};
use crate::mail::{Email, Error, Mailer, Outcome, SendReport};

mod claim;
mod group_sync;
mod status;
mod store;
mod watch;

use claim::SLOW_REMOVAL;
use store::Inner;

/// How to open a [`Spool`]: its directory, and whether to fsync.
///
/// ```
/// use squall::mail::{Spool, SpoolConfig};
///
/// let dir = tempfile::tempdir()?;
/// // For tests and throwaway mail: a crash of the machine may lose the newest messages.
/// let spool = Spool::open(SpoolConfig::new(dir.path()).durable(false))?;
/// // The same, by URL.
/// let url = format!("spool://{}?durable=false", dir.path().display());
/// assert_eq!(SpoolConfig::from_url(&url)?, SpoolConfig::new(dir.path()).durable(false));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    dir: PathBuf,
    durable: bool,
}

impl SpoolConfig {
    /// A durable spool in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            durable: true,
        }
    }

    /// Whether to fsync each record and its directory (the default). `false` is faster;
    /// a crash of the machine, not of the process, may then lose the newest messages.
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads a spool URL: `spool:///var/spool/app` (absolute) or `spool:relative/dir`, with
    /// `?durable=false` to skip fsyncs.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        const EXPECTED: &str = "expected spool:///absolute/dir or spool:relative/dir";
        let rest = url
            .strip_prefix("spool:")
            .ok_or_else(|| bad_url(url, EXPECTED))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = match path.strip_prefix("//") {
            Some(absolute) if absolute.starts_with('/') => absolute,
            Some(_) => return Err(bad_url(url, format!("a host is not allowed; {EXPECTED}"))),
            None => path,
        };
        let path = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| bad_url(url, "the path is not valid UTF-8 once decoded"))?;
        if path.is_empty() {
            return Err(bad_url(url, format!("no directory; {EXPECTED}")));
        }
        let mut config = SpoolConfig::new(&*path);
        for (key, value) in query_pairs(query) {
            config = match (&*key, &*value) {
                ("durable", "true") => config.durable(true),
                ("durable", "false") => config.durable(false),
                _ => {
                    return Err(bad_url(
                        url,
                        format!(
                            "unknown parameter {key}={value:?}; expected durable=true or durable=false"
                        ),
                    ));
                }
            };
        }
        Ok(config)
    }
}

impl<P: AsRef<Path>> From<P> for SpoolConfig {
    /// A durable spool in the directory `dir`.
    fn from(dir: P) -> Self {
        SpoolConfig::new(dir.as_ref())
    }
}

/// The disk spool. Cheap to clone; clones share the drainer identity.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.inner.dir)
            .field("durable", &self.inner.durable)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens (and creates, mode 0700) a spool: a directory for a durable one, or a
    /// [`SpoolConfig`].
    pub fn open(config: impl Into<SpoolConfig>) -> Result<Self, QueueError> {
        let SpoolConfig { dir, durable } = config.into();
        Ok(Spool {
            inner: Arc::new(Inner::create(dir, durable)?),
        })
    }

    /// Opens the spool a URL names; see [`SpoolConfig::from_url`]. A directory that
    /// cannot be made is an [`Error::Queue`] that keeps the OS error as its source.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        Ok(Spool::open(SpoolConfig::from_url(url)?)?)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Takes `<dir>/.drain.lock` without waiting: `None` when another run holds it.
    fn try_single_lock(&self) -> Result<Option<SingleRunGuard>, QueueError> {
        let path = self.inner.dir.join(".drain.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| QueueError::io("open", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(SingleRunGuard::new(file))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(QueueError::io("lock", &path, e)),
        }
    }

    /// Stores a message: `tmp/`, fsync, rename into `new/`, fsync `new/`.
    pub fn enqueue_blocking(&self, message: &QueuedMessage) -> Result<(), QueueError> {
        self.inner
            .write_into("new", &message.id, &message.to_record()?)
    }
}

/// How many acks [`Queue::ack_all`] does inline, one `unlink` each, before it hands them
/// to the blocking pool instead.
const INLINE_ACKS: usize = 8;

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    inner: &Arc<Inner>,
    work: impl FnOnce(&Inner) -> Result<T, QueueError> + Send + 'static,
) -> Result<T, QueueError> {
    let inner = inner.clone();
    tokio::task::spawn_blocking(move || work(&inner))
        .await
        .unwrap_or_else(|e| {
            Err(QueueError::io(
                "run",
                PathBuf::new(),
                io::Error::other(format!("a spool task failed: {e}")),
            ))
        })
}

#[async_trait]
impl Queue for Spool {
    async fn enqueue(&self, message: &QueuedMessage) -> Result<(), QueueError> {
        let bytes = message.to_record()?;
        if !self.inner.durable {
            // A few syscalls without fsync: cheaper inline than a trip to the blocking pool.
            return self.inner.write_into("new", &message.id, &bytes);
        }
        let id = message.id.clone();
        blocking(&self.inner, move |s| s.write_into("new", &id, &bytes)).await
    }

    async fn claim(&self, max: usize) -> Result<ClaimBatch, QueueError> {
        blocking(&self.inner, move |s| s.claim(max)).await
    }

    /// One `unlink`: cheaper inline than a trip to the blocking pool, and a drainer acks
    /// each message right after its 250, while the next one waits for it. Once a removal
    /// waited for the disk, acks go to the blocking pool, where their waits overlap.
    async fn ack(&self, claim: Claimed) -> Result<(), QueueError> {
        if self.inner.removals_are_slow() {
            return blocking(&self.inner, move |s| s.ack_timed(&claim)).await;
        }
        self.inner.ack_timed(&claim)
    }

    /// A few claims (what came in together while a drainer acked the last ones) are
    /// removed inline, as [`ack`](Queue::ack) does while removals are quick. More go to the blocking pool: one at a
    /// time while removals are quick, overlapped on a few threads once one waits for the
    /// disk (see `ack_many`). Every claim is tried; the first error is returned.
    async fn ack_all(&self, claims: Vec<Claimed>) -> Result<(), QueueError> {
        if claims.len() <= INLINE_ACKS && !self.inner.removals_are_slow() {
            let mut first_error = None;
            for claim in &claims {
                if let Err(e) = self.inner.ack_timed(claim) {
                    first_error.get_or_insert(e);
                }
            }
            return first_error.map_or(Ok(()), Err);
        }
        blocking(&self.inner, move |s| s.ack_many(&claims, SLOW_REMOVAL)).await
    }

    async fn defer(&self, claim: Claimed, message: QueuedMessage) -> Result<(), QueueError> {
        blocking(&self.inner, move |s| s.defer(&claim, &message)).await
    }

    async fn fail(
        &self,
        claim: Claimed,
        message: QueuedMessage,
        error: &str,
    ) -> Result<(), QueueError> {
        let error = error.to_owned();
        blocking(&self.inner, move |s| s.fail(&claim, &message, &error)).await
    }

    async fn release(&self, claim: Claimed) -> Result<(), QueueError> {
        blocking(&self.inner, move |s| s.release(&claim)).await
    }

    async fn peek(&self, max: usize) -> Result<Vec<QueuedMessage>, QueueError> {
        blocking(&self.inner, move |s| s.peek(max)).await
    }

    async fn status(&self) -> Result<QueueStatus, QueueError> {
        blocking(&self.inner, |s| s.status()).await
    }

    async fn retry_failed(&self) -> Result<u64, QueueError> {
        blocking(&self.inner, |s| s.retry_failed()).await
    }

    async fn retry_deferred(&self, id: Option<&str>) -> Result<u64, QueueError> {
        let id = id.map(str::to_owned);
        blocking(&self.inner, move |s| s.retry_deferred(id.as_deref())).await
    }

    async fn try_lock_single(&self) -> Result<Option<SingleRunGuard>, QueueError> {
        self.try_single_lock()
    }

    /// Wakes when a record lands in `new/` (inotify), when the earliest deferred record
    /// falls due, or after `timeout`. The first call starts the watch and returns at once.
    async fn wait_for_mail(&self, timeout: Duration) {
        let new_mail = &self.inner.new_mail;
        if !new_mail.watch(&self.inner.sub("new")) {
            return;
        }
        let deferred = self.inner.sub("deferred");
        let until = tokio::task::spawn_blocking(move || watch::until_due(&deferred, timeout))
            .await
            .unwrap_or(timeout);
        new_mail.wait(until).await;
    }
}

#[async_trait]
impl Mailer for Spool {
    /// Renders and enqueues each message on its own: `Outcome::Queued` carries the queue
    /// id, and a message that cannot be rendered or stored is `Outcome::Failed` while the
    /// others are still queued. Never `Err`: retry exactly the failed ones.
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let mut outcomes = Vec::with_capacity(messages.len());
        for email in messages {
            let queued = match email.render() {
                Ok(rendered) => QueuedMessage::new(&rendered),
                Err(e) => {
                    outcomes.push(Outcome::Failed(e.into()));
                    continue;
                }
            };
            outcomes.push(match self.enqueue(&queued).await {
                Ok(()) => Outcome::Queued { id: queued.id },
                Err(e) => {
                    tracing::warn!(id = %queued.id, error = %e, "a message could not be queued");
                    Outcome::Failed(Error::Queue(e))
                }
            });
        }
        Ok(SendReport { outcomes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let dir = tempfile::tempdir().unwrap();
        let abs = format!("spool://{}?durable=false", dir.path().display());
        assert_eq!(
            SpoolConfig::from_url(&abs).unwrap(),
            SpoolConfig::new(dir.path()).durable(false)
        );
        let s = Spool::from_url(&abs).unwrap();
        assert!(!s.inner.durable);
        assert!(dir.path().join("new").is_dir());
        assert_eq!(
            SpoolConfig::from_url("spool:rel/d%20ir").unwrap(),
            SpoolConfig::new("rel/d ir")
        );
        for (url, expect) in [
            ("spool://host/x", "a host is not allowed"),
            ("spool:", "no directory"),
            ("spool:x?fsync=no", "unknown parameter"),
            ("spool:%ff", "not valid UTF-8"),
        ] {
            let err = Spool::from_url(url).unwrap_err();
            assert!(matches!(err, Error::Url { .. }), "{url}: {err:?}");
            let err = err.to_string();
            assert!(err.contains(expect), "{url}: {err}");
            assert!(err.contains(url), "{url}: {err}");
        }
    }

    /// Sixteen writers enqueue at once: every record is in `new/` and readable when its
    /// enqueue returns, and the writers shared directory fsyncs (group commit) instead of
    /// running one each.
    #[test]
    fn concurrent_durable_enqueues_share_directory_fsyncs() {
        const WRITERS: usize = 16;
        const EACH: usize = 32;
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let email = Email::builder()
            .from("site@example.com")
            .to("peter@example.com")
            .text("hello")
            .build()
            .unwrap();
        let rendered = email.render().unwrap();
        let start = Arc::new(std::sync::Barrier::new(WRITERS));
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (spool, start, rendered) = (spool.clone(), start.clone(), rendered.clone());
                std::thread::spawn(move || {
                    start.wait();
                    (0..EACH)
                        .map(|_| {
                            let message = QueuedMessage::new(&rendered);
                            spool.enqueue_blocking(&message).unwrap();
                            // Visible (renamed into new/) as soon as the enqueue returns.
                            assert!(spool.dir().join("new").join(&message.id).is_file());
                            message.id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ids: Vec<String> = writers
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        ids.sort();
        let mut stored: Vec<String> = spool
            .inner
            .peek(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        stored.sort();
        assert_eq!(stored, ids);
        let syncs = spool.inner.dir_fsyncs();
        assert!(
            syncs < (WRITERS * EACH) as u64,
            "{syncs} directory fsyncs for {} enqueues",
            WRITERS * EACH
        );
    }

    /// `ack_all` removes every claim it can and reports the one it could not, one at a
    /// time and in lanes (as when removals wait for the disk).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ack_all_removes_every_claim_it_can_and_reports_the_lost_one() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(SpoolConfig::new(dir.path()).durable(false)).unwrap();
        let email = Email::builder()
            .from("site@example.com")
            .to("peter@example.com")
            .build()
            .unwrap();
        let rendered = email.render().unwrap();
        for slow in [SLOW_REMOVAL, std::time::Duration::ZERO] {
            for _ in 0..100 {
                spool.enqueue(&QueuedMessage::new(&rendered)).await.unwrap();
            }
            let claims = spool.claim(100).await.unwrap().claims;
            assert_eq!(claims.len(), 100);
            // One claim is lost (as if another process took its file): the others go.
            fs::remove_file(claims[7].path().unwrap()).unwrap();
            let inner = spool.inner.clone();
            let err = tokio::task::spawn_blocking(move || inner.ack_many(&claims, slow))
                .await
                .unwrap()
                .unwrap_err();
            assert!(matches!(err, QueueError::NotClaimed { .. }), "{err:?}");
            let status = spool.status().await.unwrap();
            assert_eq!((status.queued, status.in_flight), (0, 0), "{slow:?}");
        }
    }

    #[test]
    fn the_filesystem_root_is_refused() {
        for url in ["spool:///", "spool:////", "spool:///tmp/.."] {
            let err = Spool::from_url(url).unwrap_err();
            let Error::Queue(QueueError::Io { source, .. }) = &err else {
                panic!("{url}: {err:?}");
            };
            assert_eq!(source.kind(), io::ErrorKind::InvalidInput, "{url}");
            assert!(err.to_string().contains("filesystem root"), "{url}: {err}");
        }
        assert!(!Path::new("/deferred").exists(), "nothing made at the root");
    }

    #[test]
    fn a_directory_that_cannot_be_made_keeps_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        let url = format!("spool://{}/spool", file.display());
        let err = Spool::from_url(&url).unwrap_err();
        let Error::Queue(QueueError::Io { op, source, .. }) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(*op, "create directory");
        assert_eq!(source.kind(), io::ErrorKind::NotADirectory);
        assert!(std::error::Error::source(&err).is_some());
    }
}
