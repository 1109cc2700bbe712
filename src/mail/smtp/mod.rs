//! The SMTP backend: a small pool of connections over lettre's `AsyncSmtpConnection`, with
//! `TCP_NODELAY` set, a timeout on every step, STARTTLS or implicit TLS (rustls), AUTH,
//! connection reuse, per-recipient results, and every failure classified as
//! [transient, permanent or setup](ErrorClass).
//!
//! ```no_run
//! # async fn demo() -> Result<(), squall::mail::Error> {
//! use std::time::Duration;
//! use squall::mail::{Email, Mailer, SmtpConfig, SmtpMailer};
//!
//! let config = SmtpConfig::from_url("smtp://user:secret@mail.example.com:587?tls=required")?
//!     .timeout(Duration::from_secs(10))
//!     .max_connections(4);
//! let mailer = SmtpMailer::new(config)?;
//! let email = Email::builder().from("site@example.com").to("peter@example.com").build()?;
//! mailer.send(&email).await?;
//! # Ok(())
//! # }
//! ```

mod config;
#[cfg(feature = "dkim")]
mod dkim;
mod error;
mod pool;
mod tls;
mod transaction;

pub use config::{SmtpConfig, Tls};
#[cfg(feature = "dkim")]
pub use dkim::{Dkim, DkimError};
pub use error::{ErrorClass, SmtpError, Step};

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use lettre::transport::smtp::commands::Rset;

use super::mailer::render_batch;
use super::{
    Email, Error, Mailer, Outcome, OutcomeSink, Recorded, RenderedEmail, SendReport, Transport,
};
use pool::{Connection, Pool};

/// Sends mail over SMTP through a pool of reused connections.
///
/// Clones share the pool. [`Mailer::send_messages`] spreads a batch over up to
/// `max_connections` connections; concurrent calls share the same cap.
#[derive(Clone)]
pub struct SmtpMailer {
    inner: Arc<Pool>,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `config`. Fails only when the TLS settings are unusable (a root
    /// certificate that does not parse); no connection is made until mail is sent.
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpError> {
        Ok(SmtpMailer {
            inner: Arc::new(Pool::new(config)?),
        })
    }

    /// Opens a connection and logs in, to check the configuration (connect, TLS, AUTH).
    /// The connection is kept for reuse.
    pub async fn check(&self) -> Result<(), SmtpError> {
        let permit = self.inner.permits.acquire().await;
        let conn = self.inner.connect().await?;
        self.inner.put_back(conn);
        drop(permit);
        Ok(())
    }

    /// Says QUIT on every idle connection and closes it.
    pub async fn close(&self) {
        self.inner.close_idle().await;
    }

    /// Sends `messages` (each with its index in the report) over up to `max_connections`
    /// connections, one spawned task each so that they run on every worker thread, and
    /// hands each outcome to `sink` as it comes. A message's body is `Bytes`: handing it
    /// to a task shares it.
    async fn send_each_indexed(
        &self,
        messages: Vec<(usize, RenderedEmail)>,
        sink: OutcomeSink,
    ) -> Result<(), Error> {
        let workers = self.inner.config.max_connections.min(messages.len());
        let messages = Arc::new(messages);
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            tasks.spawn(Arc::clone(&self.inner).worker(
                Arc::clone(&messages),
                Arc::clone(&next),
                sink.clone(),
            ));
        }
        drop(sink);
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(|e| {
                Error::Io(std::io::Error::other(format!(
                    "an SMTP worker task failed: {e}"
                )))
            })?;
        }
        Ok(())
    }

    /// Sends `messages` and fills in `outcomes` (the slots still `None`), as
    /// [`Mailer::send_messages`] reports them.
    async fn send_all(
        &self,
        messages: Vec<(usize, RenderedEmail)>,
        mut outcomes: Vec<Option<Outcome>>,
    ) -> Result<SendReport, Error> {
        let (sink, mut reported) = OutcomeSink::channel();
        let collect = async {
            while let Some(r) = reported.recv().await {
                let _ = r.recorded.send(());
                if let Some(slot) = outcomes.get_mut(r.index) {
                    *slot = Some(r.outcome);
                }
            }
        };
        let (sent, ()) = tokio::join!(self.send_each_indexed(messages, sink), collect);
        sent?;
        let mut outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Outcome::Failed(Error::Io(std::io::Error::other(
                        "the message was not attempted",
                    )))
                })
            })
            .collect();
        // Nothing could be attempted: say so as one error, as the trait promises.
        let all_setup = !outcomes.is_empty()
            && outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Failed(Error::Smtp(e)) if e.is_setup()));
        if all_setup && let Some(Outcome::Failed(error)) = outcomes.drain(..1).next() {
            return Err(error);
        }
        Ok(SendReport { outcomes })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let (rendered, outcomes) = render_batch(messages);
        self.send_all(rendered, outcomes).await
    }
}

