//! Claiming due records by renaming them into this drainer's directory, and settling each
//! claim: ack (remove), defer, fail (dead-letter) or release.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::super::{ClaimBatch, Claimed, QueueError, QueuedMessage, random_u64, unix_ms};
use super::store::{ERROR_SUFFIX, Entry, Inner, open_entry};
use super::watch::due_at;
use crate::mail::record::read_record;

/// The most threads [`Inner::ack_many`] removes records on at once.
const ACK_LANES: usize = 32;
/// A removal that takes this long waited for the disk; [`Inner::ack_many`] then overlaps
/// the rest. A quick one (records not yet written back) takes 10–30 µs here.
pub(super) const SLOW_REMOVAL: Duration = Duration::from_micros(200);

/// `name` with `suffix` appended, for names that need not be UTF-8.
fn with_suffix(name: &OsStr, suffix: &str) -> OsString {
    let mut out = name.to_os_string();
    out.push(suffix);
    out
}

/// Reads a claimed record: `Err` inside for one that cannot be decoded. A directory, FIFO
/// or symbolic link is never a record: opening it neither blocks nor follows it.
fn read_claimed(path: &Path) -> Result<Result<QueuedMessage, String>, QueueError> {
    Ok(
        match open_entry(path).map_err(|e| QueueError::io("open", path, e))? {
            Entry::Record(mut file) => read_record(&mut file)
                .map_err(|e| QueueError::io("read", path, e))?
                .map_err(|reason| reason.to_string()),
            Entry::Other(kind) => Err(format!("not a regular file but {kind}")),
        },
    )
}

