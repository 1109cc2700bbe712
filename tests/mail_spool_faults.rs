//! The drainer against a transport and a queue that misbehave: in-process fakes, for
//! fault injection only (the real servers are in `mail_spool.rs`).
#![cfg(feature = "mail")]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use squall::mail::{
    ClaimBatch, Claimed, DrainError, DrainOptions, Drainer, Error, Mailer, Outcome, OutcomeSink,
    Queue, QueueError, QueueStatus, QueuedMessage, RecordError, RenderedEmail, SendReport,
    SingleRunGuard, Spool, Transport,
};
use squall::mail::{SmtpConfig, SmtpMailer};
use support::numbered_email as email;
use support::scripted_smtp::{Peer, Script};
use tokio::sync::Notify;

/// Accepts the first `keep` messages of each batch and reports nothing for the rest.
struct ShortReports {
    keep: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl Transport for ShortReports {
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let outcomes = messages
            .iter()
            .take(self.keep)
            .map(|m| Outcome::Sent {
                message_id: m.message_id.clone(),
                rejected: Vec::new(),
            })
            .collect();
        Ok(SendReport { outcomes })
    }
}

/// Fails every message with the error `make` returns.
struct FailsWith(fn() -> Error);

#[async_trait]
impl Transport for FailsWith {
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error> {
        let outcomes = messages
            .iter()
            .map(|_| Outcome::Failed((self.0)()))
            .collect();
        Ok(SendReport { outcomes })
    }
}

/// Accepts everything.
struct Accepts;

#[async_trait]
impl Transport for Accepts {
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error> {
        let outcomes = messages
            .iter()
            .map(|m| Outcome::Sent {
                message_id: m.message_id.clone(),
                rejected: Vec::new(),
            })
            .collect();
        Ok(SendReport { outcomes })
    }
}

/// Two connections' worth of accepted messages: the second 250 comes in once the first
/// message's ack has begun, and neither connection waits for the other's ack.
struct TwoConnections(Arc<AckWatch>);

#[async_trait]
impl Transport for TwoConnections {
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error> {
        Accepts.send_rendered(messages).await
    }
    async fn send_each(&self, messages: &[RenderedEmail], sink: OutcomeSink) -> Result<(), Error> {
        let report = Accepts.send_rendered(messages).await?;
        let mut outcomes = report.outcomes.into_iter();
        let (Some(first), Some(second)) = (outcomes.next(), outcomes.next()) else {
            panic!("two messages expected");
        };
        let first = sink.report(0, first);
        self.0.first_begun.notified().await;
        let second = sink.report(1, second);
        assert!(first.wait().await && second.wait().await);
        Ok(())
    }
}

async fn filled(dir: &Path, n: usize) -> Spool {
    let spool = Spool::open(dir).unwrap();
    let batch: Vec<_> = (0..n).map(email).collect();
    let report = spool.send_messages(&batch).await.unwrap();
    assert_eq!(report.delivered(), n);
    spool
}

fn counts(status: &QueueStatus) -> (u64, u64, u64, u64) {
    (
        status.queued,
        status.in_flight,
        status.deferred,
        status.failed,
    )
}

#[tokio::test]
async fn claims_a_transport_reports_nothing_for_are_released_and_the_run_stops() {
    let dir = tempfile::tempdir().unwrap();
    let spool = filled(dir.path(), 3).await;
    let transport = ShortReports {
        keep: 1,
        calls: AtomicUsize::new(0),
    };
    // `max` 3: no second batch is claimed ahead, so the counts are exact.
    let report = Drainer::new(&spool, &transport, DrainOptions::default().max(Some(3)))
        .run(std::future::pending())
        .await
        .unwrap();
    assert_eq!((report.sent, report.released), (1, 2), "{report:?}");
    assert_eq!((report.deferred, report.failed), (0, 0));
    assert!(
        report
            .unreachable
            .as_deref()
            .is_some_and(|why| why.contains("1 outcome(s) for 3 message(s)")),
        "{report:?}"
    );
    assert_eq!(report.exit_code(), 75);
    assert_eq!(transport.calls.load(Ordering::SeqCst), 1);
    // Given back unchanged: due at once, no attempt spent.
    assert_eq!(counts(&spool.status().await.unwrap()), (2, 0, 0, 0));
    let left = spool.peek(10).await.unwrap();
    assert!(
        left.iter()
            .all(|m| m.attempts == 0 && m.last_error.is_none())
    );
}

#[tokio::test]
async fn a_message_too_large_to_store_is_dead_lettered_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let spool = filled(dir.path(), 1).await;
    let transport = FailsWith(|| {
        Error::Queue(QueueError::Encode {
            id: "x".into(),
            source: RecordError::BodyTooLarge(65 << 20),
        })
    });
    let report = Drainer::new(&spool, &transport, DrainOptions::default())
        .run(std::future::pending())
        .await
        .unwrap();
    assert_eq!((report.failed, report.deferred), (1, 0), "{report:?}");
    assert_eq!(counts(&spool.status().await.unwrap()), (0, 0, 0, 1));
}

/// A spool whose acks misbehave.
struct FaultyAcks {
    spool: Spool,
    fault: AckFault,
}

enum AckFault {
    /// Every ack fails, as when the disk goes away mid-run.
    Fails,
    /// The first ack is slow: it waits for a second ack to begin, for a bounded number
    /// of turns of the runtime, and notes whether one did.
    FirstWaits(Arc<AckWatch>),
}

