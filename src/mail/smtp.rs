//! The SMTP backend: a small pool of connections over lettre's
//! [`AsyncSmtpConnection`], with `TCP_NODELAY` set, a timeout on every step, STARTTLS
//! or implicit TLS (rustls), AUTH, connection reuse, per-recipient results, and every
//! failure classified as [transient, permanent or setup](ErrorClass).
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

use super::url::{count, seconds};
use crate::sync::lock;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::{Email, Error, Mailer, Outcome, Rejection, RenderedEmail, SendReport, Transport};

/// How an SMTP failure should be handled by whoever retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Try this message again later: a 4xx reply, an I/O error or a timeout mid-message.
    Transient,
    /// This message will never be accepted as it is: a 5xx reply.
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
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// The server answered with an error reply.
    #[error("{server}: {step} was refused: {code} {message}")]
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
    #[error("{server}: {step} timed out after {after:?}")]
    Timeout {
        /// `host:port`.
        server: String,
        /// Where it happened.
        step: Step,
        /// The timeout that fired.
        after: Duration,
    },
    /// The connection failed: refused, reset, closed, or a TLS failure.
    #[error("{server}: {step} failed: {reason}")]
    Connection {
        /// `host:port`.
        server: String,
        /// Where it happened.
        step: Step,
        /// What the network or TLS layer said.
        reason: String,
    },
    /// The server lacks something the configuration requires (STARTTLS, an AUTH
    /// mechanism, SMTPUTF8), or the TLS configuration is unusable.
    #[error("{server}: {reason}")]
    Unsupported {
        /// `host:port`.
        server: String,
        /// What is missing.
        reason: String,
    },
}

impl SmtpError {
    /// The step at which it failed, when it was a step of the conversation.
    pub fn step(&self) -> Option<Step> {
        match self {
            SmtpError::Reply { step, .. }
            | SmtpError::Timeout { step, .. }
            | SmtpError::Connection { step, .. } => Some(*step),
            SmtpError::Unsupported { .. } => None,
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
            SmtpError::Unsupported { .. } => ErrorClass::Setup,
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
    fn keeps_connection(&self) -> bool {
        matches!(self, SmtpError::Reply { code, .. } if *code != 421)
    }
}

/// How to secure the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Tls {
    /// Plain text (`smtp://` without `tls=`).
    #[default]
    None,
    /// STARTTLS when the server offers it (`?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS, and fail when it is not offered (`?tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// Where and how [`SmtpMailer`] connects.
#[derive(Clone)]
#[must_use]
pub struct SmtpConfig {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<(String, String)>,
    hello_name: Option<String>,
    timeout: Duration,
    max_connections: usize,
    idle_timeout: Duration,
    root_certificates: Vec<Vec<u8>>,
    accept_invalid_certs: bool,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// A plain-text connection to `host:port`, 30 s step timeout, at most 4 connections.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        SmtpConfig {
            host: host.into(),
            port,
            tls: Tls::None,
            credentials: None,
            hello_name: None,
            timeout: Duration::from_secs(30),
            max_connections: 4,
            idle_timeout: Duration::from_secs(60),
            root_certificates: Vec::new(),
            accept_invalid_certs: false,
        }
    }

