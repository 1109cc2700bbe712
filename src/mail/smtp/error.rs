//! What can go wrong talking to an SMTP server: [`SmtpError`] names the server, the
//! [`Step`] and the reply, and [`ErrorClass`] says whether to retry the message, give it
//! up, or stop using the server for now.
//!
//! ```
//! use squall::mail::{ErrorClass, SmtpError, Step};
//!
//! fn advice(error: &SmtpError) -> &'static str {
//!     match error.class() {
//!         ErrorClass::Permanent => "bounce the message",
//!         ErrorClass::Setup => "check the server settings, then try later",
//!         _ if error.step() == Some(Step::RcptTo) => "retry this recipient later",
//!         _ => "retry the message later",
//!     }
//! }
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How an SMTP failure should be handled by whoever retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Try this message again later: a 4xx reply, an I/O error or a timeout mid-message.
    Transient,
    /// This message will never be accepted as it is: a 5xx reply, or a need the server
    /// cannot meet (SMTPUTF8).
    Permanent,
    /// The server could not be used at all (connect, greeting, TLS, AUTH): stop and try
    /// later, without counting it against any message.
    Setup,
}

/// The SMTP step at which something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Opening the TCP connection.
    Connect,
    /// Implicit TLS (`smtps://`) handshake.
    TlsHandshake,
    /// The server's greeting and our EHLO.
    Greeting,
    /// `STARTTLS` and the handshake after it.
    StartTls,
    /// `AUTH`.
    Auth,
    /// `MAIL FROM`.
    MailFrom,
    /// `RCPT TO`.
    RcptTo,
    /// `DATA`.
    Data,
    /// Sending the message content and waiting for the final reply.
    Content,
    /// `RSET` on a reused connection.
    Rset,
}

impl Step {
    fn is_setup(self) -> bool {
        matches!(
            self,
            Step::Connect | Step::TlsHandshake | Step::Greeting | Step::StartTls | Step::Auth
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Connect => "connect",
            Step::TlsHandshake => "TLS handshake",
            Step::Greeting => "greeting/EHLO",
            Step::StartTls => "STARTTLS",
            Step::Auth => "AUTH",
            Step::MailFrom => "MAIL FROM",
            Step::RcptTo => "RCPT TO",
            Step::Data => "DATA",
            Step::Content => "message content",
            Step::Rset => "RSET",
        })
    }
}

/// An SMTP failure: the server, the step, and the server's reply where there was one.
///
/// Where a lower layer failed (the network, TLS), [`source()`](StdError::source) returns
/// that layer's error itself, so `downcast_ref::<std::io::Error>()` works on it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SmtpError {
    /// The server answered with an error reply.
    Reply {
        /// `host:port`.
        server: String,
        /// Where it happened.
        step: Step,
        /// The reply code, such as 450 or 550.
        code: u16,
        /// The reply text.
        message: String,
    },
    /// The server did not answer within the step timeout.
    Timeout {
        /// `host:port`.
        server: String,
        /// Where it happened.
        step: Step,
        /// The timeout that fired.
        after: Duration,
    },
    /// The connection failed: refused, reset, closed, or a TLS failure.
    Connection {
        /// `host:port`.
        server: String,
        /// Where it happened.
        step: Step,
        /// What the network or TLS layer said.
        source: Arc<dyn StdError + Send + Sync>,
    },
    /// The server lacks something the configuration requires (STARTTLS, an AUTH
    /// mechanism, SMTPUTF8).
    Unsupported {
        /// `host:port`.
        server: String,
        /// What is missing.
        reason: String,
    },
    /// The message needs an extension that the server does not offer, such as SMTPUTF8
    /// for a non-ASCII address. The server works; this message can never be sent to it,
    /// so it is [`ErrorClass::Permanent`] and the other messages go on.
    MessageUnsupported {
        /// `host:port`.
        server: String,
        /// What the message needs and the server lacks.
        reason: String,
    },
    /// The TLS settings are unusable: a root certificate that does not parse, or
    /// settings the TLS library refuses.
    TlsConfig {
        /// `host:port`.
        server: String,
        /// Which setting.
        problem: &'static str,
        /// What the TLS library said.
        source: Arc<dyn StdError + Send + Sync>,
    },
}