/// What [`AckFault::FirstWaits`] saw.
#[derive(Default)]
struct AckWatch {
    begun: AtomicUsize,
    first_begun: Notify,
    overlapped: AtomicBool,
}

impl FaultyAcks {
    fn failing(spool: Spool) -> Self {
        FaultyAcks {
            spool,
            fault: AckFault::Fails,
        }
    }
}

fn ack_error() -> QueueError {
    QueueError::Io {
        op: "remove",
        path: "cur/x".into(),
        source: std::io::Error::other("the disk went away"),
    }
}

#[async_trait]
impl Queue for FaultyAcks {
    async fn enqueue(&self, message: &QueuedMessage) -> Result<(), QueueError> {
        self.spool.enqueue(message).await
    }
    async fn claim(&self, max: usize) -> Result<ClaimBatch, QueueError> {
        self.spool.claim(max).await
    }
    async fn ack(&self, claim: Claimed) -> Result<(), QueueError> {
        self.ack_all(vec![claim]).await
    }
    async fn ack_all(&self, claims: Vec<Claimed>) -> Result<(), QueueError> {
        let watch = match &self.fault {
            AckFault::Fails => return Err(ack_error()),
            AckFault::FirstWaits(watch) => watch,
        };
        if watch.begun.fetch_add(1, Ordering::SeqCst) == 0 {
            watch.first_begun.notify_one();
            // Turns of the runtime, not time: enough for the drainer to take in another
            // outcome and begin its ack, when it does not wait for this one.
            for _ in 0..1000 {
                if watch.begun.load(Ordering::SeqCst) > 1 {
                    watch.overlapped.store(true, Ordering::SeqCst);
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        self.spool.ack_all(claims).await
    }
    async fn defer(&self, claim: Claimed, message: QueuedMessage) -> Result<(), QueueError> {
        self.spool.defer(claim, message).await
    }
    async fn fail(
        &self,
        claim: Claimed,
        message: QueuedMessage,
        error: &str,
    ) -> Result<(), QueueError> {
        self.spool.fail(claim, message, error).await
    }
    async fn retry_deferred(&self, id: Option<&str>) -> Result<u64, QueueError> {
        self.spool.retry_deferred(id).await
    }
    async fn release(&self, claim: Claimed) -> Result<(), QueueError> {
        self.spool.release(claim).await
    }
    async fn peek(&self, max: usize) -> Result<Vec<QueuedMessage>, QueueError> {
        self.spool.peek(max).await
    }
    async fn status(&self) -> Result<QueueStatus, QueueError> {
        self.spool.status().await
    }
    async fn retry_failed(&self) -> Result<u64, QueueError> {
        self.spool.retry_failed().await
    }
    async fn try_lock_single(&self) -> Result<Option<SingleRunGuard>, QueueError> {
        self.spool.try_lock_single().await
    }
    async fn wait_for_mail(&self, timeout: Duration) {
        self.spool.wait_for_mail(timeout).await
    }
}

#[tokio::test]
async fn when_settling_fails_the_claims_taken_ahead_are_given_back() {
    let dir = tempfile::tempdir().unwrap();
    // Concurrency 1 makes batches of 32: 40 messages are a batch and 8 claimed ahead.
    let spool = filled(dir.path(), 40).await;
    let queue = FaultyAcks::failing(spool.clone());
    let error = Drainer::new(&queue, &Accepts, DrainOptions::default().concurrency(1))
        .run(std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            DrainError::Queue(QueueError::Io { op: "remove", .. })
        ),
        "{error:?}"
    );
    // The 32 whose ack failed stay claimed (a later drainer recovers them); the 8 taken
    // ahead, never sent, are back in the queue at once.
    assert_eq!(counts(&spool.status().await.unwrap()), (8, 32, 0, 0));
}

#[tokio::test]
async fn when_an_ack_fails_no_more_content_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let spool = filled(dir.path(), 10).await;
    let queue = FaultyAcks::failing(spool.clone());
    let peer = Peer::start(Script::default()).await;
    let smtp = SmtpMailer::new(SmtpConfig::new("127.0.0.1", peer.port).max_connections(1)).unwrap();
    let drain = Drainer::new(&queue, &smtp, DrainOptions::default().concurrency(1))
        .run(std::future::pending());
    let error = tokio::time::timeout(Duration::from_secs(60), drain)
        .await
        .expect("the drain hung after the failed ack")
        .unwrap_err();
    assert!(matches!(&error, DrainError::Queue(_)), "{error:?}");
    // The first message's ack failed: the drain stops there, and the other nine stay
    // unsent (a later drainer sends them once).
    assert_eq!(peer.accepted().len(), 1, "{:?}", peer.commands());
}

#[tokio::test]
async fn one_connection_s_ack_does_not_wait_for_another_s() {
    let dir = tempfile::tempdir().unwrap();
    let spool = filled(dir.path(), 2).await;
    let watch = Arc::new(AckWatch::default());
    let queue = FaultyAcks {
        spool: spool.clone(),
        fault: AckFault::FirstWaits(watch.clone()),
    };
    let transport = TwoConnections(watch.clone());
    let report = Drainer::new(&queue, &transport, DrainOptions::default())
        .run(std::future::pending())
        .await
        .unwrap();
    assert_eq!(report.sent, 2);
    assert_eq!(counts(&spool.status().await.unwrap()), (0, 0, 0, 0));
    assert!(
        watch.overlapped.load(Ordering::SeqCst),
        "the second message's ack began only after the first one's was done"
    );
}