    /// Reads lettre's URL grammar: `smtp://user:pass@host:port/ehlo-name?tls=required`,
    /// `?tls=opportunistic`, `smtps://host:465`. squall adds `timeout=<seconds>`,
    /// `pool=<max connections>` and `ca=<PEM file>` (an extra trusted root).
    ///
    /// Default ports: 25 for plain `smtp://`, 587 with `tls=`, 465 for `smtps://`.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Url {
            url: super::url::mask_password(url),
            reason,
        };
        let parsed = ::url::Url::parse(url).map_err(|e| {
            bad(format!(
                "{e}; expected smtp://[user:pass@]host[:port][?tls=required|opportunistic] or smtps://host[:port]"
            ))
        })?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host; expected smtp://host:port".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut tls_param = None;
        let mut config = SmtpConfig::new(host, 0);
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "tls" => tls_param = Some(value.into_owned()),
                "timeout" => config.timeout = seconds(&key, &value).map_err(bad)?,
                "pool" => config.max_connections = count(&key, &value).map_err(bad)?,
                "ca" => {
                    let pem = std::fs::read(&*value)
                        .map_err(|e| bad(format!("ca={value}: cannot read the file: {e}")))?;
                    config.root_certificates.push(pem);
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?}; expected tls, timeout, pool or ca"
                    )));
                }
            }
        }
        let (tls, default_port) = match (parsed.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (Tls::None, 25),
            ("smtp", Some("required")) => (Tls::Required, 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic, 587),
            ("smtps", None) => (Tls::Implicit, 465),
            ("smtp", Some(other)) => {
                return Err(bad(format!(
                    "tls={other} is not known; expected tls=required or tls=opportunistic"
                )));
            }
            ("smtps", Some(_)) => {
                return Err(bad("smtps:// is always TLS; drop the tls= parameter".into()));
            }
            (scheme, _) => {
                return Err(bad(format!("scheme {scheme:?} is not smtp or smtps")));
            }
        };
        config.tls = tls;
        config.port = parsed.port().unwrap_or(default_port);
        if parsed.path().len() > 1 {
            config.hello_name = Some(parsed.path().trim_matches('/').to_owned());
        }
        if let Some(password) = parsed.password() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| bad("user or password is not valid UTF-8 once decoded".into()))
            };
            config.credentials = Some((decode(parsed.username())?, decode(password)?));
        }
        Ok(config)
    }

    /// How to secure the connection.
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }
    /// Log in with AUTH PLAIN or LOGIN.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }
    /// The name sent with EHLO (default `localhost`).
    pub fn hello_name(mut self, name: impl Into<String>) -> Self {
        self.hello_name = Some(name.into());
        self
    }
    /// The longest any one step may take: connect, greeting, each command, the content.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// The most connections open at once (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }
    /// How long an unused connection is kept for reuse.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }
    /// Trusts this PEM certificate as a root, besides the web PKI roots.
    pub fn add_root_certificate(mut self, pem: Vec<u8>) -> Self {
        self.root_certificates.push(pem);
        self
    }
    /// Accepts any certificate. Only for tests against a throwaway server.
    pub fn dangerous_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

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

