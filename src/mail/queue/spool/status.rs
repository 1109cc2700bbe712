//! Reading the spool without claiming: peeking at due mail, counting each place, and
//! moving dead-lettered or deferred mail back to the queue.

use std::fs::{self, File};
use std::path::Path;
use std::time::SystemTime;

use super::super::{QueueError, QueueStatus, QueuedMessage, unix_ms};
use super::store::{ERROR_SUFFIX, Entry, Inner, LOCK_FILE, open_entry};
use crate::mail::record::read_record;

/// Opens a record to read without claiming it: `None` (with a warning, the entry left in
/// place) for one that is gone or is not a regular file.
fn open_record(path: &Path) -> Option<File> {
    match open_entry(path) {
        Ok(Entry::Record(file)) => Some(file),
        Ok(Entry::Other(kind)) => {
            tracing::warn!(file = %path.display(), kind, "not a record (left in place)");
            None
        }
        Err(_) => None,
    }
}

impl Inner {
    pub(super) fn peek(&self, max: usize) -> Result<Vec<QueuedMessage>, QueueError> {
        let mut out = Vec::new();
        for (place, name) in self.due_candidates(max)? {
            let path = self.sub(place).join(&name);
            let Some(mut file) = open_record(&path) else {
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

    pub(super) fn status(&self) -> Result<QueueStatus, QueueError> {
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

    pub(super) fn retry_failed(&self) -> Result<u64, QueueError> {
        let failed = self.sub("failed");
        let entries = fs::read_dir(&failed).map_err(|e| QueueError::io("list", &failed, e))?;
        let mut moved = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(ERROR_SUFFIX) {
                continue;
            }
            let path = entry.path();
            let Some(mut file) = open_record(&path) else {
                continue;
            };
            let mut message: QueuedMessage = match read_record(&mut file) {
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
            self.write_into("new", &message.id, &message.to_record()?)?;
            fs::remove_file(&path).map_err(|e| QueueError::io("remove", &path, e))?;
            let _ = fs::remove_file(failed.join(format!("{name}{ERROR_SUFFIX}")));
            moved += 1;
        }
        Ok(moved)
    }

    pub(super) fn retry_deferred(&self, id: Option<&str>) -> Result<u64, QueueError> {
        let deferred = self.sub("deferred");
        let entries = fs::read_dir(&deferred).map_err(|e| QueueError::io("list", &deferred, e))?;
        let mut moved = 0;
        for entry in entries {
            let entry = entry.map_err(|e| QueueError::io("list", &deferred, e))?;
            let name = entry.file_name();
            // Named `<due-ms>-<queue id>`; anything else is read for its Message-ID.
            let queue_id = name
                .to_str()
                .and_then(|n| n.split_once('-'))
                .map(|(_, q)| q);
            if let Some(wanted) = id
                && queue_id != Some(wanted)
            {
                let path = entry.path();
                let Some(mut file) = open_record(&path) else {
                    continue;
                };
                match read_record::<QueuedMessage>(&mut file) {
                    Ok(Ok(message)) if message.is_named(wanted) => {}
                    Ok(_) => continue,
                    Err(e) => return Err(QueueError::io("read", &path, e)),
                }
            }
            if self.make_due(&name)? {
                moved += 1;
            }
        }
        Ok(moved)
    }
}
