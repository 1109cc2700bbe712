//! Settling a batch as it is sent: each message is acked, deferred or dead-lettered as
//! soon as the server has answered for it, so that a drainer killed mid-batch sends again
//! only the messages between a 250 and their ack (at most one per connection).

use std::time::SystemTime;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::oneshot;

use super::report::RefusedRecipient;
use super::{DrainError, DrainReport, Drainer, failpoint};
use crate::mail::mailer::Reported;
use crate::mail::queue::{Claimed, QueuedMessage, unix_ms};
use crate::mail::{Error, Outcome, OutcomeSink, Rejection};

impl Drainer<'_> {
    /// Sends one batch and settles every claim as its outcome comes in; what the
    /// transport did not report on goes back unsent. True when the run must stop (the
    /// server cannot be used, or the transport misreported).
    pub(super) async fn send_batch(
        &self,
        claims: Vec<Claimed>,
        report: &mut DrainReport,
    ) -> Result<bool, DrainError> {
        let rendered: Vec<_> = claims.iter().map(|c| c.message.to_rendered()).collect();
        let total = claims.len();
        let mut slots: Vec<Option<Claimed>> = claims.into_iter().map(Some).collect();
        let (sink, outcomes) = OutcomeSink::channel();
        let mut stop = false;
        let settle = async {
            // Owned here, so that when settling fails the receiver goes at once: the
            // transport sees that nothing more will be recorded and sends no more.
            let mut outcomes = outcomes;
            // The acks in flight, each for the messages accepted together: a new group is
            // acked at once, without waiting for the round trip of the one before, so a
            // connection's ack never queues behind another connection's.
            let mut acks = FuturesUnordered::new();
            let mut open = true;
            while open || !acks.is_empty() {
                tokio::select! {
                    got = outcomes.recv(), if open => {
                        let Some(first) = got else {
                            open = false;
                            continue;
                        };
                        // What came in together is settled together: one ack for all the
                        // messages accepted meanwhile.
                        let mut ready = vec![first];
                        while let Ok(more) = outcomes.try_recv() {
                            ready.push(more);
                        }
                        if let Some(group) = self.settle(ready, &mut slots, report, &mut stop).await? {
                            acks.push(self.ack_group(group));
                        }
                    }
                    Some(acked) = acks.next(), if !acks.is_empty() => report.sent += acked?,
                }
            }
            Ok::<(), DrainError>(())
        };
        let (sent, settled) = tokio::join!(self.transport.send_each(&rendered, sink), settle);
        settled?;
        let left: Vec<Claimed> = slots.into_iter().flatten().collect();
        if left.is_empty() {
            return Ok(stop);
        }
        // Not attempted as far as we know: no attempt spent, and the run stops.
        let why = match sent {
            Err(error) => {
                tracing::warn!(%error, unsent = left.len(), "mail server unusable; the rest of the batch goes back unsent");
                error.to_string()
            }
            Ok(()) => {
                let why = format!(
                    "the transport reported {} outcome(s) for {total} message(s)",
                    total - left.len()
                );
                tracing::error!(%why, "a bug in the transport: the messages without an outcome are given back");
                why
            }
        };
        self.release_all(left, report).await?;
        report.unreachable.get_or_insert(why);
        Ok(true)
    }

    /// Settles the outcomes that came in together, and tells the transport they are
    /// recorded: all but the accepted messages one by one here; those are returned, to be
    /// acked together by [`ack_group`](Self::ack_group).
    async fn settle(
        &self,
        ready: Vec<Reported>,
        slots: &mut [Option<Claimed>],
        report: &mut DrainReport,
        stop: &mut bool,
    ) -> Result<Option<Accepted>, DrainError> {
        if ready
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Sent { .. }))
        {
            failpoint("after-send").await;
        }
        let now = unix_ms(SystemTime::now());
        let mut accepted = Accepted::default();
        let mut recorded = Vec::with_capacity(ready.len());
        for Reported {
            index,
            outcome,
            recorded: done,
        } in ready
        {
            let Some(claim) = slots.get_mut(index).and_then(Option::take) else {
                tracing::error!(
                    index,
                    "a bug in the transport: an outcome for no message, or a second one"
                );
                recorded.push(done);
                continue;
            };
            match outcome {
                Outcome::Sent { rejected, .. } if rejected.is_empty() => {
                    accepted.add(claim, done);
                    continue;
                }
                Outcome::Sent { rejected, .. } => {
                    report.sent += 1;
                    self.refused(claim, rejected, true, now, report).await?;
                }
                Outcome::Failed(Error::Smtp(e)) if e.is_setup() => {
                    // The server cannot be used now: no attempt is spent.
                    self.queue.release(claim).await?;
                    report.released += 1;
                    report.unreachable.get_or_insert_with(|| e.to_string());
                    *stop = true;
                }
                Outcome::Failed(Error::Refused { rejected }) => {
                    self.refused(claim, rejected, false, now, report).await?;
                }
                Outcome::Failed(error) if error.is_transient() => {
                    let message = claim.message.clone();
                    self.retry_later(claim, message, error.to_string(), now, report)
                        .await?;
                }
                Outcome::Failed(error) => {
                    self.fail_now(claim, error.to_string(), report).await?;
                }
                _ => {
                    accepted.add(claim, done);
                    continue;
                }
            }
            recorded.push(done);
        }
        signal(recorded);
        Ok((!accepted.claims.is_empty()).then_some(accepted))
    }

    /// Acks messages accepted together in one step, then tells the transport they are
    /// recorded; returns how many.
    async fn ack_group(&self, accepted: Accepted) -> Result<u64, DrainError> {
        let sent = accepted.claims.len() as u64;
        self.queue.ack_all(accepted.claims).await?;
        signal(accepted.recorded);
        Ok(sent)
    }

    /// Settles a message some or all of whose recipients were refused (`accepted`: the
    /// server took it for the others). The recipients refused for good are recorded in
    /// the report and dropped from the message; those refused for now stay in it, alone,
    /// for a later attempt. Nothing left to try: acked when it was accepted, else
    /// dead-lettered.
    async fn refused(
        &self,
        claim: Claimed,
        rejected: Vec<Rejection>,
        accepted: bool,
        now: u64,
        report: &mut DrainReport,
    ) -> Result<(), DrainError> {
        let later: Vec<String> = rejected
            .iter()
            .filter(|r| r.error.is_transient())
            .map(|r| r.recipient.clone())
            .collect();
        for r in rejected.iter().filter(|r| !r.error.is_transient()) {
            tracing::warn!(id = %claim.message.id, recipient = %r.recipient, error = %r.error, "recipient refused");
            report.rejected_recipients += 1;
            report.refused.push(RefusedRecipient {
                id: claim.message.id.clone(),
                recipient: r.recipient.clone(),
                error: r.error.to_string(),
            });
        }
        let why = if accepted {
            Error::Rejected { rejected }
        } else {
            Error::Refused { rejected }
        }
        .to_string();
        if !later.is_empty() {
            let mut message = claim.message.clone();
            message.recipients = later;
            self.retry_later(claim, message, why, now, report).await
        } else if accepted {
            Ok(self.queue.ack(claim).await?)
        } else {
            self.fail_now(claim, why, report).await
        }
    }

    /// Dead-letters a message that can never be delivered as it is.
    async fn fail_now(
        &self,
        claim: Claimed,
        why: String,
        report: &mut DrainReport,
    ) -> Result<(), DrainError> {
        let mut message = claim.message.clone();
        message.attempts += 1;
        message.last_error = Some(why.clone());
        tracing::warn!(id = %message.id, error = %why, "failed permanently");
        self.queue.fail(claim, message, &why).await?;
        report.failed += 1;
        Ok(())
    }

    /// Defers `message` with backoff, or dead-letters it when its attempts or age are
    /// used up. `error` says why this attempt failed.
    async fn retry_later(
        &self,
        claim: Claimed,
        mut message: QueuedMessage,
        error: String,
        now: u64,
        report: &mut DrainReport,
    ) -> Result<(), DrainError> {
        let policy = &self.options.policy;
        message.attempts += 1;
        if policy.exhausted(message.attempts, message.created_unix_ms, now) {
            let why = format!(
                "gave up after {} attempts over {} s; last error: {error}",
                message.attempts,
                now.saturating_sub(message.created_unix_ms) / 1000
            );
            message.last_error = Some(error);
            tracing::warn!(id = %message.id, %why, "failed");
            self.queue.fail(claim, message, &why).await?;
            report.failed += 1;
        } else {
            message.next_attempt_unix_ms =
                now + policy.backoff(message.attempts).as_millis() as u64;
            tracing::info!(id = %message.id, attempts = message.attempts, %error, "deferred");
            message.last_error = Some(error);
            self.queue.defer(claim, message).await?;
            report.deferred += 1;
        }
        Ok(())
    }
}

/// Messages the server accepted, to be acked together, and the transport's notes to send
/// once they are.
#[derive(Default)]
struct Accepted {
    claims: Vec<Claimed>,
    recorded: Vec<oneshot::Sender<()>>,
}

impl Accepted {
    fn add(&mut self, claim: Claimed, recorded: oneshot::Sender<()>) {
        self.claims.push(claim);
        self.recorded.push(recorded);
    }
}

/// Tells the transport that its outcomes are recorded.
fn signal(recorded: Vec<oneshot::Sender<()>>) {
    for done in recorded {
        // A transport that no longer waits is no concern of the drain's.
        let _ = done.send(());
    }
}
