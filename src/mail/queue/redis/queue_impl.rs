//! `impl Queue for RedisQueue`: the trait's methods, each a few lines over the parts in
//! the sibling modules.

use std::time::Duration;

use async_trait::async_trait;
use std::collections::HashMap;

use redis::streams::StreamId;
use redis::{FromRedisValue, ParsingError, Value};

use super::claims::{Settle, Takeover};
use super::conn::{Patience, Run};
use super::{GROUP, RedisQueue};
use crate::mail::queue::{
    ClaimBatch, Claimed, Queue, QueueError, QueueStatus, QueuedMessage, SingleRunGuard,
};

#[async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, message: &QueuedMessage) -> Result<(), QueueError> {
        self.inner.enqueue(std::slice::from_ref(message)).await
    }

    async fn claim(&self, max: usize) -> Result<ClaimBatch, QueueError> {
        let quarantined = &mut 0u64;
        let inner = &self.inner;
        inner.ensure_group().await?;
        inner.start_heartbeat();
        inner.promote(max).await?;
        let mut claims = Vec::new();
        inner
            .take_over(max, Takeover::Periodic, &mut claims, quarantined)
            .await?;
        let want = max.saturating_sub(claims.len());
        if want > 0 {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(GROUP)
                .arg(&inner.consumer)
                .arg("COUNT")
                .arg(want)
                .arg("STREAMS")
                .arg(&inner.keys.stream)
                .arg(">");
            let ReadReply(entries) = inner
                .run("claim (XREADGROUP)", Patience::Drainer, Run::Cmd(&cmd))
                .await?;
            inner.hold(entries.iter().map(|e| e.id.clone()));
            inner
                .decode_entries(entries, &mut claims, quarantined)
                .await?;
        }
        if claims.is_empty() {
            // Nothing new: is there anything left by a dead drainer?
            inner
                .take_over(max, Takeover::Now, &mut claims, quarantined)
                .await?;
        }
        Ok(ClaimBatch::new(claims, *quarantined))
    }

    async fn ack(&self, claim: Claimed) -> Result<(), QueueError> {
        self.ack_all(vec![claim]).await
    }

    async fn ack_all(&self, claims: Vec<Claimed>) -> Result<(), QueueError> {
        if claims.is_empty() {
            return Ok(());
        }
        let ids = claims
            .iter()
            .map(Claimed::entry_id)
            .collect::<Result<Vec<&str>, _>>()?;
        let stream = &self.inner.keys.stream;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(stream)
            .arg(GROUP)
            .arg(&ids)
            .cmd("XDEL")
            .arg(stream)
            .arg(&ids);
        let (acked, _deleted): (u64, u64) = self
            .inner
            .run("ack (XACK+XDEL)", Patience::Drainer, Run::Pipe(&pipe))
            .await?;
        if acked < ids.len() as u64 {
            tracing::info!(
                acked,
                claims = ids.len(),
                "some claims were settled already (taken over after the lease?)"
            );
        }
        for id in ids {
            self.inner.drop_hold(id);
        }
        Ok(())
    }

    async fn defer(&self, claim: Claimed, message: QueuedMessage) -> Result<(), QueueError> {
        let record = message.to_record()?;
        let how = Settle::Defer {
            due_unix_ms: message.next_attempt_unix_ms,
        };
        self.inner.settle(claim.entry_id()?, &record, how).await
    }

    async fn fail(
        &self,
        claim: Claimed,
        message: QueuedMessage,
        error: &str,
    ) -> Result<(), QueueError> {
        let record = message.to_record()?;
        let how = Settle::Fail {
            error,
            message_id: &message.message_id,
        };
        self.inner.settle(claim.entry_id()?, &record, how).await
    }

    async fn release(&self, claim: Claimed) -> Result<(), QueueError> {
        let record = claim.message.to_record()?;
        self.inner
            .settle(claim.entry_id()?, &record, Settle::Release)
            .await
    }

    async fn peek(&self, max: usize) -> Result<Vec<QueuedMessage>, QueueError> {
        self.inner.peek(max).await
    }

    async fn status(&self) -> Result<QueueStatus, QueueError> {
        self.inner.status().await
    }

    async fn retry_failed(&self) -> Result<u64, QueueError> {
        self.inner.retry_failed().await
    }

    async fn retry_deferred(&self, id: Option<&str>) -> Result<u64, QueueError> {
        self.inner.retry_deferred(id).await
    }

    /// A `SET NX PX` lock on `{NAME}:single` with a random token, renewed every third of
    /// the lease by a task while the guard lives. Dropping the guard stops the renewal and
    /// deletes the lock without blocking the runtime; a killed run's lock expires after
    /// the lease.
    async fn try_lock_single(&self) -> Result<Option<SingleRunGuard>, QueueError> {
        self.inner.try_lock_single().await
    }

    async fn wait_for_mail(&self, timeout: Duration) {
        self.inner.wait_for_mail(timeout).await;
    }
}

/// The entries of an `XREADGROUP` reply (none for a nil one), each value moved out of the
/// reply. `redis::streams::StreamReadReply` parses a clone of the whole reply, which for
/// a large message is one more copy of it.
struct ReadReply(Vec<StreamId>);

impl FromRedisValue for ReadReply {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        if matches!(v, Value::Nil) {
            return Ok(ReadReply(Vec::new()));
        }
        // Per stream (one here): its key and its entries, each an id and its fields.
        type Rows = Vec<HashMap<String, Vec<HashMap<String, HashMap<String, Value>>>>>;
        let rows: Rows = redis::from_redis_value(v)?;
        let entries = rows
            .into_iter()
            .flat_map(HashMap::into_values)
            .flatten()
            .flat_map(HashMap::into_iter)
            .map(|(id, map)| StreamId {
                id,
                map,
                ..StreamId::default()
            })
            .collect();
        Ok(ReadReply(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::RenderedEmail;
    use crate::mail::queue::redis::{FIELD, owned_bytes};

    /// A claimed record is moved from the reply into the message, never copied: the
    /// message's bytes lie inside the very buffer the reply was parsed into.
    #[test]
    fn a_claimed_record_is_moved_out_of_the_reply_not_copied() {
        let message = QueuedMessage::new(&RenderedEmail {
            from: "a@example.com".into(),
            recipients: vec!["b@example.com".into()],
            message_id: "<x@example.com>".into(),
            bytes: vec![b'x'; 100_000].into(),
        });
        let record = message.to_record().unwrap();
        let buffer = record.as_ptr_range();
        let bulk = |b: &[u8]| Value::BulkString(b.to_vec());
        // [[stream, [[entry id, [field, record]]]]], as RESP2 answers XREADGROUP.
        let reply = Value::Array(vec![Value::Array(vec![
            bulk(b"{q}:stream"),
            Value::Array(vec![Value::Array(vec![
                bulk(b"1-0"),
                Value::Array(vec![bulk(FIELD.as_bytes()), Value::BulkString(record)]),
            ])]),
        ])]);
        let ReadReply(mut entries) = ReadReply::from_redis_value(reply).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, "1-0");
        let raw = entries[0].map.remove(FIELD).and_then(owned_bytes).unwrap();
        let decoded = QueuedMessage::from_shared_record(raw).unwrap();
        assert_eq!(decoded, message);
        let got = decoded.bytes.as_ptr_range();
        assert!(
            buffer.start <= got.start && got.end <= buffer.end,
            "the record was copied on the way from the reply to the message"
        );
    }
}
