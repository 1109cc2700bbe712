//! Mail: an [`Email`] model and backends behind one [`Mailer`] trait.
//!
//! A request handler hands mail to a fast backend and returns; a backend is chosen by URL
//! so that configuration stays a single string (`SQUALL_MAIL_URL`):
//!
//! | URL | backend |
//! |-----|---------|
//! | `smtp://user:pass@host:587?tls=required` | [`SmtpMailer`], STARTTLS required (`tls=opportunistic`: if offered; none: plain) |
//! | `smtps://user:pass@host:465` | [`SmtpMailer`], implicit TLS |
//! | `spool:///var/spool/app`, `spool:relative/dir` | [`Spool`]: the disk spool that `spool-drain` sends from |
//! | `redis://host:6379/0?queue=app` | `RedisQueue` (feature `redis`): the queue for many web servers and drainers |
//! | `console://` | [`ConsoleMailer`]: prints each message to stdout |
//! | `memory://` | [`MemoryMailer`]: keeps an outbox in memory, for tests |
//!
//! ```
//! # async fn demo() -> Result<(), squall::mail::Error> {
//! use squall::mail::{from_url, send_mail};
//!
//! let mailer = from_url("memory://")?;
//! send_mail(&*mailer, "Hello", "Body text", "site@example.com", &["peter@example.com"]).await?;
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```

mod console;
pub mod drain;
mod email;
mod memory;
pub mod queue;
#[cfg(feature = "redis")]
pub mod redis;
pub mod smtp;
pub mod spool;

use async_trait::async_trait;

pub use console::ConsoleMailer;
pub use drain::{DrainOptions, DrainReport, Drainer};
pub use email::{Attachment, Email, EmailBuilder, EmailError, RenderedEmail};
pub use memory::MemoryMailer;
pub use queue::{
    Claimed, Queue, QueueError, QueueStatus, QueuedMessage, RetryPolicy, SingleRunGuard,
};
#[cfg(feature = "redis")]
pub use redis::RedisQueue;
pub use smtp::{ErrorClass, SmtpConfig, SmtpError, SmtpMailer, Tls};
pub use spool::Spool;

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
    /// A queue (disk spool, Redis) could not store or hand out a message.
    #[error(transparent)]
    Queue(#[from] QueueError),
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
            Error::Rejected { rejected } => rejected.iter().all(|r| r.error.is_transient()),
            Error::Io(_) | Error::Queue(_) => true,
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
            .filter(|o| !matches!(o, Outcome::Failed(_)))
            .count()
    }

    /// How many messages failed.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.delivered()
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
    /// An `Err` means nothing could be attempted at all (the server could not be reached,
    /// the queue could not be written); per-message failures are in the report.
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

/// Makes a mailer from a URL; see the [module docs](self) for the schemes.
///
/// An unknown scheme, or one whose backend is not built yet, is an error that quotes the
/// URL (password masked) and lists what is expected.
pub fn from_url(url: &str) -> Result<Box<dyn Mailer>, Error> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "smtp" | "smtps" => Ok(Box::new(SmtpMailer::new(SmtpConfig::from_url(url)?)?)),
        "console" => Ok(Box::new(ConsoleMailer::stdout())),
        "memory" => Ok(Box::new(MemoryMailer::new())),
        "spool" => Ok(Box::new(Spool::from_url(url)?)),
        #[cfg(feature = "redis")]
        "redis" => Ok(Box::new(RedisQueue::from_url(url)?)),
        #[cfg(not(feature = "redis"))]
        "redis" => Err(redis_not_built(url)),
        _ => Err(Error::Url {
            url: smtp::mask_password(url),
            reason: "unknown scheme; expected smtp://, smtps://, console://, memory://, spool:// or redis://".into(),
        }),
    }
}

#[cfg(not(feature = "redis"))]
fn redis_not_built(url: &str) -> Error {
    Error::Url {
        url: smtp::mask_password(url),
        reason: "the Redis queue (redis://) is not built in; build squall with the `redis` feature, or use spool:".into(),
    }
}

/// Makes a [`Transport`] (where a drainer sends queued mail) from a URL: `smtp://`,
/// `smtps://` or `console://`. `connections` caps the SMTP connections used at once.
pub fn transport_from_url(url: &str, connections: usize) -> Result<Box<dyn Transport>, Error> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "smtp" | "smtps" => {
            let config = SmtpConfig::from_url(url)?.max_connections(connections);
            Ok(Box::new(SmtpMailer::new(config)?))
        }
        "console" => Ok(Box::new(ConsoleMailer::stdout())),
        _ => Err(Error::Url {
            url: smtp::mask_password(url),
            reason: "queued mail can be sent only through smtp://, smtps:// or console://".into(),
        }),
    }
}

/// Opens the queue a URL names: `spool:///var/spool/app` or `spool:relative/dir`
/// (`?durable=false` to skip fsyncs), or `redis://host:6379/0?queue=app` (feature `redis`).
pub fn queue_from_url(url: &str) -> Result<Box<dyn Queue>, Error> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "spool" => Ok(Box::new(Spool::from_url(url)?)),
        #[cfg(feature = "redis")]
        "redis" => Ok(Box::new(RedisQueue::from_url(url)?)),
        #[cfg(not(feature = "redis"))]
        "redis" => Err(redis_not_built(url)),
        _ => Err(Error::Url {
            url: smtp::mask_password(url),
            reason: "not a queue; expected spool:///absolute/dir or spool:relative/dir".into(),
        }),
    }
}
