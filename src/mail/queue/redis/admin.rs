//! What an operator asks of the queue: a look at what is due (`--dry-run`), the counts
//! (`spool-drain status`), and the dead letters or deferred mail moved back
//! (`retry-failed`, `retry --deferred`).

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use redis::Value;
use redis::streams::{StreamInfoGroupsReply, StreamRangeReply};

use super::conn::{Patience, Run};
use super::scripts::{REVIVE, UNDEFER};
use super::{FIELD, GROUP, Inner, bytes_of};
use crate::mail::queue::{QueueError, QueueStatus, QueuedMessage, unix_ms};
use crate::sync::lock;

impl Inner {
    /// Reads up to `max` due messages: the entries the group has not delivered yet, then
    /// the deferred ones that are due.
    pub(super) async fn peek(&self, max: usize) -> Result<Vec<QueuedMessage>, QueueError> {
        let k = &self.keys;
        // Entries the group has not delivered yet start after its last-delivered id.
        let mut groups = redis::cmd("XINFO");
        groups.arg("GROUPS").arg(&k.stream);
        let start = match self
            .run::<StreamInfoGroupsReply>(
                "peek (XINFO GROUPS)",
                Patience::Caller,
                Run::Cmd(&groups),
            )
            .await
        {
            Ok(reply) => reply
                .groups
                .into_iter()
                .find(|g| g.name == GROUP)
                .map(|g| format!("({}", g.last_delivered_id))
                .unwrap_or_else(|| "-".into()),
            Err(_) => "-".into(), // no stream yet
        };
        let mut out = Vec::new();
        let mut range = redis::cmd("XRANGE");
        range
            .arg(&k.stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(max.clamp(1, 1_000_000));
        let reply: StreamRangeReply = self
            .run("peek (XRANGE)", Patience::Caller, Run::Cmd(&range))
            .await?;
        for entry in reply.ids {
            match bytes_of(entry.map.get(FIELD)).map(QueuedMessage::from_record) {
                Some(Ok(m)) => out.push(m),
                _ => tracing::warn!(entry = %entry.id, "unreadable entry (left in place)"),
            }
        }
        let left = max.saturating_sub(out.len());
        if left > 0 {
            let mut due = redis::cmd("ZRANGEBYSCORE");
            due.arg(&k.deferred)
                .arg("-inf")
                .arg(unix_ms(SystemTime::now()))
                .arg("LIMIT")
                .arg(0)
                .arg(left.min(1_000_000));
            let records: Vec<Vec<u8>> = self
                .run("peek (ZRANGEBYSCORE)", Patience::Caller, Run::Cmd(&due))
                .await?;
            for record in records {
                match QueuedMessage::from_record(&record) {
                    Ok(m) => out.push(m),
                    Err(e) => {
                        tracing::warn!(reason = %e, "unreadable deferred record (left in place)")
                    }
                }
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// Counts the messages in each place, with the persistence warning if any.
    pub(super) async fn status(&self) -> Result<QueueStatus, QueueError> {
        if !self.persistence_checked.swap(true, Ordering::SeqCst) {
            self.check_persistence().await;
        }
        let k = &self.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN")
            .arg(&k.stream)
            .cmd("ZCARD")
            .arg(&k.deferred)
            .cmd("XLEN")
            .arg(&k.dead);
        let (len, deferred, failed): (u64, u64, u64) = self
            .run("status (XLEN, ZCARD)", Patience::Caller, Run::Pipe(&pipe))
            .await?;
        let mut pending = redis::cmd("XPENDING");
        pending.arg(&k.stream).arg(GROUP);
        let in_flight = match self.once::<Value>(Run::Cmd(&pending)).await {
            Ok(Value::Array(items)) => match items.first() {
                Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            Ok(_) => 0,
            Err(e) if e.code() == Some("NOGROUP") => 0,
            Err(e) => return Err(self.error("status (XPENDING)", e)),
        };
        Ok(QueueStatus {
            queued: len.saturating_sub(in_flight),
            in_flight,
            deferred,
            failed,
            warnings: lock(&self.warnings).clone(),
        })
    }

    /// Moves every dead letter back to the stream with its attempts reset.
    pub(super) async fn retry_failed(&self) -> Result<u64, QueueError> {
        let k = &self.keys;
        let mut moved = 0;
        let mut start = "-".to_owned();
        loop {
            let mut range = redis::cmd("XRANGE");
            range
                .arg(&k.dead)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(100);
            let reply: StreamRangeReply = self
                .run("retry-failed (XRANGE)", Patience::Drainer, Run::Cmd(&range))
                .await?;
            let Some(last) = reply.ids.last() else { break };
            start = format!("({}", last.id);
            for entry in &reply.ids {
                let mut message = match bytes_of(entry.map.get(FIELD))
                    .map(QueuedMessage::from_record)
                {
                    Some(Ok(m)) => m,
                    _ => {
                        tracing::warn!(entry = %entry.id, "left in the dead-letter stream: the record is unreadable");
                        continue;
                    }
                };
                message.attempts = 0;
                message.next_attempt_unix_ms = unix_ms(SystemTime::now());
                message.created_unix_ms = message.next_attempt_unix_ms;
                let mut script = REVIVE.prepare_invoke();
                script
                    .key(&k.stream)
                    .key(&k.dead)
                    .arg(&entry.id)
                    .arg(message.to_record()?);
                let done: i64 = self
                    .run("retry-failed", Patience::Drainer, Run::Script(&script))
                    .await?;
                moved += u64::try_from(done).unwrap_or(0);
            }
        }
        Ok(moved)
    }

    /// Moves deferred messages (all, or the one named `id`) to the stream, due now, with
    /// their attempts and last error kept. `ZSCAN` returns every member present for the
    /// whole scan; each move is one script that does nothing for a member a drainer
    /// promoted meanwhile.
    pub(super) async fn retry_deferred(&self, id: Option<&str>) -> Result<u64, QueueError> {
        let k = &self.keys;
        let mut moved = 0;
        let mut cursor = "0".to_owned();
        loop {
            let mut scan = redis::cmd("ZSCAN");
            scan.arg(&k.deferred).arg(&cursor).arg("COUNT").arg(100);
            let (next, members): (String, Vec<Vec<u8>>) = self
                .run(
                    "retry --deferred (ZSCAN)",
                    Patience::Drainer,
                    Run::Cmd(&scan),
                )
                .await?;
            // Members and scores alternate.
            for record in members.iter().step_by(2) {
                let mut message = match QueuedMessage::from_record(record) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(reason = %e, "left in the deferred set: the record is unreadable");
                        continue;
                    }
                };
                if id.is_some_and(|id| !message.is_named(id)) {
                    continue;
                }
                message.next_attempt_unix_ms = unix_ms(SystemTime::now());
                let mut script = UNDEFER.prepare_invoke();
                script
                    .key(&k.stream)
                    .key(&k.deferred)
                    .arg(record.as_slice())
                    .arg(message.to_record()?);
                let done: i64 = self
                    .run("retry --deferred", Patience::Drainer, Run::Script(&script))
                    .await?;
                moved += u64::try_from(done).unwrap_or(0);
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        Ok(moved)
    }
}
