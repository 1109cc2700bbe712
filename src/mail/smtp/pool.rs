//! The connection pool behind [`SmtpMailer`](super::SmtpMailer): opening a connection
//! (TCP with `TCP_NODELAY`, implicit TLS or STARTTLS, EHLO, AUTH), keeping idle ones for
//! reuse, and running every step under the step timeout.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Ehlo, Rset};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::config::{SmtpConfig, Tls, tls_parameters};
use super::error::{SmtpError, Step};
use super::tls::ImplicitTls;
use crate::sync::lock;

/// The connections to one server, and the cap on how many are open at once.
pub(super) struct Pool {
    pub(super) config: SmtpConfig,
    /// `host:port`, as errors and logs name the server.
    pub(super) server: String,
    tls: Option<TlsParameters>,
    hello: ClientId,
    idle: Mutex<Vec<Connection>>,
    /// One permit per open connection.
    pub(super) permits: Semaphore,
}

/// An open, greeted and logged-in connection.
pub(super) struct Connection {
    pub(super) smtp: AsyncSmtpConnection,
    /// Whether the server offered PIPELINING (RFC 2920).
    pub(super) pipelining: bool,
    /// Set when the server may still owe a reply, so that the next one read would be
    /// taken for the answer to another command: the connection is closed, not reused.
    pub(super) out_of_step: bool,
    idle_since: Instant,
}

impl Connection {
    /// Whether the connection can carry another command.
    pub(super) fn usable(&self) -> bool {
        !self.out_of_step && !self.smtp.has_broken()
    }
}

/// Setting `TCP_NODELAY` on a new socket failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot set TCP_NODELAY: {0}")]
struct NoDelay(#[source] io::Error);

impl Pool {
    /// A pool for `config`. Fails only when the TLS settings are unusable.
    pub(super) fn new(config: SmtpConfig) -> Result<Pool, SmtpError> {
        let server = config.server();
        let tls = match config.tls {
            Tls::None => None,
            _ => Some(tls_parameters(&config, &server)?),
        };
        let hello = ClientId::Domain(config.hello_name.as_deref().unwrap_or("localhost").into());
        Ok(Pool {
            permits: Semaphore::new(config.max_connections),
            config,
            server,
            tls,
            hello,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        lock(&self.idle)
    }

    /// Runs one step under the step timeout, mapping lettre's error.
    pub(super) async fn step<T>(
        &self,
        step: Step,
        fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, SmtpError> {
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.map_error(step, e)),
            Err(_) => Err(self.timed_out(step)),
        }
    }

    fn timed_out(&self, step: Step) -> SmtpError {
        SmtpError::Timeout {
            server: self.server.clone(),
            step,
            after: self.config.timeout,
        }
    }

    fn connection_error(
        &self,
        step: Step,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> SmtpError {
        SmtpError::Connection {
            server: self.server.clone(),
            step,
            source: Arc::new(source),
        }
    }

    /// A reply from the server becomes [`SmtpError::Reply`]; anything else (I/O, TLS, a
    /// reply that does not parse) is kept as the source of [`SmtpError::Connection`].
    fn map_error(&self, step: Step, e: lettre::transport::smtp::Error) -> SmtpError {
        let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
        match code {
            Some(code) => SmtpError::Reply {
                server: self.server.clone(),
                step,
                code,
                message: std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.to_string()),
            },
            None => self.connection_error(step, e),
        }
    }

    /// Opens a connection, secures it, greets and logs in.
    pub(super) async fn connect(&self) -> Result<Connection, SmtpError> {
        let address = (self.config.host.as_str(), self.config.port);
        let tcp = match tokio::time::timeout(self.config.timeout, TcpStream::connect(address)).await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(self.connection_error(Step::Connect, e)),
            Err(_) => return Err(self.timed_out(Step::Connect)),
        };
        // Without this, Nagle's algorithm and delayed ACKs hold every command back by
        // tens of milliseconds.
        tcp.set_nodelay(true)
            .map_err(|e| self.connection_error(Step::Connect, NoDelay(e)))?;

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
            out_of_step: false,
            idle_since: Instant::now(),
        })
    }

    /// An idle connection that still answers RSET, or a new one.
    pub(super) async fn checkout(&self) -> Result<Connection, SmtpError> {
        loop {
            let candidate = self.lock_idle().pop();
            let Some(mut conn) = candidate else { break };
            if conn.idle_since.elapsed() > self.config.idle_timeout || !conn.usable() {
                continue;
            }
            if self.step(Step::Rset, conn.smtp.command(Rset)).await.is_ok() {
                return Ok(conn);
            }
        }
        self.connect().await
    }

    /// Keeps `conn` for reuse, unless it broke or enough are idle already.
    pub(super) fn put_back(&self, mut conn: Connection) {
        if !conn.usable() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.lock_idle();
        if idle.len() < self.config.max_connections {
            idle.push(conn);
        }
    }

    /// Says QUIT on every idle connection and closes it.
    pub(super) async fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.lock_idle());
        for mut conn in idle {
            let _ = tokio::time::timeout(self.config.timeout, conn.smtp.quit()).await;
        }
    }
}
