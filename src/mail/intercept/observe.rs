//! Observers: what [`Intercept`](super::Intercept) tells after each message, for metrics
//! and audit logs.
//!
//! ```
//! use squall::mail::{Intercept, MemoryMailer, Observer, SendEvent};
//!
//! /// Writes one audit line per message.
//! struct Audit;
//!
//! impl Observer for Audit {
//!     fn observe(&self, event: &SendEvent<'_>) {
//!         tracing::info!(
//!             message_id = event.message_id(),
//!             to = %event.recipients().join(", "),
//!             ok = event.is_success(),
//!             error = ?event.error(),
//!             "mail"
//!         );
//!     }
//! }
//!
//! let mailer = Intercept::new(MemoryMailer::new()).observe(Audit);
//! ```

use crate::mail::email::Email;
use crate::mail::mailer::{Error, Outcome};

/// Called by [`Intercept`](super::Intercept) once per message, after the wrapped mailer
/// answered (or after the message was refused or dropped without it).
///
/// It runs inline on the sending task: keep it quick (count, log, push to a channel).
/// A closure `Fn(&SendEvent<'_>) + Send + Sync` is an observer too.
pub trait Observer: Send + Sync {
    /// Called with what happened to one message.
    fn observe(&self, event: &SendEvent<'_>);
}

impl<F> Observer for F
where
    F: Fn(&SendEvent<'_>) + Send + Sync,
{
    fn observe(&self, event: &SendEvent<'_>) {
        self(event)
    }
}

/// What happened to one message, as an [`Observer`] sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct SendEvent<'a> {
    /// The message as the application gave it.
    pub original: &'a Email,
    /// The message as it was handed to the wrapped mailer (redirected, blind-copied),
    /// or `None` when the allow-list refused it or dropped every recipient.
    pub sent: Option<&'a Email>,
    /// The recipients the allow-list dropped, as bare addresses.
    pub dropped: &'a [String],
    /// The message's [`Outcome`], or the error of the whole batch when the wrapped mailer
    /// could not take it at all (nothing was sent).
    pub result: Result<&'a Outcome, &'a Error>,
}

impl<'a> SendEvent<'a> {
    pub(super) fn new(
        original: &'a Email,
        sent: Option<&'a Email>,
        dropped: &'a [String],
        result: Result<&'a Outcome, &'a Error>,
    ) -> Self {
        SendEvent {
            original,
            sent,
            dropped,
            result,
        }
    }

    /// The message's Message-ID (the same before and after interception).
    pub fn message_id(&self) -> &'a str {
        &self.original.message_id
    }

    /// The envelope recipients the message was handed on to (bare addresses, after
    /// interception); empty when it was not handed on.
    pub fn recipients(&self) -> Vec<String> {
        self.sent
            .and_then(|email| email.recipients().ok())
            .unwrap_or_default()
    }

    /// True when the message was sent or queued (possibly with some recipients refused
    /// by the server); false when it failed, was dropped, or the batch failed.
    pub fn is_success(&self) -> bool {
        matches!(
            self.result,
            Ok(Outcome::Sent { .. } | Outcome::Queued { .. })
        )
    }

    /// The error, when the message failed or the batch did.
    pub fn error(&self) -> Option<&'a Error> {
        match self.result {
            Ok(Outcome::Failed(error)) | Err(error) => Some(error),
            Ok(_) => None,
        }
    }
}