// Written out rather than derived: thiserror would hand out the `Arc` as the source,
// and `downcast_ref::<io::Error>()` on it would fail.
impl fmt::Display for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmtpError::Reply {
                server,
                step,
                code,
                message,
            } => write!(f, "{server}: {step} was refused: {code} {message}"),
            SmtpError::Timeout {
                server,
                step,
                after,
            } => write!(f, "{server}: {step} timed out after {after:?}"),
            SmtpError::Connection {
                server,
                step,
                source,
            } => write!(f, "{server}: {step} failed: {source}"),
            SmtpError::Unsupported { server, reason }
            | SmtpError::MessageUnsupported { server, reason } => write!(f, "{server}: {reason}"),
            SmtpError::TlsConfig {
                server,
                problem,
                source,
            } => write!(f, "{server}: {problem}: {source}"),
        }
    }
}

impl StdError for SmtpError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SmtpError::Connection { source, .. } | SmtpError::TlsConfig { source, .. } => {
                Some(&**source)
            }
            _ => None,
        }
    }
}

impl SmtpError {
    /// The step at which it failed, when it was a step of the conversation.
    pub fn step(&self) -> Option<Step> {
        match self {
            SmtpError::Reply { step, .. }
            | SmtpError::Timeout { step, .. }
            | SmtpError::Connection { step, .. } => Some(*step),
            SmtpError::Unsupported { .. }
            | SmtpError::MessageUnsupported { .. }
            | SmtpError::TlsConfig { .. } => None,
        }
    }

    /// The server's reply code, if it replied.
    pub fn code(&self) -> Option<u16> {
        match self {
            SmtpError::Reply { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether to retry the message, give it up, or stop using the server for now.
    pub fn class(&self) -> ErrorClass {
        match self {
            SmtpError::Unsupported { .. } | SmtpError::TlsConfig { .. } => ErrorClass::Setup,
            SmtpError::MessageUnsupported { .. } => ErrorClass::Permanent,
            _ if self.step().is_some_and(Step::is_setup) => ErrorClass::Setup,
            SmtpError::Reply { code, .. } if (500..600).contains(code) => ErrorClass::Permanent,
            _ => ErrorClass::Transient,
        }
    }

    /// A 4xx reply or an I/O failure while sending a message.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// A 5xx reply to the message: retrying it will not help.
    pub fn is_permanent(&self) -> bool {
        self.class() == ErrorClass::Permanent
    }

    /// The server could not be used at all.
    pub fn is_setup(&self) -> bool {
        self.class() == ErrorClass::Setup
    }

    /// Whether the connection can still be used after this error (the server replied).
    pub(super) fn keeps_connection(&self) -> bool {
        matches!(self, SmtpError::Reply { code, .. } if *code != 421)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let reply = |step, code| SmtpError::Reply {
            server: "s".into(),
            step,
            code,
            message: "m".into(),
        };
        assert_eq!(reply(Step::RcptTo, 450).class(), ErrorClass::Transient);
        assert_eq!(reply(Step::Content, 552).class(), ErrorClass::Permanent);
        assert_eq!(reply(Step::Greeting, 421).class(), ErrorClass::Setup);
        assert_eq!(reply(Step::Auth, 535).class(), ErrorClass::Setup);
        let timeout = SmtpError::Timeout {
            server: "s".into(),
            step: Step::Content,
            after: Duration::from_secs(1),
        };
        assert_eq!(timeout.class(), ErrorClass::Transient);
        let needs_utf8 = SmtpError::MessageUnsupported {
            server: "s".into(),
            reason: "r".into(),
        };
        assert_eq!(needs_utf8.class(), ErrorClass::Permanent);
    }

    #[test]
    fn the_source_is_the_lower_error_itself() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = SmtpError::Connection {
            server: "mx:25".into(),
            step: Step::Content,
            source: Arc::new(io),
        };
        assert_eq!(
            e.to_string(),
            "mx:25: message content failed: reset by peer"
        );
        let source = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            source.map(std::io::Error::kind),
            Some(std::io::ErrorKind::ConnectionReset)
        );
        // A clone shares the source.
        assert!(e.clone().source().is_some());
    }
}