impl Inner {
    /// Names of due files in `deferred/` and then `new/`, up to `max`, streamed.
    pub(super) fn due_candidates(
        &self,
        max: usize,
    ) -> Result<Vec<(&'static str, OsString)>, QueueError> {
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
                let name = entry.file_name();
                if place == "deferred" && due_at(&name) > now {
                    continue;
                }
                out.push((place, name));
            }
        }
        Ok(out)
    }

    /// Moves an unreadable record, as it is, to `failed/` with the reason beside it.
    fn quarantine(&self, path: &Path, name: &OsStr, reason: &str) -> Result<(), QueueError> {
        tracing::warn!(file = %path.display(), reason, "quarantined an unreadable spool record");
        let text = format!(
            "time: {}\nerror: unreadable record: {reason}\n",
            unix_ms(SystemTime::now())
        );
        let error_name = with_suffix(name, ERROR_SUFFIX);
        let tmp = self.sub("tmp").join(&error_name);
        self.write_new(&tmp, text.as_bytes())?;
        self.rename(&tmp, &self.sub("failed").join(&error_name))?;
        self.rename(path, &self.sub("failed").join(name))
    }

    pub(super) fn claim(&self, max: usize) -> Result<ClaimBatch, QueueError> {
        let mine = self.drainer_dir()?;
        self.recover_dead_drainers(&mine)?;
        let mut batch = ClaimBatch::default();
        for (place, name) in self.due_candidates(max)? {
            let from = self.sub(place).join(&name);
            let path = mine.join(&name);
            match fs::rename(&from, &path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // another drainer won
                Err(e) => return Err(QueueError::io("claim (rename)", &from, e)),
            }
            match read_claimed(&path)? {
                Ok(message) => batch.claims.push(Claimed::file(message, path)),
                Err(reason) => {
                    self.quarantine(&path, &name, &reason)?;
                    batch.quarantined += 1;
                }
            }
        }
        Ok(batch)
    }

    pub(super) fn ack(&self, claim: &Claimed) -> Result<(), QueueError> {
        let path = claim.path()?;
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(claim.not_claimed()),
            Err(e) => Err(QueueError::io("remove", path, e)),
        }
    }

    /// [`ack`](Self::ack), noting whether the removal waited for the disk, so that the
    /// next acks go where such waits do not hold up a drainer's sending (see
    /// [`removals_are_slow`](Self::removals_are_slow)).
    pub(super) fn ack_timed(&self, claim: &Claimed) -> Result<(), QueueError> {
        let started = Instant::now();
        let acked = self.ack(claim);
        self.slow_removals
            .store(started.elapsed() >= SLOW_REMOVAL, Ordering::Relaxed);
        acked
    }

    /// Whether the last timed removal took [`SLOW_REMOVAL`] or longer: records that
    /// reached the disk, on a filesystem that discards freed blocks online. A drainer
    /// then acks on the blocking pool, where several removals wait at once, rather than
    /// inline, where each wait would stall the connections' tasks.
    pub(super) fn removals_are_slow(&self) -> bool {
        self.slow_removals.load(Ordering::Relaxed)
    }

    /// Acks `claims`, trying every one; returns the first error. One at a time while
    /// removals are quick; once one took longer than `slow` (removing a record that is
    /// on disk frees its blocks, and with online discard that waits for the disk: about
    /// 2.5 ms here), the rest go to up to [`ACK_LANES`] helper threads at once, whose
    /// waits overlap (they happen outside the directory's lock). Measured here, a drain
    /// of records on disk ran at ~350 msg/s one at a time and ~8,000 msg/s in 32 lanes.
    pub(super) fn ack_many(&self, claims: &[Claimed], slow: Duration) -> Result<(), QueueError> {
        let mut first_error = None;
        let mut rest = claims;
        while let Some((claim, tail)) = rest.split_first() {
            let started = Instant::now();
            if let Err(e) = self.ack(claim) {
                first_error.get_or_insert(e);
            }
            rest = tail;
            if started.elapsed() >= slow {
                break;
            }
        }
        if !rest.is_empty() {
            let per_lane = rest.len().div_ceil(ACK_LANES);
            let ack_lane = |lane: &[Claimed]| {
                let mut first_error = None;
                for claim in lane {
                    if let Err(e) = self.ack(claim) {
                        first_error.get_or_insert(e);
                    }
                }
                first_error
            };
            let errors: Vec<Option<QueueError>> = std::thread::scope(|scope| {
                let lanes: Vec<_> = rest
                    .chunks(per_lane)
                    .map(|lane| {
                        // No thread to be had: this lane runs here.
                        std::thread::Builder::new()
                            .spawn_scoped(scope, move || ack_lane(lane))
                            .map_err(|_| ack_lane(lane))
                    })
                    .collect();
                lanes
                    .into_iter()
                    .map(|lane| match lane {
                        Ok(thread) => thread.join().unwrap_or_else(|_| {
                            Some(QueueError::io(
                                "remove",
                                self.sub("cur"),
                                io::Error::other("a removal thread panicked"),
                            ))
                        }),
                        Err(inline) => inline,
                    })
                    .collect()
            });
            if first_error.is_none() {
                first_error = errors.into_iter().flatten().next();
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Replaces the claimed record with `message`, then moves it to `dest`: at every
    /// moment exactly one copy of the message exists.
    fn replace_and_move(
        &self,
        claim: &Claimed,
        message: &QueuedMessage,
        dest: &Path,
    ) -> Result<(), QueueError> {
        let claimed = claim.path()?;
        let (Some(name), Some(mine)) = (claimed.file_name(), claimed.parent()) else {
            return Err(claim.not_claimed());
        };
        // Written straight into the file: a large message is not held twice.
        let record = message.record_writer()?;
        let tmp = self
            .sub("tmp")
            .join(with_suffix(name, &format!(".{:08x}", random_u64() as u32)));
        self.write_new_with(&tmp, |file| record.write_to(file))?;
        self.rename(&tmp, &mine.join(name))?;
        self.rename(claimed, dest)
    }

    pub(super) fn defer(&self, claim: &Claimed, message: &QueuedMessage) -> Result<(), QueueError> {
        let dest = self.sub("deferred").join(format!(
            "{:013}-{}",
            message.next_attempt_unix_ms, message.id
        ));
        self.replace_and_move(claim, message, &dest)
    }

    pub(super) fn fail(
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

    /// Claims the deferred record `deferred/<name>` as a drainer would, then moves it to
    /// `new/` due now, its attempts and last error kept. `false` when a drainer took it
    /// first. One that cannot be decoded goes to `new/` as it is, for the drainer to
    /// quarantine.
    pub(super) fn make_due(&self, name: &OsStr) -> Result<bool, QueueError> {
        let from = self.sub("deferred").join(name);
        let path = self.drainer_dir()?.join(name);
        match fs::rename(&from, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(QueueError::io("claim (rename)", &from, e)),
        }
        match read_claimed(&path)? {
            Ok(mut message) => {
                message.next_attempt_unix_ms = unix_ms(SystemTime::now());
                let dest = self.sub("new").join(&message.id);
                self.replace_and_move(&Claimed::file(message.clone(), path), &message, &dest)?;
            }
            Err(_) => self.rename(&path, &self.sub("new").join(name))?,
        }
        Ok(true)
    }

    pub(super) fn release(&self, claim: &Claimed) -> Result<(), QueueError> {
        let claimed = claim.path()?;
        let name = claimed.file_name().ok_or_else(|| claim.not_claimed())?;
        self.rename(claimed, &self.sub("new").join(name))
    }
}
