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
//! the directory (`?durable=false` skips both fsyncs). A drainer claims a message by
//! renaming it into its own `cur/<drainer>/`: one rename wins, so two drainers never send
//! the same message. A drainer that can take another drainer's lock knows that one is dead
//! and moves its claims back to `new/`.
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

use crate::sync::lock;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use super::{
    Claimed, Queue, QueueError, QueueStatus, QueuedMessage, SingleRunGuard, random_u64, unix_ms,
};
use crate::mail::record::{encode_record, read_record};
use crate::mail::{Email, Error, Mailer, Outcome, SendReport};

const LOCK_FILE: &str = ".lock";
const ERROR_SUFFIX: &str = ".error";

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

struct Inner {
    dir: PathBuf,
    durable: bool,
    /// This process's claim directory, made on the first claim.
    drainer: Mutex<Option<DrainerDir>>,
    last_recovery: Mutex<Option<Instant>>,
}

struct DrainerDir {
    path: PathBuf,
    /// Held for the drainer's lifetime: the lock is how others know it is alive.
    _lock: File,
}

impl Drop for DrainerDir {
    /// A drainer that stops with no claims left removes its directory; one with claims
    /// left keeps it, and the next drainer recovers them.
    fn drop(&mut self) {
        let only_lock = fs::read_dir(&self.path)
            .map(|entries| entries.flatten().all(|e| e.file_name() == LOCK_FILE))
            .unwrap_or(false);
        if only_lock {
            let _ = fs::remove_file(self.path.join(LOCK_FILE));
            let _ = fs::remove_dir(&self.path);
        }
    }
}

impl Spool {
    /// Opens (and creates, mode 0700) a durable spool in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, QueueError> {
        Self::open_with(dir, true)
    }

    /// Opens a spool; `durable: false` skips the fsyncs (a crash of the machine, not of
    /// the process, may then lose the newest messages).
    pub fn open_with(dir: impl AsRef<Path>, durable: bool) -> Result<Self, QueueError> {
        let dir = dir.as_ref().to_path_buf();
        for sub in ["", "tmp", "new", "cur", "deferred", "failed"] {
            let path = dir.join(sub);
            match fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(&path)
            {
                Ok(()) => {}
                Err(e) => return Err(QueueError::io("create directory", path, e)),
            }
        }
        Ok(Spool {
            inner: Arc::new(Inner {
                dir,
                durable,
                drainer: Mutex::new(None),
                last_recovery: Mutex::new(None),
            }),
        })
    }

    /// Opens the spool a URL names: `spool:///var/spool/app` (absolute),
    /// `spool:relative/dir`, with `?durable=false` to skip fsyncs.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Url {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("spool:")
            .ok_or_else(|| bad("expected spool:///absolute/dir or spool:relative/dir".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = match path.strip_prefix("//") {
            Some(absolute) if absolute.starts_with('/') => absolute,
            Some(_) => {
                return Err(bad(
                    "a host is not allowed; expected spool:///absolute/dir or spool:relative/dir"
                        .into(),
                ));
            }
            None => path,
        };
        let path = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| bad("the path is not valid UTF-8 once decoded".into()))?;
        if path.is_empty() {
            return Err(bad(
                "no directory; expected spool:///absolute/dir or spool:relative/dir".into(),
            ));
        }
        let mut durable = true;
        for (key, value) in crate::mail::url::query_pairs(query) {
            match (&*key, &*value) {
                ("durable", "true") => durable = true,
                ("durable", "false") => durable = false,
                _ => {
                    return Err(bad(format!(
                        "unknown parameter {key}={value:?}; expected durable=true or durable=false"
                    )));
                }
            }
        }
        Spool::open_with(&*path, durable).map_err(|e| bad(e.to_string()))
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
            .write_into("new", &message.id, &encode_record(message)?)
    }
}

impl Inner {
    fn sub(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `bytes` to `tmp/<name>` and renames the file to `<place>/<name>`. Names are
    /// unique (ids carry the pid and random bits; `create_new` refuses a clash).
    fn write_into(&self, place: &str, name: &str, bytes: &[u8]) -> Result<(), QueueError> {
        let tmp = self.sub("tmp").join(name);
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
        };
        let mut file = match create() {
            // Left by a process that died before its rename: never a message yet.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                create()
            }
            other => other,
        }
        .map_err(|e| QueueError::io("create", &tmp, e))?;
        let written = file.write_all(bytes).and_then(|()| {
            if self.durable {
                file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(QueueError::io("write", &tmp, e));
        }
        drop(file);
        let dest = self.sub(place).join(name);
        self.rename(&tmp, &dest)?;
        Ok(())
    }

    /// Renames, then fsyncs the destination directory when durable.
    fn rename(&self, from: &Path, to: &Path) -> Result<(), QueueError> {
        fs::rename(from, to).map_err(|e| QueueError::io("rename", from, e))?;
        if self.durable
            && let Some(parent) = to.parent()
        {
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| QueueError::io("fsync", parent, e))?;
        }
        Ok(())
    }

