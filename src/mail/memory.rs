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

    fn lock(&self) -> MutexGuard<'_, Vec<Email>> {
        lock(&self.outbox)
    }
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
