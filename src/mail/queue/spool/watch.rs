//! Waking a watching drainer: inotify on `new/` (through the `notify` crate) says that a
//! record arrived, and the name of the earliest record in `deferred/` says when one falls
//! due. The drainer's poll interval stays as a safety net for anything neither sees.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use notify::event::{ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;

use super::super::unix_ms;
use crate::sync::lock;

/// The shortest wait for a deferred record that is already due, so that one the drainer
/// cannot take (another drainer holds it) does not make it spin.
const DUE_FLOOR: Duration = Duration::from_millis(10);

/// What a spool needs to wake a watching drainer; made on the first wait.
#[derive(Default)]
pub(super) struct NewMail {
    state: Mutex<State>,
    /// Rung by the watcher's thread for each record that lands in `new/`. A ring with
    /// nobody waiting is kept for the next wait, so a record that arrives between a claim
    /// and the wait after it is not missed.
    bell: Arc<Notify>,
}

#[derive(Default)]
enum State {
    /// No wait yet.
    #[default]
    Unwatched,
    /// Watching `new/`; dropping the watcher stops it.
    Watching(#[allow(dead_code)] RecommendedWatcher),
    /// The watch could not be set up (logged once): waits poll.
    Polling,
}

impl NewMail {
    /// Starts watching `new/` on the first call and then returns `false` at once: a record
    /// that arrived before the watch began is found by the claim that follows. Later
    /// calls return `true` (the caller waits).
    pub(super) fn watch(&self, new_dir: &Path) -> bool {
        let mut state = lock(&self.state);
        if !matches!(*state, State::Unwatched) {
            return true;
        }
        *state = match start(new_dir, self.bell.clone()) {
            Ok(watcher) => State::Watching(watcher),
            Err(error) => {
                tracing::warn!(dir = %new_dir.display(), %error, "cannot watch the spool for new mail; polling instead");
                State::Polling
            }
        };
        false
    }

    /// Waits for a record in `new/`, for `until` to pass, whichever comes first.
    pub(super) async fn wait(&self, until: Duration) {
        tokio::select! {
            () = self.bell.notified() => {}
            () = tokio::time::sleep(until) => {}
        }
    }
}

/// A watcher of `dir` that rings `bell` when a file is created or renamed into it.
fn start(dir: &Path, bell: Arc<Notify>) -> notify::Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        // An error may hide an arrival: wake the drainer to look.
        if event.as_ref().map_or(true, |e| is_arrival(&e.kind)) {
            bell.notify_one();
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// Whether an event in `new/` may mean a new record: not a read, a removal or a claim
/// (a rename out of `new/`).
fn is_arrival(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(_)
            | EventKind::Remove(_)
            | EventKind::Modify(ModifyKind::Name(RenameMode::From))
    )
}

/// When a deferred record is due, from its name `<next-attempt-unix-ms>-<id>`; a name
/// that does not start with a time is due at once.
pub(super) fn due_at(name: &OsStr) -> u64 {
    name.to_str()
        .and_then(|n| n.split('-').next())
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0)
}

/// How long until the earliest record in `deferred/` is due, at most `limit`.
pub(super) fn until_due(deferred_dir: &Path, limit: Duration) -> Duration {
    let Ok(entries) = fs::read_dir(deferred_dir) else {
        return limit;
    };
    let Some(earliest) = entries.flatten().map(|e| due_at(&e.file_name())).min() else {
        return limit;
    };
    let now = unix_ms(SystemTime::now());
    Duration::from_millis(earliest.saturating_sub(now))
        .max(DUE_FLOOR)
        .min(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deferred_record_sets_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        assert_eq!(until_due(dir.path(), hour), hour, "nothing deferred");
        let now = unix_ms(SystemTime::now());
        fs::write(dir.path().join(format!("{}-a", now + 600_000)), b"").unwrap();
        fs::write(dir.path().join(format!("{}-b", now + 60_000)), b"").unwrap();
        let wait = until_due(dir.path(), hour);
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        fs::write(dir.path().join(format!("{}-c", now - 1000)), b"").unwrap();
        assert_eq!(until_due(dir.path(), hour), DUE_FLOOR, "one is due already");
        assert_eq!(until_due(&dir.path().join("gone"), hour), hour);
    }

    #[test]
    fn claims_and_reads_are_not_arrivals() {
        use notify::event::{AccessKind, CreateKind, RemoveKind};
        assert!(is_arrival(&EventKind::Create(CreateKind::File)));
        assert!(is_arrival(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
        assert!(!is_arrival(&EventKind::Modify(ModifyKind::Name(
            RenameMode::From
        ))));
        assert!(!is_arrival(&EventKind::Access(AccessKind::Any)));
        assert!(!is_arrival(&EventKind::Remove(RemoveKind::File)));
    }
}