    /// This process's claim directory, made (under a dot name, locked, then renamed into
    /// place) on first use.
    fn drainer_dir(&self) -> Result<PathBuf, QueueError> {
        let mut slot = lock(&self.drainer);
        if let Some(d) = &*slot {
            return Ok(d.path.clone());
        }
        let id = format!("{}-{:08x}", std::process::id(), random_u64() as u32);
        let staging = self.sub("cur").join(format!(".{id}"));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&staging)
            .map_err(|e| QueueError::io("create directory", &staging, e))?;
        let lock_path = staging.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| QueueError::io("create", &lock_path, e))?;
        lock.lock()
            .map_err(|e| QueueError::io("lock", &lock_path, e))?;
        let path = self.sub("cur").join(&id);
        fs::rename(&staging, &path).map_err(|e| QueueError::io("rename", &staging, e))?;
        tracing::debug!(drainer = %id, "claim directory ready");
        *slot = Some(DrainerDir {
            path: path.clone(),
            _lock: lock,
        });
        Ok(path)
    }

    /// Moves the claims of dead drainers back to `new/`. A drainer is dead when its lock
    /// can be taken. Runs at most every few seconds.
    fn recover_dead_drainers(&self, mine: &Path) -> Result<(), QueueError> {
        {
            let mut last = lock(&self.last_recovery);
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let cur = self.sub("cur");
        let entries = fs::read_dir(&cur).map_err(|e| QueueError::io("list", &cur, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path == mine || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Some(staged) = name.strip_prefix('.') {
                // A drainer that died while making its directory left it empty.
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(60));
                if old {
                    tracing::debug!(drainer = staged, "removing an abandoned claim directory");
                    let _ = fs::remove_dir_all(&path);
                }
                continue;
            }
            // A claim directory is born with its lock (it is made under a dot name first),
            // so one without a lock file is dead too.
            let lock_path = path.join(LOCK_FILE);
            let lock = OpenOptions::new().write(true).open(&lock_path);
            if let Ok(lock) = &lock
                && lock.try_lock().is_err()
            {
                continue; // alive
            }
            let mut moved = 0;
            if let Ok(files) = fs::read_dir(&path) {
                for file in files.flatten() {
                    if file.file_name() == LOCK_FILE {
                        continue;
                    }
                    let dest = self.sub("new").join(file.file_name());
                    match fs::rename(file.path(), &dest) {
                        Ok(()) => moved += 1,
                        Err(e) => {
                            tracing::warn!(file = %file.path().display(), error = %e, "cannot recover a claimed message")
                        }
                    }
                }
            }
            let _ = fs::remove_file(&lock_path);
            let _ = fs::remove_dir(&path);
            tracing::info!(drainer = %name, moved, "recovered the claims of a dead drainer");
        }
        Ok(())
    }

    /// Names of due files in `deferred/` and then `new/`, up to `max`, streamed.
    fn due_candidates(&self, max: usize) -> Result<Vec<(&'static str, String)>, QueueError> {
        let now = unix_ms(SystemTime::now());
        let mut out = Vec::new();
        for place in ["deferred", "new"] {
            let dir = self.sub(place);
            let entries = fs::read_dir(&dir).map_err(|e| QueueError::io("list", &dir, e))?;
            for entry in entries {
                if out.len() >= max {
                    return Ok(out);
                }
                let entry = entry.map_err(|e| QueueError::io("list", &dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if place == "deferred" {
                    let due_at = name
                        .split('-')
                        .next()
                        .and_then(|t| t.parse::<u64>().ok())
                        .unwrap_or(0);
                    if due_at > now {
                        continue;
                    }
                }
                out.push((place, name));
            }
        }
        Ok(out)
    }

    /// Moves an unreadable record, as it is, to `failed/` with the reason beside it.
    fn quarantine(&self, path: &Path, name: &str, reason: &str) -> Result<(), QueueError> {
        tracing::warn!(file = %path.display(), reason, "quarantined an unreadable spool record");
        let text = format!(
            "time: {}\nerror: unreadable record: {reason}\n",
            unix_ms(SystemTime::now())
        );
        self.write_into("failed", &format!("{name}{ERROR_SUFFIX}"), text.as_bytes())?;
        self.rename(path, &self.sub("failed").join(name))
    }

    fn claim(&self, max: usize, quarantined: &mut u64) -> Result<Vec<Claimed>, QueueError> {
        let mine = self.drainer_dir()?;
        self.recover_dead_drainers(&mine)?;
        let mut claims = Vec::new();
        for (place, name) in self.due_candidates(max)? {
            let from = self.sub(place).join(&name);
            let path = mine.join(&name);
            match fs::rename(&from, &path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // another drainer won
                Err(e) => return Err(QueueError::io("claim (rename)", &from, e)),
            }
            let decoded = File::open(&path)
                .and_then(|mut f| read_record(&mut f))
                .map_err(|e| QueueError::io("read", &path, e))?;
            match decoded {
                Ok(message) => claims.push(Claimed {
                    message,
                    token: path.to_string_lossy().into_owned(),
                }),
                Err(reason) => {
                    self.quarantine(&path, &name, &reason.to_string())?;
                    *quarantined += 1;
                }
            }
        }
        Ok(claims)
    }

    fn ack(&self, claim: &Claimed) -> Result<(), QueueError> {
        match fs::remove_file(&claim.token) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(QueueError::NotClaimed {
                id: claim.message.id.clone(),
            }),
            Err(e) => Err(QueueError::io("remove", &claim.token, e)),
        }
    }

    /// Replaces the claimed record with `message`, then moves it to `dest`: at every
    /// moment exactly one copy of the message exists.
    fn replace_and_move(
        &self,
        claim: &Claimed,
        message: &QueuedMessage,
        dest: &Path,
    ) -> Result<(), QueueError> {
        let claimed = Path::new(&claim.token);
        let (Some(name), Some(mine)) = (claimed.file_name(), claimed.parent()) else {
            return Err(QueueError::NotClaimed {
                id: claim.message.id.clone(),
            });
        };
        let name = name.to_string_lossy();
        let tmp = self
            .sub("tmp")
            .join(format!("{name}.{:08x}", random_u64() as u32));
        let bytes = encode_record(message)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| QueueError::io("create", &tmp, e))?;
        file.write_all(&bytes)
            .and_then(|()| {
                if self.durable {
                    file.sync_data()
                } else {
                    Ok(())
                }
            })
            .map_err(|e| QueueError::io("write", &tmp, e))?;
        drop(file);
        self.rename(&tmp, &mine.join(&*name))?;
        self.rename(claimed, dest)
    }

    fn defer(&self, claim: &Claimed, message: &QueuedMessage) -> Result<(), QueueError> {
        let dest = self.sub("deferred").join(format!(
            "{:013}-{}",
            message.next_attempt_unix_ms, message.id
        ));
        self.replace_and_move(claim, message, &dest)
    }

    fn fail(
        &self,
        claim: &Claimed,
        message: &QueuedMessage,
        error: &str,
    ) -> Result<(), QueueError> {
        let text = format!(
            "time: {}\nid: {}\nmessage-id: {}\nfrom: {}\nrecipients: {}\nattempts: {}\nerror: {}\n",
            unix_ms(SystemTime::now()),
            message.id,
            message.message_id,
            message.from,
            message.recipients.join(", "),
            message.attempts,
            error.replace('\n', " "),
        );
        self.write_into(
            "failed",
            &format!("{}{ERROR_SUFFIX}", message.id),
            text.as_bytes(),
        )?;
        self.replace_and_move(claim, message, &self.sub("failed").join(&message.id))
    }

    fn release(&self, claim: &Claimed) -> Result<(), QueueError> {
        let claimed = Path::new(&claim.token);
        let name = claimed.file_name().unwrap_or_default();
        self.rename(claimed, &self.sub("new").join(name))
    }

    fn peek(&self, max: usize) -> Result<Vec<QueuedMessage>, QueueError> {
        let mut out = Vec::new();
        for (place, name) in self.due_candidates(max)? {
            let path = self.sub(place).join(&name);
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            match read_record(&mut file) {
                Ok(Ok(message)) => out.push(message),
                Ok(Err(reason)) => {
                    tracing::warn!(file = %path.display(), %reason, "unreadable record (left in place)");
                }
                Err(e) => return Err(QueueError::io("read", &path, e)),
            }
        }
        Ok(out)
    }

    fn count(&self, dir: &Path, skip: impl Fn(&str) -> bool) -> Result<u64, QueueError> {
        let entries = fs::read_dir(dir).map_err(|e| QueueError::io("list", dir, e))?;
        let mut n = 0;
        for entry in entries.flatten() {
            if !skip(&entry.file_name().to_string_lossy()) {
                n += 1;
            }
        }
        Ok(n)
    }

    fn status(&self) -> Result<QueueStatus, QueueError> {
        let mut in_flight = 0;
        let cur = self.sub("cur");
        let drainers = fs::read_dir(&cur).map_err(|e| QueueError::io("list", &cur, e))?;
        for d in drainers.flatten() {
            if d.file_type().is_ok_and(|t| t.is_dir()) {
                in_flight += self.count(&d.path(), |n| n == LOCK_FILE)?;
            }
        }
        Ok(QueueStatus {
            queued: self.count(&self.sub("new"), |_| false)?,
            in_flight,
            deferred: self.count(&self.sub("deferred"), |_| false)?,
            failed: self.count(&self.sub("failed"), |n| n.ends_with(ERROR_SUFFIX))?,
            warnings: Vec::new(),
        })
    }

    fn retry_failed(&self) -> Result<u64, QueueError> {
        let failed = self.sub("failed");
        let entries = fs::read_dir(&failed).map_err(|e| QueueError::io("list", &failed, e))?;
        let mut moved = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(ERROR_SUFFIX) {
                continue;
            }
            let path = entry.path();
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            let mut message = match read_record(&mut file) {
                Ok(Ok(message)) => message,
                Ok(Err(reason)) => {
                    tracing::warn!(file = %path.display(), %reason, "left in failed/: the record is unreadable");
                    continue;
                }
                Err(e) => return Err(QueueError::io("read", &path, e)),
            };
            message.attempts = 0;
            message.next_attempt_unix_ms = unix_ms(SystemTime::now());
            message.created_unix_ms = message.next_attempt_unix_ms;
            // The new record goes in first; a crash before the old one is removed leaves
            // a copy in failed/, never none.
            self.write_into("new", &message.id, &encode_record(&message)?)?;
            fs::remove_file(&path).map_err(|e| QueueError::io("remove", &path, e))?;
            let _ = fs::remove_file(failed.join(format!("{name}{ERROR_SUFFIX}")));
            moved += 1;
        }
        Ok(moved)
    }
}

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
        let bytes = encode_record(message)?;
        if !self.inner.durable {
            // A few syscalls without fsync: cheaper inline than a trip to the blocking pool.
            return self.inner.write_into("new", &message.id, &bytes);
        }
        let id = message.id.clone();
        blocking(&self.inner, move |s| s.write_into("new", &id, &bytes)).await
    }

    async fn claim(&self, max: usize, quarantined: &mut u64) -> Result<Vec<Claimed>, QueueError> {
        let (claims, q) = blocking(&self.inner, move |s| {
            let mut q = 0;
            s.claim(max, &mut q).map(|c| (c, q))
        })
        .await?;
        *quarantined += q;
        Ok(claims)
    }

    async fn ack(&self, claim: Claimed) -> Result<(), QueueError> {
        blocking(&self.inner, move |s| s.ack(&claim)).await
    }

    async fn ack_all(&self, claims: Vec<Claimed>) -> Result<(), QueueError> {
        blocking(&self.inner, move |s| {
            claims.iter().try_for_each(|c| s.ack(c))
        })
        .await
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

    async fn try_lock_single(&self) -> Result<Option<SingleRunGuard>, QueueError> {
        self.try_single_lock()
    }
}

#[async_trait]
impl Mailer for Spool {
    /// Renders and enqueues each message; `Outcome::Queued` carries the queue id.
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let mut outcomes = Vec::with_capacity(messages.len());
        for email in messages {
            match email.render() {
                Ok(rendered) => {
                    let queued = QueuedMessage::new(&rendered);
                    self.enqueue(&queued).await.map_err(Error::Queue)?;
                    outcomes.push(Outcome::Queued { id: queued.id });
                }
                Err(e) => outcomes.push(Outcome::Failed(e.into())),
            }
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
        let s = Spool::from_url(&abs).unwrap();
        assert!(!s.inner.durable);
        assert!(dir.path().join("new").is_dir());
        for (url, expect) in [
            ("spool://host/x", "a host is not allowed"),
            ("spool:", "no directory"),
            ("spool:x?fsync=no", "unknown parameter"),
        ] {
            let err = Spool::from_url(url).unwrap_err().to_string();
            assert!(err.contains(expect), "{url}: {err}");
            assert!(err.contains(url), "{url}: {err}");
        }
    }
}
