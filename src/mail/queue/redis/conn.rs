//! The connection to one server or a cluster, and the retry engine every command runs
//! through: a timeout on each attempt, and backoff while Redis restarts.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, RetryMethod, ScriptInvocation, Value,
};

use super::Inner;
use crate::mail::QueueError;

/// A connection to one server or to a cluster; cheap to clone (multiplexed).
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// What a connection is for: commands (bounded by `timeout=`), or blocking reads that
/// the caller bounds itself.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Commands,
    BlockingReads,
}

/// How long a command may keep retrying.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Patience {
    /// A web handler waits: retry only while the whole call stays within `timeout=`.
    Caller,
    /// A drainer: retry each attempt within `timeout=`, for up to `reconnect=`.
    Drainer,
}

/// One command, pipeline or script, to run once or with retries.
#[derive(Clone, Copy)]
pub(super) enum Run<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
    Script(&'a ScriptInvocation<'a>),
}

/// True when trying again (after a reconnect) may help.
fn retryable(e: &RedisError) -> bool {
    e.is_timeout()
        || e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.code(),
            Some("LOADING" | "TRYAGAIN" | "CLUSTERDOWN" | "MASTERDOWN")
        )
        || !matches!(e.retry_method(), RetryMethod::NoRetry)
}

fn timed_out(what: impl std::fmt::Display) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        what.to_string(),
    ))
}

impl Inner {
    /// A [`QueueError::Redis`] for `op`, keeping the client's error as its source.
    pub(super) fn error(&self, op: &'static str, source: RedisError) -> QueueError {
        QueueError::Redis {
            server: self.config.server.clone(),
            op,
            source: Box::new(source),
        }
    }

    pub(super) async fn connect(&self, purpose: Purpose) -> Result<Conn, RedisError> {
        let c = &self.config;
        if c.cluster {
            let response_timeout = match purpose {
                Purpose::Commands => c.timeout,
                Purpose::BlockingReads => Duration::from_secs(24 * 3600),
            };
            let client = redis::cluster::ClusterClientBuilder::new(c.nodes.clone())
                .connection_timeout(c.timeout)
                .response_timeout(response_timeout)
                .build()?;
            let conn = tokio::time::timeout(c.timeout, client.get_async_connection())
                .await
                .map_err(|_| timed_out("connecting to the cluster timed out"))??;
            Ok(Conn::Cluster(conn))
        } else {
            let node = c.nodes.first().cloned().unwrap_or_default();
            let client = redis::Client::open(node)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(c.timeout))
                // Blocking reads are bounded by our own timeout around each call.
                .set_response_timeout(match purpose {
                    Purpose::Commands => Some(c.timeout),
                    Purpose::BlockingReads => None,
                })
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_secs(2))
                .set_number_of_retries(usize::MAX);
            Ok(Conn::Single(ConnectionManager::new_lazy_with_config(
                client, config,
            )?))
        }
    }

    async fn conn(&self) -> Result<Conn, RedisError> {
        let conn = self
            .conn
            .get_or_try_init(|| self.connect(Purpose::Commands))
            .await?
            .clone();
        Ok(conn)
    }

    /// Runs one attempt under the command timeout.
    pub(super) async fn once<T: FromRedisValue>(&self, run: Run<'_>) -> Result<T, RedisError> {
        self.once_within(run, self.config.timeout).await
    }

    /// Runs one attempt, giving up after `limit`.
    async fn once_within<T: FromRedisValue>(
        &self,
        run: Run<'_>,
        limit: Duration,
    ) -> Result<T, RedisError> {
        let attempt = async {
            let mut conn = self.conn().await?;
            match run {
                Run::Cmd(cmd) => cmd.query_async::<T>(&mut conn).await,
                Run::Pipe(pipe) => pipe.query_async::<T>(&mut conn).await,
                Run::Script(script) => script.invoke_async::<T>(&mut conn).await,
            }
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(format_args!("no answer within {limit:?}"))),
        }
    }

    /// Runs a command. Transient failures (Redis restarting, a dropped connection, a
    /// timeout) are retried with backoff, as long as `patience` allows.
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        op: &'static str,
        patience: Patience,
        run: Run<'_>,
    ) -> Result<T, QueueError> {
        let started = Instant::now();
        let window = match patience {
            Patience::Drainer => self.config.reconnect,
            Patience::Caller => self.config.timeout,
        };
        let mut delay = Duration::from_millis(50);
        let mut logged = false;
        loop {
            let limit = match patience {
                Patience::Drainer => self.config.timeout,
                Patience::Caller => window.saturating_sub(started.elapsed()),
            };
            match self.once_within::<T>(run, limit).await {
                Ok(v) => {
                    if logged {
                        tracing::info!(server = %self.config.server, "redis is back");
                    }
                    return Ok(v);
                }
                Err(e)
                    if e.code() == Some("NOGROUP")
                        && self.group_ready.load(Ordering::SeqCst)
                        && started.elapsed() < window =>
                {
                    // The stream or the group went away (a Redis without persistence
                    // restarted, or someone deleted the key): make them again.
                    tracing::warn!(stream = %self.keys.stream, "the consumer group is gone; recreating it");
                    self.group_ready.store(false, Ordering::SeqCst);
                    self.ensure_group().await?;
                }
                Err(e) if retryable(&e) && started.elapsed() + delay < window => {
                    if !logged {
                        tracing::warn!(server = %self.config.server, error = %e, op, "redis unavailable; retrying");
                        logged = true;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(self.error(op, e)),
            }
        }
    }

    /// Creates the stream and the consumer group when missing (retrying for up to
    /// `reconnect=`); reads the persistence setting once.
    pub(super) async fn ensure_group(&self) -> Result<(), QueueError> {
        if !self.persistence_checked.swap(true, Ordering::SeqCst) {
            self.check_persistence().await;
        }
        if self.group_ready.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut create = redis::cmd("XGROUP");
        create
            .arg("CREATE")
            .arg(&self.keys.stream)
            .arg(super::GROUP)
            .arg("0")
            .arg("MKSTREAM");
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            match self.once::<()>(Run::Cmd(&create)).await {
                Ok(()) => break,
                Err(e) if e.code() == Some("BUSYGROUP") => break,
                Err(e) if retryable(&e) && started.elapsed() < self.config.reconnect => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(self.error("create the consumer group (XGROUP)", e)),
            }
        }
        self.group_ready.store(true, Ordering::SeqCst);
        Ok(())
    }
}
