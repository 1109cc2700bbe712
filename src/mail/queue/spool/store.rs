//! The spool's files: writing a record safely (`tmp/`, fsync, rename, fsync the
//! directory), this drainer's claim directory, and recovering the claims of dead drainers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{Access, OFlags, access};
use rustix::io::Errno;

use super::super::{QueueError, random_u64};
use super::group_sync::GroupSync;
use super::watch::NewMail;
use crate::sync::lock;

pub(super) const LOCK_FILE: &str = ".lock";
pub(super) const ERROR_SUFFIX: &str = ".error";
/// A file in `tmp/` older than this was left by a writer that died or ran out of disk.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// Makes one directory (and its parents), mode 0700.
fn make_dir(path: &Path) -> Result<(), QueueError> {
    fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(path)
        .map_err(|e| QueueError::io("create directory", path, e))
}

/// An entry of a spool directory, opened without following a symbolic link and without
/// waiting on a FIFO.
pub(super) enum Entry {
    /// A regular file: a record to read.
    Record(File),
    /// Anything else, which is never a record: what it is, for the `.error` file.
    Other(&'static str),
}

/// Opens `path` with `O_NONBLOCK | O_NOFOLLOW` and says whether it is a regular file.
/// Nothing found in the spool can make a reader block or leave the spool.
pub(super) fn open_entry(path: &Path) -> io::Result<Entry> {
    let flags = OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
            return Ok(Entry::Other("a symbolic link"));
        }
        Err(e) if e.raw_os_error() == Some(Errno::NXIO.raw_os_error()) => {
            return Ok(Entry::Other("a socket"));
        }
        Err(e) => return Err(e),
    };
    let kind = file.metadata()?.file_type();
    Ok(if kind.is_file() {
        Entry::Record(file)
    } else if kind.is_dir() {
        Entry::Other("a directory")
    } else if kind.is_fifo() {
        Entry::Other("a FIFO")
    } else if kind.is_socket() {
        Entry::Other("a socket")
    } else if kind.is_char_device() || kind.is_block_device() {
        Entry::Other("a device")
    } else {
        Entry::Other("not a regular file")
    })
}

/// The state a [`Spool`](super::Spool) and its clones share.
pub(super) struct Inner {
    pub(super) dir: PathBuf,
    pub(super) durable: bool,
    /// This process's claim directory, made on the first claim.
    drainer: Mutex<Option<DrainerDir>>,
    last_recovery: Mutex<Option<Instant>>,
    /// Wakes a watching drainer when mail arrives.
    pub(super) new_mail: NewMail,
    /// Renames into `new/` (enqueues, above all) that happen together share its fsyncs.
    new_sync: GroupSync,
    /// Directory fsyncs run, for tests.
    dir_fsyncs: AtomicU64,
    /// Whether the last timed removal waited for the disk (see `Inner::removals_are_slow`).
    pub(super) slow_removals: AtomicBool,
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

impl Inner {
    /// Makes (mode 0700) the spool's directories under `dir`, and checks that this
    /// process may write to each: a spool it cannot write is a configuration error, found
    /// here rather than at the first claim. The filesystem root is refused.
    pub(super) fn create(dir: PathBuf, durable: bool) -> Result<Self, QueueError> {
        make_dir(&dir)?;
        let real = fs::canonicalize(&dir).map_err(|e| QueueError::io("resolve", &dir, e))?;
        if real.parent().is_none() {
            return Err(QueueError::io(
                "open spool",
                &dir,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the filesystem root cannot be a spool; name a directory of its own",
                ),
            ));
        }
        for sub in ["", "tmp", "new", "cur", "deferred", "failed"] {
            let path = dir.join(sub);
            make_dir(&path)?;
            access(&path, Access::WRITE_OK | Access::EXEC_OK)
                .map_err(|e| QueueError::io("need write access to", path, e.into()))?;
        }
        Ok(Inner {
            dir,
            durable,
            drainer: Mutex::new(None),
            last_recovery: Mutex::new(None),
            new_mail: NewMail::default(),
            new_sync: GroupSync::default(),
            dir_fsyncs: AtomicU64::new(0),
            slow_removals: AtomicBool::new(false),
        })
    }

