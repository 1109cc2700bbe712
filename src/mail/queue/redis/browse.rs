//! The Redis queue read for the mail preview: the stream, the deferred set and the
//! dead-letter stream, by read-only commands only (`XREVRANGE`, `XPENDING`, `ZREVRANGE`),
//! so nothing is claimed, acked or moved.

use std::collections::HashSet;

use async_trait::async_trait;
use redis::streams::{StreamPendingCountReply, StreamRangeReply};

use super::conn::{Patience, Run};
use super::{FIELD, GROUP, RedisQueue, bytes_of};
use crate::mail::queue::QueuedMessage;
use crate::mail::{MailSource, MailState, PreviewError, StoredMail};

/// The most messages read from each of the three places.
const LIMIT: usize = 500;

fn stored(message: QueuedMessage, state: MailState, error: Option<String>) -> StoredMail {
    StoredMail::new(message.id, state, message.bytes)
        .created(message.created_unix_ms)
        .recipients(message.recipients)
        .error(error)
}

fn text_of(value: Option<&redis::Value>) -> Option<String> {
    bytes_of(value).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// The queue's stream (queued and in flight), deferred set and dead-letter stream, the
/// newest of each first. Unreadable entries are skipped with a warning.
#[async_trait]
impl MailSource for RedisQueue {
    async fn list(&self) -> Result<Vec<StoredMail>, PreviewError> {
        let inner = &self.inner;
        let k = &inner.keys;
        let mut out = Vec::new();

        let mut pending = redis::cmd("XPENDING");
        pending
            .arg(&k.stream)
            .arg(GROUP)
            .arg("-")
            .arg("+")
            .arg(LIMIT);
        let in_flight: HashSet<String> = match inner
            .once::<StreamPendingCountReply>(Run::Cmd(&pending))
            .await
        {
            Ok(reply) => reply.ids.into_iter().map(|p| p.id).collect(),
            Err(e) if e.code() == Some("NOGROUP") => HashSet::new(),
            Err(e) => return Err(inner.error("preview (XPENDING)", e).into()),
        };
        let mut range = redis::cmd("XREVRANGE");
        range
            .arg(&k.stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(LIMIT);
        let reply: StreamRangeReply = inner
            .run("preview (XREVRANGE)", Patience::Caller, Run::Cmd(&range))
            .await?;
        for entry in reply.ids {
            match bytes_of(entry.map.get(FIELD)).map(QueuedMessage::from_record) {
                Some(Ok(m)) => {
                    let state = if in_flight.contains(&entry.id) {
                        MailState::InFlight
                    } else {
                        MailState::Queued
                    };
                    out.push(stored(m, state, None));
                }
                _ => tracing::warn!(entry = %entry.id, "preview: unreadable entry (skipped)"),
            }
        }

        let mut deferred = redis::cmd("ZREVRANGE");
        deferred.arg(&k.deferred).arg(0).arg(LIMIT - 1);
        let records: Vec<Vec<u8>> = inner
            .run("preview (ZREVRANGE)", Patience::Caller, Run::Cmd(&deferred))
            .await?;
        for record in records {
            match QueuedMessage::from_record(&record) {
                Ok(m) => {
                    let state = MailState::Deferred {
                        due_unix_ms: m.next_attempt_unix_ms,
                    };
                    let error = m.last_error.clone();
                    out.push(stored(m, state, error));
                }
                Err(e) => tracing::warn!(reason = %e, "preview: unreadable deferred record"),
            }
        }

        let mut dead = redis::cmd("XREVRANGE");
        dead.arg(&k.dead).arg("+").arg("-").arg("COUNT").arg(LIMIT);
        let reply: StreamRangeReply = inner
            .run(
                "preview (XREVRANGE dead)",
                Patience::Caller,
                Run::Cmd(&dead),
            )
            .await?;
        for entry in reply.ids {
            match bytes_of(entry.map.get(FIELD)).map(QueuedMessage::from_record) {
                Some(Ok(m)) => {
                    let error = text_of(entry.map.get("error")).or_else(|| m.last_error.clone());
                    out.push(stored(m, MailState::Failed, error));
                }
                _ => tracing::warn!(entry = %entry.id, "preview: unreadable dead letter"),
            }
        }
        Ok(out)
    }
}
