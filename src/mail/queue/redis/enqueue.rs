//! Enqueueing: a batch in one run of [`ENQUEUE`], all or nothing, keyed by queue id so
//! that a retry adds nothing twice (see [`RedisQueue`]).

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::conn::{Patience, Run};
use super::scripts::ENQUEUE;
use super::{Inner, RedisQueue};
use crate::mail::queue::{QueueError, QueuedMessage, unix_ms};
use crate::mail::{Email, Error, Mailer, Outcome, SendReport};

/// How long `{NAME}:enqueued` remembers a queue id: a batch sent again within this time
/// adds only what is missing.
const REMEMBER_IDS: Duration = Duration::from_secs(3600);

impl RedisQueue {
    /// Enqueues several messages in one round trip, all or nothing; messages whose queue
    /// id was enqueued in the last hour are skipped (see [`RedisQueue`]).
    pub async fn enqueue_batch(&self, messages: &[QueuedMessage]) -> Result<(), QueueError> {
        self.inner.enqueue(messages).await
    }
}

impl Inner {
    pub(super) async fn enqueue(&self, messages: &[QueuedMessage]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        // Every record is encoded before anything is sent: an oversized message stops
        // the batch before any of it is queued.
        let records = messages
            .iter()
            .map(QueuedMessage::to_record)
            .collect::<Result<Vec<_>, _>>()?;
        let now = unix_ms(SystemTime::now());
        let mut script = ENQUEUE.prepare_invoke();
        script
            .key(&self.keys.stream)
            .key(&self.keys.enqueued)
            .arg(now)
            .arg(now.saturating_sub(REMEMBER_IDS.as_millis() as u64));
        for (message, record) in messages.iter().zip(&records) {
            script.arg(&message.id).arg(record);
        }
        let added: u64 = self
            .run("enqueue", Patience::Caller, Run::Script(&script))
            .await?;
        if added < messages.len() as u64 {
            tracing::info!(
                added,
                batch = messages.len(),
                "some messages were queued already (a retried batch)"
            );
        }
        Ok(())
    }
}

#[async_trait]
impl Mailer for RedisQueue {
    /// Renders every message and enqueues those that rendered in one script run, all or
    /// nothing (see [`RedisQueue`]); `Outcome::Queued` carries the queue id, and a
    /// message that does not render is `Outcome::Failed` without stopping the others.
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut queued = Vec::with_capacity(messages.len());
        for email in messages {
            match email.render() {
                Ok(rendered) => {
                    let message = QueuedMessage::new(&rendered);
                    outcomes.push(Outcome::Queued {
                        id: message.id.clone(),
                    });
                    queued.push(message);
                }
                Err(e) => outcomes.push(Outcome::Failed(e.into())),
            }
        }
        self.inner.enqueue(&queued).await?;
        Ok(SendReport { outcomes })
    }
}