    pub(super) fn sub(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `bytes` to `tmp/<name>` and renames the file to `<place>/<name>`. Names are
    /// unique (ids carry the pid and random bits; `create_new` refuses a clash).
    pub(super) fn write_into(
        &self,
        place: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), QueueError> {
        let tmp = self.sub("tmp").join(name);
        self.write_new(&tmp, bytes)?;
        self.rename(&tmp, &self.sub(place).join(name))
    }

    /// Creates `tmp` (refusing to overwrite, except a leftover of a process that died
    /// before its rename: never a message yet), writes `bytes` and syncs them when durable.
    /// A failed write removes the file.
    pub(super) fn write_new(&self, tmp: &Path, bytes: &[u8]) -> Result<(), QueueError> {
        self.write_new_with(tmp, |file| file.write_all(bytes))
    }

    /// [`write_new`](Self::write_new), with `write` filling the file.
    pub(super) fn write_new_with(
        &self,
        tmp: &Path,
        write: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> Result<(), QueueError> {
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(tmp)
        };
        let mut file = match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(tmp);
                create()
            }
            other => other,
        }
        .map_err(|e| QueueError::io("create", tmp, e))?;
        let written = write(&mut file).and_then(|()| {
            if self.durable {
                file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            let _ = fs::remove_file(tmp);
            return Err(QueueError::io("write", tmp, e));
        }
        Ok(())
    }

    /// Renames, then fsyncs the destination directory when durable. Concurrent renames
    /// into `new/` share one fsync that started after each of them (group commit).
    pub(super) fn rename(&self, from: &Path, to: &Path) -> Result<(), QueueError> {
        fs::rename(from, to).map_err(|e| QueueError::io("rename", from, e))?;
        if self.durable
            && let Some(parent) = to.parent()
        {
            let sync_dir = || {
                self.dir_fsyncs.fetch_add(1, Ordering::Relaxed);
                File::open(parent).and_then(|d| d.sync_all())
            };
            if parent.file_name() == Some("new".as_ref()) && parent.parent() == Some(&*self.dir) {
                self.new_sync.sync(sync_dir)
            } else {
                sync_dir()
            }
            .map_err(|e| QueueError::io("fsync", parent, e))?;
        }
        Ok(())
    }

    /// Directory fsyncs run so far.
    #[cfg(test)]
    pub(super) fn dir_fsyncs(&self) -> u64 {
        self.dir_fsyncs.load(Ordering::Relaxed)
    }

    /// This process's claim directory, made (under a dot name, locked, then renamed into
    /// place) on first use.
    pub(super) fn drainer_dir(&self) -> Result<PathBuf, QueueError> {
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
        self.remove_stale_tmp();
        *slot = Some(DrainerDir {
            path: path.clone(),
            _lock: lock,
        });
        Ok(path)
    }

    /// Removes the files in `tmp/` older than an hour, once per drainer: a writer that
    /// died, or ran out of disk, before its rename left them. A fresh one may be a record
    /// that an enqueuer is writing now, and stays.
    fn remove_stale_tmp(&self) {
        let tmp = self.sub("tmp");
        let Ok(entries) = fs::read_dir(&tmp) else {
            return;
        };
        let mut removed = 0u64;
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > STALE_TMP);
            if !stale {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a stale file in tmp/")
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed stale files from tmp/");
        }
    }

    /// Moves the claims of dead drainers back to `new/`. A drainer is dead when its lock
    /// can be taken. Runs at most every few seconds.
    pub(super) fn recover_dead_drainers(&self, mine: &Path) -> Result<(), QueueError> {
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
            let moved = self.move_back(&path);
            let _ = fs::remove_file(&lock_path);
            let _ = fs::remove_dir(&path);
            tracing::info!(drainer = %name, moved, "recovered the claims of a dead drainer");
        }
        Ok(())
    }

    /// Moves every claim in a dead drainer's directory back to `new/`; returns how many.
    fn move_back(&self, drainer: &Path) -> u64 {
        let mut moved = 0;
        let Ok(files) = fs::read_dir(drainer) else {
            return 0;
        };
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
        moved
    }
}
