//! `impl Queue for RedisQueue`: the trait's methods, each a few lines over the parts in
//! the sibling modules.

use std::time::Duration;

use async_trait::async_trait;
use redis::streams::{StreamId, StreamReadReply};

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
            let reply: Option<StreamReadReply> = inner
                .run("claim (XREADGROUP)", Patience::Drainer, Run::Cmd(&cmd))
                .await?;
            let entries: Vec<StreamId> = reply
                .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                .unwrap_or_default();
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
