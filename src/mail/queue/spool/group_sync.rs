//! Group commit for a spool directory: writers that renamed a record into the same
//! directory at about the same time share one `fsync` of it.
//!
//! A writer's rename is durable once an `fsync` of the directory that *started after the
//! rename* has finished. So each writer, after its rename, takes a ticket: the number of
//! the next sync to start. If no sync is running, it runs that one itself (the leader) for
//! everyone waiting; if one is running, that one may have started before the rename, so it
//! waits for it to end and then for the next, which one of the waiters leads. Sixteen
//! writers arriving together cost two directory syncs instead of sixteen, and no writer
//! returns before a sync that covers its rename has succeeded.

use std::io;
use std::sync::{Condvar, Mutex, PoisonError};

use crate::sync::lock;

/// Shares directory syncs between concurrent writers of one directory.
#[derive(Default)]
pub(super) struct GroupSync {
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Default)]
struct State {
    /// Syncs started so far; while one runs, it is number `started`.
    started: u64,
    /// Syncs finished so far (they run one at a time, in order).
    finished: u64,
    running: bool,
    /// The last sync that failed: its number and its error.
    failed: Option<(u64, io::ErrorKind, String)>,
    /// Callers waiting for a sync run by another (for tests).
    waiting: usize,
}

impl GroupSync {
    /// Returns once a run of `sync` that started after this call began has succeeded:
    /// runs it here, or waits for the one another caller runs. A failure is every
    /// covered caller's failure.
    pub(super) fn sync(&self, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut state = lock(&self.state);
        let ticket = state.started + 1;
        let mut sync = Some(sync);
        loop {
            if state.finished >= ticket {
                return match &state.failed {
                    Some((number, kind, message)) if *number >= ticket => {
                        Err(io::Error::new(*kind, message.clone()))
                    }
                    _ => Ok(()),
                };
            }
            if state.running {
                state.waiting += 1;
                state = self
                    .finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.waiting -= 1;
                continue;
            }
            // Nothing runs and our ticket is not served: every started sync has finished,
            // so the next one to start is ours (a caller leads at most once).
            state.running = true;
            state.started += 1;
            let number = state.started;
            drop(state);
            let result = sync.take().map_or(Ok(()), |run| run());
            state = lock(&self.state);
            state.running = false;
            state.finished = number;
            if let Err(e) = &result {
                state.failed = Some((number, e.kind(), e.to_string()));
            }
            if state.waiting > 0 {
                self.finished.notify_all();
            }
        }
    }

    /// How many callers wait for a sync run by another.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        lock(&self.state).waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Sixteen callers, the first of which holds its sync until the fifteen others are
    /// waiting: those arrived after it started, so they need one more sync, and share it.
    #[test]
    fn callers_that_arrive_during_a_sync_share_the_next_one() {
        let group = Arc::new(GroupSync::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(AtomicBool::new(false));
        let first = {
            let (group, runs, gate) = (group.clone(), runs.clone(), gate.clone());
            std::thread::spawn(move || {
                group.sync(|| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    while !gate.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    Ok(())
                })
            })
        };
        while runs.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let others: Vec<_> = (0..15)
            .map(|_| {
                let (group, runs) = (group.clone(), runs.clone());
                std::thread::spawn(move || {
                    group.sync(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                })
            })
            .collect();
        while group.waiting() < 15 {
            std::thread::yield_now();
        }
        gate.store(true, Ordering::SeqCst);
        first.join().unwrap().unwrap();
        for t in others {
            t.join().unwrap().unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_sync_fails_every_caller_it_covers_and_the_next_one_runs_again() {
        let group = GroupSync::default();
        let err = group
            .sync(|| Err(io::Error::other("disk on fire")))
            .unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        let mut ran = false;
        group
            .sync(|| {
                ran = true;
                Ok(())
            })
            .unwrap();
        assert!(ran, "a later caller gets a sync of its own");
    }
}
