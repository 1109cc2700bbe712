//! The drainer's side of the stream: claims kept alive by a heartbeat, claims of dead
//! drainers taken over, deferred messages promoted, and claims settled by [`SETTLE`].

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use redis::Value;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply};

use super::conn::{Patience, Run};
use super::scripts::{PROMOTE, SETTLE};
use super::{FIELD, GROUP, Inner, bytes_of, owned_bytes, texts};
use crate::mail::queue::{Claimed, QueueError, QueuedMessage, unix_ms};
use crate::sync::lock;

/// How often a drainer moves due deferred messages back to the stream, at most.
pub(super) const PROMOTE_EVERY: Duration = Duration::from_millis(200);

/// Where a settled claim's record goes.
pub(super) enum Settle<'a> {
    /// To the deferred set, due at this time (ms since the Unix epoch).
    Defer { due_unix_ms: u64 },
    /// To the dead-letter stream, with the error and the message's Message-ID.
    Fail { error: &'a str, message_id: &'a str },
    /// Back to the stream, due at once.
    Release,
}

impl Settle<'_> {
    /// The operation, for errors and logs.
    fn op(&self) -> &'static str {
        match self {
            Settle::Defer { .. } => "defer",
            Settle::Fail { .. } => "fail",
            Settle::Release => "release",
        }
    }
}

