//! The [`Mailer`] trait that every backend implements, the [`Transport`] trait a drainer
//! sends queued mail through, and what they report: [`SendReport`], [`Outcome`], [`Error`].
//!
//! ```
//! # async fn demo() -> Result<(), squall::mail::Error> {
//! use squall::mail::{Email, Mailer, MemoryMailer, Outcome};
//!
//! let outbox = MemoryMailer::new();
//! let email = Email::builder().from("a@example.com").to("b@example.com").text("hi").build()?;
//! let report = outbox.send_messages(&[email]).await?;
//! assert!(matches!(report.outcomes[0], Outcome::Sent { .. }));
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```

use async_trait::async_trait;

use super::email::{Email, EmailError, RenderedEmail};
use super::queue::QueueError;
use super::smtp::{ErrorClass, SmtpError};

/// What went wrong when mail could not be sent or queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message itself is invalid.
    #[error(transparent)]
    Email(#[from] EmailError),
    /// The SMTP server could not be used, or refused the message.
    #[error(transparent)]
    Smtp(#[from] SmtpError),
    /// A mailer URL did not parse or names a backend that is not available.
    #[error("mailer URL {url:?}: {reason}")]
    Url {
        /// The URL, password masked.
        url: String,
        /// What was wrong and what was expected.
        reason: String,
    },
    /// Some recipients were refused; the message went to the others.
    #[error("the message was sent, but {} recipient(s) were refused: {}", rejected.len(), describe_rejections(rejected))]
    Rejected {
        /// The recipients refused and why.
        rejected: Vec<Rejection>,
    },
    /// Every recipient was refused, so nothing was sent; each refusal says whether that
    /// recipient may be tried again.
    #[error("nothing was sent: all {} recipient(s) were refused: {}", rejected.len(), describe_rejections(rejected))]
    Refused {
        /// Every recipient, and why it was refused.
        rejected: Vec<Rejection>,
    },
    /// A queue (disk spool, Redis) could not store or hand out a message.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// An interceptor refused the message (a recipient not on its allow-list).
    #[error(transparent)]
    Intercept(#[from] super::intercept::InterceptError),
    /// Writing a message out (console backend) failed.
    #[error("writing the message failed: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// True when trying the same thing later may succeed (a 4xx reply, a timeout, a server
    /// that could not be reached).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Smtp(e) => e.class() != ErrorClass::Permanent,
            Error::Rejected { rejected } | Error::Refused { rejected } => {
                rejected.iter().all(|r| r.error.is_transient())
            }
            Error::Queue(e) => e.is_transient(),
            Error::Io(_) => true,
            _ => false,
        }
    }

    /// True when the message can never be delivered as it is.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }
}

fn describe_rejections(rejected: &[Rejection]) -> String {
    rejected
        .iter()
        .map(|r| format!("{} ({})", r.recipient, r.error))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A recipient the server refused, and its reply.
#[derive(Debug)]
pub struct Rejection {
    /// The envelope recipient.
    pub recipient: String,
    /// The server's reply to `RCPT TO`.
    pub error: SmtpError,
}

/// What happened to one message handed to [`Mailer::send_messages`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Delivered to the server (or printed, or kept); `rejected` lists any recipient
    /// the server refused while it accepted the others.
    Sent {
        /// The Message-ID of the message.
        message_id: String,
        /// Recipients refused; the message went to all the others.
        rejected: Vec<Rejection>,
    },
    /// Handed to a queue, to be sent later by `spool-drain`.
    Queued {
        /// The queue's id for the message.
        id: String,
    },
    /// Not delivered; the error says whether to retry.
    Failed(Error),
    /// Not sent, on purpose: an [`Intercept`](super::Intercept) allow-list dropped every
    /// recipient.
    Dropped {
        /// The Message-ID of the message.
        message_id: String,
        /// The recipients dropped, as bare addresses.
        recipients: Vec<String>,
    },
}

/// Per-message results of [`Mailer::send_messages`], in the order the messages were given.
#[derive(Debug, Default)]
pub struct SendReport {
    /// One entry per message.
    pub outcomes: Vec<Outcome>,
}

impl SendReport {
    /// How many messages were sent or queued (possibly with some recipients refused).
    pub fn delivered(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Sent { .. } | Outcome::Queued { .. }))
            .count()
    }

    /// How many messages failed.
    pub fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed(_)))
            .count()
    }
}

/// A way to send mail: SMTP, a queue, the console, memory.
///
/// Backends implement [`send_messages`](Mailer::send_messages); [`send`](Mailer::send)
/// is provided on top of it.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends or enqueues every message and reports per message what happened.
    ///
    /// The contract, so that a caller can retry without sending or queueing twice:
    /// - `Ok(report)`: one [`Outcome`] per message, in order. A message reported `Sent` or
    ///   `Queued` was taken; one reported `Failed` was not, and only those are to be
    ///   retried (when [`Error::is_transient`] says so).
    /// - `Err`: nothing was sent or stored (the server could not be reached, the queue
    ///   could not be written at all), so the whole batch may be retried.
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error>;

    /// Sends one message; an error when it failed or any recipient was refused.
    async fn send(&self, message: &Email) -> Result<(), Error> {
        let report = self.send_messages(std::slice::from_ref(message)).await?;
        match report.outcomes.into_iter().next() {
            Some(Outcome::Failed(error)) => Err(error),
            Some(Outcome::Sent { rejected, .. }) if !rejected.is_empty() => {
                Err(Error::Rejected { rejected })
            }
            _ => Ok(()),
        }
    }
}

/// Sends messages that are already rendered (the envelope and the RFC 5322 bytes): what a
/// drainer does with queued mail, so that a retry sends the very same bytes.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Sends every message and reports per message what happened, in order.
    ///
    /// An `Err` means nothing could be attempted at all.
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error>;

    /// Sends every message and hands each one's outcome to `sink` as soon as it is
    /// known, so that a drainer can ack a message right after the server's 250 instead
    /// of after the whole batch.
    ///
    /// A transport that overrides this waits, before it sends a message's content on a
    /// connection, until the outcome it reported last for a message sent on that
    /// connection is [recorded](Recorded::wait): at most one accepted message per
    /// connection is then waiting for its ack. When a `Recorded` says that the receiver
    /// went away, it sends no more.
    ///
    /// An `Err` means nothing more could be attempted; the messages without an outcome
    /// were not sent. The default sends through
    /// [`send_rendered`](Transport::send_rendered) and reports every outcome at the end.
    async fn send_each(&self, messages: &[RenderedEmail], sink: OutcomeSink) -> Result<(), Error> {
        let report = self.send_rendered(messages).await?;
        for (index, outcome) in report.outcomes.into_iter().enumerate() {
            drop(sink.report(index, outcome));
        }
        Ok(())
    }
}

/// Where a [`Transport::send_each`] hands each message's outcome as soon as it is known.
/// Clones report to the same receiver.
#[derive(Debug, Clone)]
pub struct OutcomeSink {
    tx: tokio::sync::mpsc::UnboundedSender<Reported>,
}

/// One outcome on its way from a transport to whoever records it.
#[derive(Debug)]
pub(crate) struct Reported {
    /// The message's index in the slice given to the transport.
    pub(crate) index: usize,
    /// What happened to it.
    pub(crate) outcome: Outcome,
    /// Sent when the outcome is recorded; dropped unsent when the receiver gave up.
    pub(crate) recorded: tokio::sync::oneshot::Sender<()>,
}

impl OutcomeSink {
    /// A sink and the receiving end of it.
    pub(crate) fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Reported>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (OutcomeSink { tx }, rx)
    }

    /// Hands over the outcome of the message at `index`; the [`Recorded`] completes once
    /// the receiver has recorded it.
    pub fn report(&self, index: usize, outcome: Outcome) -> Recorded {
        let (recorded, rx) = tokio::sync::oneshot::channel();
        // A receiver that went away is seen by the `Recorded`.
        let _ = self.tx.send(Reported {
            index,
            outcome,
            recorded,
        });
        Recorded(rx)
    }

    /// True when the receiver went away: nothing more will be recorded.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Completes when an outcome handed to an [`OutcomeSink`] is recorded.
#[derive(Debug)]
pub struct Recorded(tokio::sync::oneshot::Receiver<()>);

impl Recorded {
    /// Waits until the outcome is recorded (a drainer: the message is acked, deferred or
    /// dead-lettered): true, or false when the receiver went away without recording it.
    pub async fn wait(self) -> bool {
        self.0.await.is_ok()
    }
}

/// Renders each message of a batch for a transport: the rendered ones with their index in
/// `messages`, and one outcome slot per message, already `Failed` where rendering failed.
pub(crate) fn render_batch(
    messages: &[Email],
) -> (Vec<(usize, RenderedEmail)>, Vec<Option<Outcome>>) {
    let mut outcomes = Vec::with_capacity(messages.len());
    let mut rendered = Vec::with_capacity(messages.len());
    for (index, email) in messages.iter().enumerate() {
        match email.render() {
            Ok(message) => {
                outcomes.push(None);
                rendered.push((index, message));
            }
            Err(e) => outcomes.push(Some(Outcome::Failed(e.into()))),
        }
    }
    (rendered, outcomes)
}

/// Builds a plain-text message and sends it through `mailer`, like Django's `send_mail`.
pub async fn send_mail(
    mailer: &dyn Mailer,
    subject: &str,
    body: &str,
    from: &str,
    to: &[&str],
) -> Result<(), Error> {
    let mut builder = Email::builder().from(from).subject(subject).text(body);
    for address in to {
        builder = builder.to(*address);
    }
    mailer.send(&builder.build()?).await
}
