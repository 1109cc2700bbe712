//! Mail previews in the browser: a read-only tower service that lists the mail in a
//! [`MemoryMailer`](crate::mail::MemoryMailer), a disk spool or a Redis queue, shows each
//! message with tabs for its HTML (in a sandboxed iframe), text, headers, raw source and
//! attachments, and renders registered [`Previews`]: sample mail built from fixture data,
//! never sent.
//!
//! Mount it in an axum app with `router.nest_service("/__mail", preview)`, in debug builds
//! only: it shows whatever mail passes through the site. Nothing it serves changes
//! anything; a request other than `GET` or `HEAD` gets `405 Method Not Allowed`.
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::mail::{Email, MailPreview, Mailer, MemoryMailer, Previews};
//! use squall::testing::TestClient;
//!
//! let outbox = MemoryMailer::new();
//! let welcome = || {
//!     Email::builder()
//!         .from("site@example.com")
//!         .to("new.user@example.com")
//!         .subject("Welcome aboard")
//!         .text("Hello!")
//!         .html("<p>Hello!</p>")
//!         .build()
//! };
//! outbox.send(&welcome()?).await?;
//! let preview = MailPreview::new()
//!     .mounted_at("/__mail")
//!     .source("outbox", outbox.clone())
//!     .previews(Previews::new().add("welcome", welcome));
//!
//! let client = TestClient::new(preview); // or: router.nest_service("/__mail", preview)
//! client.get("/__mail/").await.assert_status(200).assert_contains("Welcome aboard");
//! client.get("/__mail/outbox/1/text").await.assert_contains("Hello!");
//! client.get("/__mail/previews/welcome").await.assert_contains("new.user@example.com");
//! # Ok(())
//! # }
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! The pages, below the mount point:
//!
//! | path | what |
//! |------|------|
//! | `/` | every source's messages: subject, to, age, state; then the previews |
//! | `/<source>/<id>` | one message, on its HTML tab (the text tab when it has no HTML) |
//! | `/<source>/<id>/text`, `/headers`, `/raw`, `/attachments` | the other tabs |
//! | `/<source>/<id>/body.html` | the HTML part alone, served with `Content-Security-Policy: sandbox` |
//! | `/<source>/<id>/source.eml` | the whole message, to download |
//! | `/<source>/<id>/attachments/<n>` | attachment `n` (from 1), with its own `Content-Type` |

mod html;
mod pages;
mod service;
mod sources;
mod view;

pub use service::MailPreview;
pub use sources::{IntoPreview, Previews, SpoolSource};

use async_trait::async_trait;
use bytes::Bytes;

use super::{EmailError, QueueError};

/// Why a source could not be read or a preview could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreviewError {
    /// The queue could not be read (a spool file or a Redis command failed).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A message in the outbox does not render (it never would have been sent either).
    #[error("message {id} does not render: {source}")]
    Render {
        /// The message's id in its source.
        id: String,
        /// What rendering said.
        #[source]
        source: EmailError,
    },
    /// A registered preview's function failed.
    #[error("preview {name:?} failed: {source}")]
    Build {
        /// The preview's name.
        name: String,
        /// What its function returned.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where a message is: sent, waiting in a queue, or a preview that is never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailState {
    /// Handed to the backend (the memory outbox keeps what was "sent").
    Sent,
    /// Waiting in the queue, due now.
    Queued,
    /// Claimed by a drainer that is sending it.
    InFlight,
    /// Waiting for a later attempt.
    Deferred {
        /// When it falls due, in ms since the Unix epoch.
        due_unix_ms: u64,
    },
    /// In the dead-letter place.
    Failed,
    /// A registered preview, built on request.
    Preview,
}

impl MailState {
    /// A short word for the list: `sent`, `queued`, `in flight`, `deferred`, `failed`,
    /// `preview`.
    pub fn label(&self) -> &'static str {
        match self {
            MailState::Sent => "sent",
            MailState::Queued => "queued",
            MailState::InFlight => "in flight",
            MailState::Deferred { .. } => "deferred",
            MailState::Failed => "failed",
            MailState::Preview => "preview",
        }
    }
}

/// One message as a source holds it: the rendered RFC 5322 bytes and what the source
/// knows beside them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredMail {
    /// The id in its source (a queue id, a position in the outbox, a preview's name).
    pub id: String,
    /// Where the message is.
    pub state: MailState,
    /// When it was made or enqueued, in ms since the Unix epoch, if known.
    pub created_unix_ms: Option<u64>,
    /// The envelope recipients (Bcc included), if the source keeps an envelope.
    pub recipients: Vec<String>,
    /// The last delivery error, for deferred and failed mail.
    pub error: Option<String>,
    /// The whole message, headers and body.
    pub bytes: Bytes,
}

impl StoredMail {
    /// A message with nothing known beside its bytes.
    pub fn new(id: impl Into<String>, state: MailState, bytes: impl Into<Bytes>) -> Self {
        StoredMail {
            id: id.into(),
            state,
            created_unix_ms: None,
            recipients: Vec::new(),
            error: None,
            bytes: bytes.into(),
        }
    }

    /// Sets when it was made, in ms since the Unix epoch.
    pub fn created(mut self, unix_ms: u64) -> Self {
        self.created_unix_ms = Some(unix_ms);
        self
    }

    /// Sets the envelope recipients.
    pub fn recipients(mut self, recipients: Vec<String>) -> Self {
        self.recipients = recipients;
        self
    }

    /// Sets the last delivery error.
    pub fn error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}

/// Somewhere mail can be read from without changing it.
///
/// A source implements [`list`](Self::list); [`get`](Self::get) has a default that
/// searches the list, which a source overrides when it can find one message faster.
#[async_trait]
pub trait MailSource: Send + Sync {
    /// Every message, newest first (a source may stop at a limit of its own).
    async fn list(&self) -> Result<Vec<StoredMail>, PreviewError>;

    /// The message `id`, or `None` when there is none by that id.
    async fn get(&self, id: &str) -> Result<Option<StoredMail>, PreviewError> {
        Ok(self.list().await?.into_iter().find(|m| m.id == id))
    }
}