struct Pool {
    config: SmtpConfig,
    server: String,
    tls: Option<TlsParameters>,
    hello: ClientId,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

struct Connection {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
    idle_since: Instant,
}

impl SmtpMailer {
    /// A mailer for `config`. Fails only when the TLS settings are unusable (a root
    /// certificate that does not parse); no connection is made until mail is sent.
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpError> {
        let server = config.server();
        let tls = match config.tls {
            Tls::None => None,
            _ => Some(tls_parameters(&config, &server)?),
        };
        let hello = match &config.hello_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::Domain("localhost".into()),
        };
        Ok(SmtpMailer {
            inner: Arc::new(Pool {
                permits: Semaphore::new(config.max_connections),
                config,
                server,
                tls,
                hello,
                idle: Mutex::new(Vec::new()),
            }),
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
        let idle = std::mem::take(&mut *self.inner.lock_idle());
        for mut conn in idle {
            let _ = tokio::time::timeout(self.inner.config.timeout, conn.smtp.quit()).await;
        }
    }
}

fn tls_parameters(config: &SmtpConfig, server: &str) -> Result<TlsParameters, SmtpError> {
    let unusable = |reason: String| SmtpError::Unsupported {
        server: server.to_owned(),
        reason,
    };
    let mut builder = TlsParameters::builder(config.host.clone())
        .dangerous_accept_invalid_certs(config.accept_invalid_certs);
    for pem in &config.root_certificates {
        let cert = Certificate::from_pem(pem)
            .map_err(|e| unusable(format!("a root certificate does not parse: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| unusable(format!("TLS settings are unusable: {e}")))
}

impl Pool {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        lock(&self.idle)
    }

    /// Runs one step under the step timeout, mapping lettre's error.
    async fn step<T>(
        &self,
        step: Step,
        fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, SmtpError> {
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.map_error(step, &e)),
            Err(_) => Err(SmtpError::Timeout {
                server: self.server.clone(),
                step,
                after: self.config.timeout,
            }),
        }
    }

    fn map_error(&self, step: Step, e: &lettre::transport::smtp::Error) -> SmtpError {
        let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
        let detail = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        match code {
            Some(code) => SmtpError::Reply {
                server: self.server.clone(),
                step,
                code,
                message: detail,
            },
            None => SmtpError::Connection {
                server: self.server.clone(),
                step,
                reason: e.to_string(),
            },
        }
    }

    async fn connect(&self) -> Result<Connection, SmtpError> {
        let timeout = self.config.timeout;
        let tcp = match tokio::time::timeout(
            timeout,
            TcpStream::connect((self.config.host.as_str(), self.config.port)),
        )
        .await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err(SmtpError::Connection {
                    server: self.server.clone(),
                    step: Step::Connect,
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                return Err(SmtpError::Timeout {
                    server: self.server.clone(),
                    step: Step::Connect,
                    after: timeout,
                });
            }
        };
        // Without this, Nagle's algorithm and delayed ACKs hold every command back by
        // tens of milliseconds.
        tcp.set_nodelay(true).map_err(|e| SmtpError::Connection {
            server: self.server.clone(),
            step: Step::Connect,
            reason: format!("cannot set TCP_NODELAY: {e}"),
        })?;

        let stream: Box<dyn AsyncTokioStream> = match (&self.config.tls, &self.tls) {
            (Tls::Implicit, Some(params)) => {
                let tls = ImplicitTls::handshake(tcp, params.clone());
                Box::new(self.step(Step::TlsHandshake, tls).await?)
            }
            _ => Box::new(tcp),
        };
        let mut smtp = self
            .step(
                Step::Greeting,
                AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
            )
            .await?;

        if let (Tls::Required | Tls::Opportunistic, Some(params)) = (&self.config.tls, &self.tls) {
            if smtp.can_starttls() {
                self.step(Step::StartTls, smtp.starttls(params.clone(), &self.hello))
                    .await?;
            } else if self.config.tls == Tls::Required {
                return Err(SmtpError::Unsupported {
                    server: self.server.clone(),
                    reason: "tls=required, but the server does not offer STARTTLS".into(),
                });
            }
        }
        // lettre keeps only the EHLO keywords it knows, and PIPELINING is not one of
        // them: ask again and read the reply ourselves.
        let ehlo = self
            .step(Step::Greeting, smtp.command(Ehlo::new(self.hello.clone())))
            .await?;
        let pipelining = ehlo
            .message()
            .any(|line| line.trim().eq_ignore_ascii_case("PIPELINING"));
        if let Some((user, password)) = &self.config.credentials {
            let credentials = Credentials::new(user.clone(), password.clone());
            let mechanisms = [Mechanism::Plain, Mechanism::Login];
            let has_mechanism = smtp.server_info().get_auth_mechanism(&mechanisms).is_some();
            if !has_mechanism {
                return Err(SmtpError::Unsupported {
                    server: self.server.clone(),
                    reason: "credentials were given, but the server offers no AUTH PLAIN or LOGIN (some servers offer AUTH only after STARTTLS)".into(),
                });
            }
            self.step(Step::Auth, smtp.auth(&mechanisms, &credentials))
                .await?;
        }
        tracing::debug!(server = %self.server, pipelining, "SMTP connection ready");
        Ok(Connection {
            smtp,
            pipelining,
            idle_since: Instant::now(),
        })
    }

    /// An idle connection that still answers RSET, or a new one.
    async fn checkout(&self) -> Result<Connection, SmtpError> {
        loop {
            let candidate = self.lock_idle().pop();
            let Some(mut conn) = candidate else { break };
            if conn.idle_since.elapsed() > self.config.idle_timeout || conn.smtp.has_broken() {
                continue;
            }
            if self.step(Step::Rset, conn.smtp.command(Rset)).await.is_ok() {
                return Ok(conn);
            }
        }
        self.connect().await
    }

    fn put_back(&self, mut conn: Connection) {
        if conn.smtp.has_broken() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.lock_idle();
        if idle.len() < self.config.max_connections {
            idle.push(conn);
        }
    }

    /// One mail transaction. `Ok` carries the recipients that were refused.
    ///
    /// When the server offers PIPELINING (RFC 2920), `MAIL FROM`, every `RCPT TO` and
    /// `DATA` go out in one write and their replies are read together: two round trips
    /// per message instead of four.
    async fn transact(
        &self,
        conn: &mut Connection,
        message: &RenderedEmail,
    ) -> Result<Vec<Rejection>, Error> {
        let pipelining = conn.pipelining;
        let smtp = &mut conn.smtp;
        let mut parameters = Vec::new();
        let non_ascii_address =
            !message.from.is_ascii() || message.recipients.iter().any(|r| !r.is_ascii());
        if non_ascii_address {
            if !smtp.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(SmtpError::Unsupported {
                    server: self.server.clone(),
                    reason: "the message has non-ASCII addresses, but the server does not offer SMTPUTF8".into(),
                }
                .into());
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !message.bytes.is_ascii() && smtp.server_info().supports_feature(Extension::EightBitMime)
        {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let mail = Mail::new(Some(parse_address(&message.from)?), parameters);
        let rcpts = message
            .recipients
            .iter()
            .map(|r| Ok(Rcpt::new(parse_address(r)?, Vec::new())))
            .collect::<Result<Vec<_>, Error>>()?;

        let mut rejected = Vec::new();
        if pipelining {
            let mut group = mail.to_string();
            for rcpt in &rcpts {
                group.push_str(&rcpt.to_string());
            }
            group.push_str(&Data.to_string());
            // The first reply comes back through `command`, the others are read in turn,
            // even after a refusal, so the connection stays in step.
            let mail_reply = self.step(Step::MailFrom, smtp.command(group)).await;
            if let Err(e) = &mail_reply
                && !e.keeps_connection()
            {
                return Err(e.clone().into());
            }
            for recipient in &message.recipients {
                match self.step(Step::RcptTo, smtp.read_response()).await {
                    Ok(_) => {}
                    Err(error) if error.keeps_connection() => rejected.push(Rejection {
                        recipient: recipient.clone(),
                        error,
                    }),
                    Err(error) => return Err(error.into()),
                }
            }
            let data_reply = self.step(Step::Data, smtp.read_response()).await;
            if rejected.len() == message.recipients.len() {
                if data_reply.is_ok() {
                    // The server took DATA with no recipient and now waits for content:
                    // this connection cannot be brought back in step, so close it.
                    smtp.abort().await;
                }
                mail_reply?;
                return Err(all_refused(rejected));
            }
            mail_reply?;
            data_reply?;
        } else {
            self.step(Step::MailFrom, smtp.command(mail)).await?;
            for (recipient, rcpt) in message.recipients.iter().zip(rcpts) {
                match self.step(Step::RcptTo, smtp.command(rcpt)).await {
                    Ok(_) => {}
                    Err(error) if error.keeps_connection() => rejected.push(Rejection {
                        recipient: recipient.clone(),
                        error,
                    }),
                    Err(error) => return Err(error.into()),
                }
            }
            if rejected.len() == message.recipients.len() {
                return Err(all_refused(rejected));
            }
            self.step(Step::Data, smtp.command(Data)).await?;
        }
        self.step(Step::Content, smtp.message(&message.bytes))
            .await?;
        Ok(rejected)
    }

    /// Takes messages from `next` until none are left, on one connection.
    async fn worker(
        self: Arc<Self>,
        messages: Arc<Vec<(usize, RenderedEmail)>>,
        next: Arc<AtomicUsize>,
    ) -> Vec<(usize, Outcome)> {
        let mut out = Vec::new();
        let Ok(_permit) = self.permits.acquire().await else {
            return out;
        };
        let mut conn: Option<Connection> = None;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((index, message)) = messages.get(i) else {
                break;
            };
            let mut current = match conn.take() {
                Some(c) => c,
                None => match self.checkout().await {
                    Ok(c) => c,
                    Err(e) => {
                        // The server cannot be used now: every message this worker would
                        // have taken fails the same way, without a connection attempt each.
                        tracing::warn!(server = %self.server, error = %e, "SMTP server unusable");
                        out.push((*index, Outcome::Failed(e.clone().into())));
                        while let Some((index, _)) =
                            messages.get(next.fetch_add(1, Ordering::Relaxed))
                        {
                            out.push((*index, Outcome::Failed(e.clone().into())));
                        }
                        break;
                    }
                },
            };
            match self.transact(&mut current, message).await {
                Ok(rejected) => {
                    out.push((
                        *index,
                        Outcome::Sent {
                            message_id: message.message_id.clone(),
                            rejected,
                        },
                    ));
                    conn = Some(current);
                }
                Err(error) => {
                    let reusable = match &error {
                        Error::Smtp(e) => e.keeps_connection(),
                        Error::Rejected { .. } => true,
                        _ => false,
                    };
                    if reusable
                        && self
                            .step(Step::Rset, current.smtp.command(Rset))
                            .await
                            .is_ok()
                    {
                        conn = Some(current);
                    }
                    tracing::debug!(server = %self.server, %error, "message not sent");
                    out.push((*index, Outcome::Failed(error)));
                }
            }
        }
        if let Some(c) = conn {
            self.put_back(c);
        }
        out
    }
}

/// The error for a message whose every recipient was refused: the one reply when there
/// was one recipient, else each reply listed.
fn all_refused(rejected: Vec<Rejection>) -> Error {
    match <[Rejection; 1]>::try_from(rejected) {
        Ok([only]) => only.error.into(),
        Err(all) => Error::Rejected { rejected: all },
    }
}

fn parse_address(address: &str) -> Result<Address, Error> {
    Address::from_str(address).map_err(|e| {
        Error::Email(super::EmailError::BadAddress {
            field: "envelope",
            value: address.to_owned(),
            reason: e.to_string(),
        })
    })
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(messages.len());
        let mut to_send = Vec::with_capacity(messages.len());
        for (index, email) in messages.iter().enumerate() {
            match email.render() {
                Ok(rendered) => {
                    outcomes.push(None);
                    to_send.push((index, rendered));
                }
                Err(e) => outcomes.push(Some(Outcome::Failed(e.into()))),
            }
        }
        self.send_all(to_send, outcomes).await
    }
}

#[async_trait]
impl Transport for SmtpMailer {
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error> {
        let to_send = messages.iter().cloned().enumerate().collect();
        let outcomes = messages.iter().map(|_| None).collect();
        self.send_all(to_send, outcomes).await
    }
}

impl SmtpMailer {
    /// Sends `to_send` (each with its index in the report) over up to `max_connections`
    /// connections and fills in `outcomes`.
    async fn send_all(
        &self,
        to_send: Vec<(usize, RenderedEmail)>,
        mut outcomes: Vec<Option<Outcome>>,
    ) -> Result<SendReport, Error> {
        let workers = self.inner.config.max_connections.min(to_send.len());
        let to_send = Arc::new(to_send);
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            tasks.spawn(self.inner.clone().worker(to_send.clone(), next.clone()));
        }
        while let Some(joined) = tasks.join_next().await {
            let results = joined.map_err(|e| {
                Error::Io(io::Error::other(format!("an SMTP worker task failed: {e}")))
            })?;
            for (index, outcome) in results {
                outcomes[index] = Some(outcome);
            }
        }
        let mut outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Outcome::Failed(Error::Io(io::Error::other("the message was not attempted")))
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

/// A TLS stream made by lettre, given to lettre's connection as a plain stream so that
/// our own socket (with `TCP_NODELAY`) can carry implicit TLS. lettre offers no other
/// public way to do this.
#[allow(deprecated)]
type NetworkStream = lettre::transport::smtp::client::AsyncNetworkStream;

struct ImplicitTls(NetworkStream);

impl ImplicitTls {
    async fn handshake(
        tcp: TcpStream,
        params: TlsParameters,
    ) -> Result<ImplicitTls, lettre::transport::smtp::Error> {
        #[allow(deprecated)]
        let mut stream = NetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(params).await?;
        Ok(ImplicitTls(stream))
    }
}

impl fmt::Debug for ImplicitTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ImplicitTls")
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_grammar() {
        let c = SmtpConfig::from_url("smtp://u:p%40ss@mail.example.com?tls=required").unwrap();
        assert_eq!((c.port, c.tls), (587, Tls::Required));
        assert_eq!(c.credentials, Some(("u".into(), "p@ss".into())));
        let c = SmtpConfig::from_url("smtps://mail.example.com").unwrap();
        assert_eq!((c.port, c.tls), (465, Tls::Implicit));
        let c = SmtpConfig::from_url("smtp://localhost:2525/client.example?timeout=2.5&pool=8")
            .unwrap();
        assert_eq!((c.port, c.tls), (2525, Tls::None));
        assert_eq!(c.hello_name.as_deref(), Some("client.example"));
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.max_connections, 8);
        let c = SmtpConfig::from_url("smtp://[::1]:2525").unwrap();
        assert_eq!(c.server(), "[::1]:2525");
    }

    #[test]
    fn bad_urls_are_quoted_with_the_password_masked() {
        for (url, expect) in [
            (
                "smtp://u:hunter2@host?tls=always",
                "tls=always is not known",
            ),
            (
                "smtps://u:hunter2@host?tls=required",
                "drop the tls= parameter",
            ),
            ("smtp://u:hunter2@host?pool=0", "pool=0"),
            (
                "smtp://u:hunter2@host?color=red",
                "unknown parameter \"color\"",
            ),
            (
                "smtp://u:hunter2@host?ca=/nonexistent/ca.pem",
                "cannot read the file",
            ),
            ("smtp://u:hunter2@:25", "expected smtp://"),
        ] {
            let err = SmtpConfig::from_url(url).unwrap_err().to_string();
            assert!(err.contains(expect), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: password leaked: {err}");
            assert!(err.contains("***"), "{url}: {err}");
        }
    }

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
    }
}