impl Inner {
    /// Reads the persistence setting and warns when AOF is off.
    pub(super) async fn check_persistence(&self) {
        let mut info = redis::cmd("INFO");
        info.arg("persistence");
        let value: Value = match self.once(Run::Cmd(&info)).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the persistence setting");
                self.persistence_checked.store(false, Ordering::SeqCst);
                return;
            }
        };
        let mut all = Vec::new();
        texts(&value, &mut all);
        if all.iter().any(|t| t.contains("aof_enabled:0")) {
            let warning = format!(
                "redis {}: AOF persistence is off (appendonly no): a Redis crash can lose queued mail",
                self.config.server
            );
            tracing::warn!("{warning}");
            let mut w = lock(&self.warnings);
            if !w.contains(&warning) {
                w.push(warning);
            }
        }
    }

    pub(super) fn hold(&self, ids: impl IntoIterator<Item = String>) {
        lock(&self.in_flight).extend(ids);
    }

    pub(super) fn drop_hold(&self, id: &str) {
        lock(&self.in_flight).remove(id);
    }

    /// Every third of the lease, resets the idle time of this process's claims so that
    /// no other drainer takes them over while this one lives.
    pub(super) fn start_heartbeat(self: &Arc<Self>) {
        if self.heartbeat_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(self);
        let every = (self.config.lease / 3).max(Duration::from_millis(100));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let ids: Vec<String> = lock(&inner.in_flight).iter().cloned().collect();
                for chunk in ids.chunks(500) {
                    let mut cmd = redis::cmd("XCLAIM");
                    cmd.arg(&inner.keys.stream)
                        .arg(GROUP)
                        .arg(&inner.consumer)
                        .arg(0)
                        .arg(chunk)
                        .arg("JUSTID");
                    if let Err(e) = inner.once::<Value>(Run::Cmd(&cmd)).await {
                        tracing::debug!(error = %e, "could not renew the claims");
                    }
                }
            }
        });
    }

    /// Decodes claimed entries; undecodable ones go to the dead-letter stream.
    pub(super) async fn decode_entries(
        &self,
        entries: Vec<StreamId>,
        claims: &mut Vec<Claimed>,
        quarantined: &mut u64,
    ) -> Result<(), QueueError> {
        for mut entry in entries {
            // Moved out of the reply, not copied: the message's bytes become a slice of it.
            let raw = entry.map.remove(FIELD).and_then(owned_bytes);
            let reason = match raw.clone().map(QueuedMessage::from_shared_record) {
                Some(Ok(message)) => {
                    claims.push(Claimed::entry(message, entry.id));
                    continue;
                }
                Some(Err(reason)) => format!("unreadable record: {reason}"),
                None => "unreadable record: no field \"r\"".to_owned(),
            };
            self.quarantine(&entry.id, raw.as_deref().unwrap_or_default(), &reason)
                .await?;
            *quarantined += 1;
        }
        Ok(())
    }

    async fn quarantine(&self, entry: &str, raw: &[u8], reason: &str) -> Result<(), QueueError> {
        tracing::warn!(stream = %self.keys.stream, entry, reason, "moved an entry to the dead-letter stream");
        let how = Settle::Fail {
            error: reason,
            message_id: "",
        };
        self.settle(entry, raw, how).await
    }

    /// Runs [`SETTLE`] on the claim of `entry` and lets the heartbeat forget it. A claim
    /// settled already (by this drainer on a retried call, or by another that took it
    /// over) is left as it is.
    pub(super) async fn settle(
        &self,
        entry: &str,
        record: &[u8],
        how: Settle<'_>,
    ) -> Result<(), QueueError> {
        let k = &self.keys;
        let mut script = SETTLE.prepare_invoke();
        script.key(&k.stream);
        match &how {
            Settle::Defer { .. } => script.key(&k.deferred),
            Settle::Fail { .. } => script.key(&k.dead),
            Settle::Release => script.key(&k.stream),
        };
        script.arg(GROUP).arg(entry);
        match &how {
            Settle::Defer { due_unix_ms } => script.arg("defer").arg(record).arg(due_unix_ms),
            Settle::Fail { error, message_id } => script
                .arg("dead")
                .arg(record)
                .arg(error)
                .arg(message_id)
                .arg(unix_ms(SystemTime::now())),
            Settle::Release => script.arg("release").arg(record),
        };
        let op = how.op();
        let done: i64 = self
            .run(op, Patience::Drainer, Run::Script(&script))
            .await?;
        if done == 0 {
            tracing::info!(entry, op, "the claim was settled already (taken over?)");
        }
        self.drop_hold(entry);
        Ok(())
    }

    /// Moves due deferred messages back to the stream (at most every
    /// [`PROMOTE_EVERY`]).
    pub(super) async fn promote(&self, max: usize) -> Result<(), QueueError> {
        {
            let mut last = lock(&self.last_promote);
            if last.is_some_and(|t| t.elapsed() < PROMOTE_EVERY) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let mut script = PROMOTE.prepare_invoke();
        script
            .key(&self.keys.stream)
            .key(&self.keys.deferred)
            .arg(unix_ms(SystemTime::now()))
            .arg(max.max(1));
        let moved: i64 = self
            .run("promote deferred", Patience::Drainer, Run::Script(&script))
            .await?;
        if moved > 0 {
            tracing::debug!(moved, "deferred messages are due");
        }
        Ok(())
    }

    /// Takes over entries idle for longer than the lease (their drainer died); those
    /// delivered too often go to the dead-letter stream.
    pub(super) async fn take_over(
        &self,
        max: usize,
        when: Takeover,
        claims: &mut Vec<Claimed>,
        quarantined: &mut u64,
    ) -> Result<(), QueueError> {
        let every = (self.config.lease / 2).min(Duration::from_secs(5));
        {
            let mut last = lock(&self.last_takeover);
            if when == Takeover::Periodic && last.is_some_and(|t| t.elapsed() < every) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let cursor = lock(&self.autoclaim_cursor).clone();
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&self.keys.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.config.lease.as_millis() as u64)
            .arg(&cursor)
            .arg("COUNT")
            .arg(max.max(1));
        let reply: StreamAutoClaimReply = self
            .run("take over (XAUTOCLAIM)", Patience::Drainer, Run::Cmd(&cmd))
            .await?;
        *lock(&self.autoclaim_cursor) = reply.next_stream_id.clone();
        if reply.claimed.is_empty() {
            return Ok(());
        }
        tracing::info!(
            count = reply.claimed.len(),
            "took over the claims of a drainer that stopped answering"
        );
        let ids: Vec<String> = reply.claimed.iter().map(|e| e.id.clone()).collect();
        self.hold(ids.iter().cloned());
        let poison = self.poison(&ids).await?;
        let mut healthy = Vec::new();
        for entry in reply.claimed {
            if poison.contains(entry.id.as_str()) {
                let raw = bytes_of(entry.map.get(FIELD)).unwrap_or_default();
                let reason = format!(
                    "poison: delivered more than {} times without an ack (its drainers died)",
                    self.config.max_deliveries
                );
                self.quarantine(&entry.id, raw, &reason).await?;
                *quarantined += 1;
            } else {
                healthy.push(entry);
            }
        }
        self.decode_entries(healthy, claims, quarantined).await
    }

    /// The entries among `ids` (just taken over) delivered more than `max_deliveries`
    /// times: they keep killing their drainers.
    async fn poison(&self, ids: &[String]) -> Result<HashSet<String>, QueueError> {
        let mut pending = redis::cmd("XPENDING");
        pending
            .arg(&self.keys.stream)
            .arg(GROUP)
            .arg(ids.first())
            .arg(ids.last())
            .arg(ids.len().max(1) * 4 + 100)
            .arg(&self.consumer);
        let counts: StreamPendingCountReply = self
            .run(
                "read delivery counts (XPENDING)",
                Patience::Drainer,
                Run::Cmd(&pending),
            )
            .await?;
        Ok(counts
            .ids
            .into_iter()
            .filter(|p| p.times_delivered as u64 > self.config.max_deliveries)
            .map(|p| p.id)
            .collect())
    }
}

/// Whether [`Inner::take_over`] runs now or only when its period has passed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Takeover {
    /// At most every half lease (and at most every 5 s).
    Periodic,
    /// Now: this drainer has nothing else to do.
    Now,
}