#[async_trait]
impl Transport for SmtpMailer {
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error> {
        let to_send: Vec<(usize, RenderedEmail)> = messages.iter().cloned().enumerate().collect();
        let outcomes = messages.iter().map(|_| None).collect();
        self.send_all(to_send, outcomes).await
    }

    /// Each outcome goes to `sink` as soon as the server has answered, and a connection
    /// sends the next message's content only once its last accepted message is recorded.
    async fn send_each(&self, messages: &[RenderedEmail], sink: OutcomeSink) -> Result<(), Error> {
        let to_send: Vec<(usize, RenderedEmail)> = messages.iter().cloned().enumerate().collect();
        self.send_each_indexed(to_send, sink).await
    }
}

impl Pool {
    /// Takes messages from `next` until none are left, on one connection, and reports
    /// each outcome to `sink`. The content of a message waits until the message this
    /// connection delivered before it is recorded.
    async fn worker(
        self: Arc<Self>,
        messages: Arc<Vec<(usize, RenderedEmail)>>,
        next: Arc<AtomicUsize>,
        sink: OutcomeSink,
    ) {
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        let mut conn: Option<Connection> = None;
        // The record of the last message this connection delivered, until it is done.
        let mut delivered: Option<Recorded> = None;
        'messages: loop {
            if sink.is_closed() {
                break;
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((index, message)) = messages.get(i) else {
                break;
            };
            let index = *index;
            let message = match self.prepare(message) {
                Ok(message) => message,
                Err(e) => {
                    drop(sink.report(index, Outcome::Failed(e.into())));
                    continue;
                }
            };
            // A server that closes the channel before the content (421 at MAIL or RCPT,
            // as under a rate limit) has judged nothing: the message goes again at once,
            // once, on a new connection, and is not charged an attempt.
            let mut resent = false;
            let outcome = loop {
                let mut current = match conn.take() {
                    Some(c) => c,
                    None => match self.checkout().await {
                        Ok(c) => c,
                        Err(e) => {
                            // The server cannot be used now: every message this worker
                            // would have taken fails the same way, without a connection
                            // attempt each.
                            tracing::warn!(server = %self.server, error = %e, "SMTP server unusable");
                            drop(sink.report(index, Outcome::Failed(e.clone().into())));
                            while let Some((index, _)) =
                                messages.get(next.fetch_add(1, Ordering::Relaxed))
                            {
                                drop(sink.report(*index, Outcome::Failed(e.clone().into())));
                            }
                            break 'messages;
                        }
                    },
                };
                match self.transact(&mut current, &message, &mut delivered).await {
                    Ok(rejected) => {
                        conn = Some(current);
                        break Outcome::Sent {
                            message_id: message.message_id.clone(),
                            rejected,
                        };
                    }
                    Err(error) if !resent && closed_before_content(&error) => {
                        tracing::info!(server = %self.server, %error, "server closed the connection before the content; sending again on a new one");
                        resent = true;
                    }
                    Err(error) => {
                        let reusable = match &error {
                            Error::Smtp(e) => e.keeps_connection(),
                            Error::Rejected { .. } | Error::Refused { .. } => true,
                            _ => false,
                        };
                        if reusable
                            && current.usable()
                            && self
                                .step(Step::Rset, current.smtp.command(Rset))
                                .await
                                .is_ok()
                        {
                            conn = Some(current);
                        }
                        tracing::debug!(server = %self.server, %error, "message not sent");
                        break Outcome::Failed(error);
                    }
                }
            };
            let accepted = matches!(outcome, Outcome::Sent { .. });
            let recorded = sink.report(index, outcome);
            if accepted {
                delivered = Some(recorded);
            }
        }
        if let Some(c) = conn {
            self.put_back(c);
        }
    }
}

impl Pool {
    /// The bytes to send for `message`: DKIM-signed when the configuration says so.
    fn prepare<'m>(&self, message: &'m RenderedEmail) -> Result<Cow<'m, RenderedEmail>, SmtpError> {
        #[cfg(feature = "dkim")]
        return self.dkim_sign(message);
        #[cfg(not(feature = "dkim"))]
        Ok(Cow::Borrowed(message))
    }
}

/// A 421 before the content: the server is closing the channel (RFC 5321 §3.8), which
/// says nothing about the message.
fn closed_before_content(error: &Error) -> bool {
    matches!(error, Error::Smtp(e)
        if e.code() == Some(421)
            && matches!(e.step(), Some(Step::MailFrom | Step::RcptTo | Step::Data)))
}
