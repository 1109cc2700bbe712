//! The console backend: writes each whole rendered message to stdout or any [`Write`],
//! like Django's console backend. It is the dry-run path of `spool-drain`.
//!
//! ```
//! # async fn demo() -> Result<(), squall::mail::Error> {
//! use squall::mail::{ConsoleMailer, Email, Mailer};
//!
//! let console = ConsoleMailer::to_writer(Vec::new());
//! let email = Email::builder().from("a@example.com").to("b@example.com").subject("Hi").build()?;
//! console.send(&email).await?;
//! let printed = String::from_utf8(console.into_inner().unwrap()).unwrap();
//! assert!(printed.contains("Subject: Hi"));
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
//! ```

use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Email, Error, Mailer, Outcome, RenderedEmail, SendReport, Transport};

/// Writes messages, with their envelope, to a [`Write`] instead of sending them.
pub struct ConsoleMailer<W = Box<dyn Write + Send>> {
    out: Mutex<W>,
}

impl<W> std::fmt::Debug for ConsoleMailer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleMailer")
    }
}

impl ConsoleMailer {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        ConsoleMailer {
            out: Mutex::new(Box::new(std::io::stdout())),
        }
    }
}

impl<W: Write + Send> ConsoleMailer<W> {
    /// Writes to `out`.
    pub fn to_writer(out: W) -> Self {
        ConsoleMailer {
            out: Mutex::new(out),
        }
    }

    /// Returns the writer, or `None` if a writer panicked while holding it.
    pub fn into_inner(self) -> Option<W> {
        self.out.into_inner().ok()
    }
}

impl<W: Write + Send> ConsoleMailer<W> {
    fn write(&self, messages: Vec<Result<RenderedEmail, Error>>) -> Result<SendReport, Error> {
        let mut report = SendReport::default();
        let mut out = self
            .out
            .lock()
            .map_err(|_| std::io::Error::other("the console writer was poisoned"))?;
        for message in messages {
            let rendered = match message {
                Ok(r) => r,
                Err(e) => {
                    report.outcomes.push(Outcome::Failed(e));
                    continue;
                }
            };
            writeln!(out, "MAIL FROM: <{}>", rendered.from)?;
            for rcpt in &rendered.recipients {
                writeln!(out, "RCPT TO: <{rcpt}>")?;
            }
            out.write_all(&rendered.bytes)?;
            writeln!(out)?;
            writeln!(out, "{}", "-".repeat(79))?;
            report.outcomes.push(Outcome::Sent {
                message_id: rendered.message_id,
                rejected: Vec::new(),
            });
        }
        out.flush()?;
        Ok(report)
    }
}

#[async_trait]
impl<W: Write + Send> Mailer for ConsoleMailer<W> {
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let rendered: Vec<_> = messages
            .iter()
            .map(|e| e.render().map_err(Error::from))
            .collect();
        self.write(rendered)
    }
}

#[async_trait]
impl<W: Write + Send> Transport for ConsoleMailer<W> {
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error> {
        let rendered: Vec<_> = messages.iter().cloned().map(Ok).collect();
        self.write(rendered)
    }
}
