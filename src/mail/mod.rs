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
//! | `failover(smtp://a smtp://b)`, `roundrobin(smtp://a smtp://b)` | [`Failover`]: several transports as one, in order or in turn |
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
mod drain;
mod email;
mod failover;
mod fold;
mod intercept;
mod links;
mod mailer;
mod memory;
#[cfg(feature = "mail-preview")]
mod preview;
mod queue;
mod random;
mod record;
mod smtp;
mod unsubscribe;
mod url;

pub use console::ConsoleMailer;
pub use drain::{DrainError, DrainOptions, DrainReport, Drainer, RefusedRecipient};
pub use email::{Attachment, Email, EmailBuilder, EmailError, RenderedEmail};
pub use failover::Failover;
pub use intercept::{Disallowed, Intercept, InterceptError, Observer, SendEvent};
pub use mailer::{
    Error, Mailer, Outcome, OutcomeSink, Recorded, Rejection, SendReport, Transport, send_mail,
};
pub use memory::MemoryMailer;
#[cfg(feature = "mail-preview")]
pub use preview::{
    IntoPreview, MailPreview, MailSource, MailState, PreviewError, Previews, SpoolSource,
    StoredMail,
};
pub use queue::{
    ClaimBatch, Claimed, Queue, QueueError, QueueStatus, QueuedMessage, RetryPolicy,
    SingleRunGuard, Spool, SpoolConfig,
};
#[cfg(feature = "redis")]
pub use queue::{RedisConfig, RedisQueue};
pub use record::RecordError;
#[cfg(feature = "dkim")]
pub use smtp::{Dkim, DkimError};
pub use smtp::{ErrorClass, SmtpConfig, SmtpError, SmtpMailer, Step, Tls};
pub use url::{from_url, queue_from_url, transport_from_url};

#[cfg(feature = "mail-templates")]
mod template;
#[cfg(feature = "mail-templates")]
pub use template::{MailParts, MailTemplates, TemplateError};
