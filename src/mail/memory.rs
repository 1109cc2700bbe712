//! The memory backend: an outbox that the tests of an app can inspect, like Django's
//! locmem backend. Clones share one outbox.
//!
//! ```
//! # async fn demo() -> Result<(), squall::mail::Error> {
//! use squall::mail::{Email, Mailer, MemoryMailer};
//!
//! let outbox = MemoryMailer::new();
//! let app_mailer: Box<dyn Mailer> = Box::new(outbox.clone()); // give this to the app
//! let email = Email::builder().from("a@example.com").to("b@example.com").subject("Hi").build()?;
//! app_mailer.send(&email).await?;
//! assert_eq!(outbox.messages().len(), 1);
//! assert_eq!(outbox.take()[0].to, ["b@example.com"]);
//! assert!(outbox.messages().is_empty());
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! A test asserts on the outbox as on Django's `mail.outbox`: [`assert_sent`](MemoryMailer::assert_sent) panics with a list of what was sent when the count is
//! wrong, [`last`](MemoryMailer::last), [`find_to`](MemoryMailer::find_to) and
//! [`find_subject`](MemoryMailer::find_subject) pick a message, and
//! [`Email::links`](crate::mail::Email::links) /
//! [`Email::link_matching`](crate::mail::Email::link_matching) give the links it carries.
//!
//! ```
//! # async fn demo() -> Result<(), squall::mail::Error> {
//! use squall::mail::{Email, Mailer, MemoryMailer};
//!
//! let outbox = MemoryMailer::new();
//! let email = Email::builder()
//!     .from("site@example.com")
//!     .to("Peter <peter@example.com>")
//!     .subject("Reset your password")
//!     .text("Follow https://example.com/reset/4f2a within the hour.")
//!     .build()?;
//! outbox.send(&email).await?;
//!
//! let sent = outbox.assert_sent(1);
//! assert_eq!(sent[0].link_matching("/reset/").as_deref(), Some("https://example.com/reset/4f2a"));
//! assert!(outbox.find_to("PETER@example.com").is_some());
//! assert_eq!(outbox.find_subject("password").map(|e| e.subject), Some("Reset your password".into()));
//! assert_eq!(outbox.last(), Some(email));
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
//! ```

use crate::sync::lock;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{Email, Error, Mailer, Outcome, SendReport};

/// Keeps every message it is given, in order.
#[derive(Debug, Clone, Default)]
pub struct MemoryMailer {
    outbox: Arc<Mutex<Vec<Email>>>,
}

impl MemoryMailer {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the messages sent so far.
    pub fn messages(&self) -> Vec<Email> {
        self.lock().clone()
    }

    /// Takes the messages sent so far, leaving the outbox empty.
    pub fn take(&self) -> Vec<Email> {
        std::mem::take(&mut *self.lock())
    }

    /// The message sent last, if any.
    pub fn last(&self) -> Option<Email> {
        self.lock().last().cloned()
    }

    /// The latest message with `address` among its To, Cc or Bcc recipients: the bare
    /// address (`peter@example.com`, whatever display name was used), compared without
    /// regard to case.
    pub fn find_to(&self, address: &str) -> Option<Email> {
        let wanted = bare_address(address).to_ascii_lowercase();
        self.lock()
            .iter()
            .rev()
            .find(|email| {
                email
                    .recipients()
                    .is_ok_and(|all| all.iter().any(|r| r.eq_ignore_ascii_case(&wanted)))
            })
            .cloned()
    }

    /// The latest message whose subject contains `text` (case-sensitive).
    pub fn find_subject(&self, text: &str) -> Option<Email> {
        self.lock()
            .iter()
            .rev()
            .find(|email| email.subject.contains(text))
            .cloned()
    }

    /// Asserts that exactly `count` messages were sent, and returns them, oldest first.
    ///
    /// # Panics
    /// When the outbox holds another number of messages; the message lists each one
    /// (recipients and subject), so that a failing test shows what was sent instead.
    #[track_caller]
    pub fn assert_sent(&self, count: usize) -> Vec<Email> {
        let messages = self.messages();
        if messages.len() != count {
            panic!("{}", describe_mismatch(count, &messages));
        }
        messages
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Email>> {
        lock(&self.outbox)
    }
}

/// The address inside `Name <addr>`, or the value itself.
fn bare_address(value: &str) -> &str {
    match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => value[open + 1..close].trim(),
        _ => value.trim(),
    }
}

/// "expected 1 message sent, but 2 were:" and one line per message.
fn describe_mismatch(count: usize, messages: &[Email]) -> String {
    let plural = |n: usize| if n == 1 { "message" } else { "messages" };
    let mut out = format!(
        "expected {count} {} sent, but {} {}",
        plural(count),
        messages.len(),
        if messages.len() == 1 { "was" } else { "were" }
    );
    if messages.is_empty() {
        out.push_str(" (the outbox is empty)");
        return out;
    }
    out.push(':');
    for (index, email) in messages.iter().enumerate() {
        let mut to: Vec<&str> = email
            .to
            .iter()
            .chain(&email.cc)
            .map(String::as_str)
            .collect();
        let bcc: Vec<String> = email.bcc.iter().map(|b| format!("bcc {b}")).collect();
        to.extend(bcc.iter().map(String::as_str));
        out.push_str(&format!(
            "\n  {}. to {}: {:?}",
            index + 1,
            to.join(", "),
            email.subject
        ));
    }
    out
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let mut outbox = self.lock();
        let outcomes = messages
            .iter()
            .map(|email| {
                outbox.push(email.clone());
                Outcome::Sent {
                    message_id: email.message_id.clone(),
                    rejected: Vec::new(),
                }
            })
            .collect();
        Ok(SendReport { outcomes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str, subject: &str) -> Email {
        Email::builder()
            .from("site@example.com")
            .to(to)
            .subject(subject)
            .build()
            .unwrap()
    }

    #[test]
    fn the_mismatch_lists_what_was_sent() {
        let sent = [
            email("Peter <peter@example.com>", "Welcome"),
            email("carol@example.com", "Reset"),
        ];
        assert_eq!(
            describe_mismatch(1, &sent),
            "expected 1 message sent, but 2 were:\n  \
             1. to Peter <peter@example.com>: \"Welcome\"\n  \
             2. to carol@example.com: \"Reset\""
        );
        assert_eq!(
            describe_mismatch(2, &[]),
            "expected 2 messages sent, but 0 were (the outbox is empty)"
        );
    }

    #[tokio::test]
    async fn finders_pick_the_latest_match() {
        let outbox = MemoryMailer::new();
        let first = email("Peter <peter@example.com>", "Welcome");
        let second = email("carol@example.com", "Welcome back");
        outbox
            .send_messages(&[first.clone(), second.clone()])
            .await
            .unwrap();
        assert_eq!(outbox.find_to("peter@EXAMPLE.com"), Some(first.clone()));
        assert_eq!(outbox.find_to("P <peter@example.com>"), Some(first));
        assert_eq!(outbox.find_to("nobody@example.com"), None);
        assert_eq!(outbox.find_subject("Welcome"), Some(second.clone()));
        assert_eq!(outbox.find_subject("welcome"), None);
        assert_eq!(outbox.last(), Some(second));
        assert_eq!(outbox.assert_sent(2).len(), 2);
        let panic = std::panic::catch_unwind(|| outbox.assert_sent(0)).unwrap_err();
        let text = panic.downcast_ref::<String>().unwrap();
        assert!(
            text.contains("expected 0 messages sent, but 2 were"),
            "{text}"
        );
        assert!(text.contains("carol@example.com"), "{text}");
    }
}
