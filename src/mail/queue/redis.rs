//! The Redis queue: the scale-out path of the mail queue, where every web process enqueues
//! to Redis and any number of `spool-drain --queue redis://…` processes drain it.
//!
//! ```text
//! {NAME}:stream    queued and claimed messages (a stream; one consumer group of drainers)
//! {NAME}:deferred  messages waiting for a later attempt (a sorted set, score = due ms)
//! {NAME}:dead      the dead-letter stream: the record, the error, the time
//! {NAME}:single    the `spool-drain --single` lock
//! ```
//!
//! Enqueue is one `XADD` of the same record the disk spool writes (see
//! [`encode_record`]); a batch is pipelined. A drainer claims
//! with `XREADGROUP` as a consumer named after its process; a sent message is removed with
//! `XACK`+`XDEL` in one `MULTI`; a deferred, failed or released one is moved by a Lua
//! script that first checks that the claim is still held (so a late settle after a
//! takeover never makes a copy). A drainer keeps its claims alive while it holds them
//! (`XCLAIM … JUSTID` every third of the lease); the claims of a drainer that died are
//! taken over with `XAUTOCLAIM` once they have been idle for the lease (`lease=`, default
//! 60 s). An entry delivered more than `max_deliveries=` times (default 5) without an ack
//! has killed its drainers: it goes to the dead-letter stream, as does an entry that does
//! not decode. All keys share the hash tag `{NAME}`, so the queue runs on Redis Cluster.
//!
//! `spool-drain --single` takes a `SET NX PX` lock on `{NAME}:single` (a random token,
//! the lease as its expiry) that a task renews every third of the lease while the guard
//! lives; dropping the guard deletes it, and a killed run's lock expires after the lease.
//! (Redis has no lock that dies with its holder's process, so expiry plus renewal stands
//! in for the spool's `flock`.)
//!
//! URL: `redis://[user:pass@]host:port[/db]?queue=NAME&timeout=SECS&lease=SECS`; several
//! hosts (`redis://h1:7000,h2:7001/?queue=app`) or `cluster=true` use Redis Cluster.
//! Every command has a timeout (`timeout=`, default 5 s); the drainer's commands retry
//! with backoff for up to `reconnect=` seconds (default 60) while Redis restarts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::mail::{Email, Mailer, Queue, RedisQueue};
//!
//! let queue = RedisQueue::from_url("redis://127.0.0.1:6379/0?queue=app&timeout=2")?;
//! let email = Email::builder().from("site@example.com").to("peter@example.com").build()?;
//! queue.send(&email).await?; // one XADD
//! println!("{:?}", queue.status().await?);
//! # Ok(())
//! # }
//! ```

use crate::mail::url::{count, query_pairs, seconds};
use crate::sync::lock;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, RetryMethod, Value};
use tokio::sync::OnceCell;

use super::{
    ClaimBatch, Claimed, Queue, QueueError, QueueStatus, QueuedMessage, SingleRunGuard, random_u64,
    unix_ms,
};
use crate::mail::record::{decode_record, encode_record};
use crate::mail::{Email, Error, Mailer, Outcome, SendReport};

/// The consumer group every drainer of a queue joins.
const GROUP: &str = "squall-drainers";
/// The stream field that holds the record.
const FIELD: &str = "r";

/// Moves due deferred messages back to the stream, atomically.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, r in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'r', r)
  redis.call('ZREM', KEYS[2], r)
end
return #due
";

/// Settles a claim unless it was settled already: acks and deletes the entry, then puts
/// the record where `ARGV[3]` says (`defer`: the sorted set; `dead`: the dead-letter
/// stream with the error; `release`: back to the stream).
const SETTLE: &str = r"
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] == 'defer' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
elseif ARGV[3] == 'dead' then
  redis.call('XADD', KEYS[2], '*', 'r', ARGV[4], 'error', ARGV[5], 'id', ARGV[6], 'time', ARGV[7])
else
  redis.call('XADD', KEYS[2], '*', 'r', ARGV[4])
end
return 1
";

/// Moves one dead-letter entry back to the stream unless another run moved it already.
const REVIVE: &str = r"
if redis.call('XDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', 'r', ARGV[2])
return 1
";

/// Extends the `--single` lock when this run still holds it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// Deletes the `--single` lock when this run still holds it.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// What a `redis://` URL says.
#[derive(Debug, Clone)]
struct Settings {
    /// `host:port[,host:port…]`, for messages (no password).
    server: String,
    /// One connection URL per node, for the client.
    nodes: Vec<String>,
    cluster: bool,
    stream: String,
    deferred: String,
    dead: String,
    single: String,
    timeout: Duration,
    lease: Duration,
    reconnect: Duration,
    max_deliveries: u64,
}

impl Settings {
    fn parse(url: &str) -> Result<Settings, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or("expected redis://host:port/db?queue=NAME")?;
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let db: i64 = match path.trim_end_matches('/') {
            "" => 0,
            n => n
                .parse()
                .map_err(|_| format!("the database {n:?} is not a number"))?,
        };
        let mut queue = "squall".to_owned();
        let mut cluster = false;
        let mut timeout = Duration::from_secs(5);
        let mut lease = Duration::from_secs(60);
        let mut reconnect = Duration::from_secs(60);
        let mut max_deliveries = 5u64;
        for (key, value) in query_pairs(query) {
            match &*key {
                "queue" | "key" => {
                    if value.is_empty() || value.contains(['{', '}']) {
                        return Err(format!(
                            "queue={value:?}: a queue name is not empty and has no braces"
                        ));
                    }
                    queue = value.into_owned();
                }
                "cluster" => {
                    cluster = match &*value {
                        "true" | "yes" | "1" => true,
                        "false" | "no" | "0" => false,
                        _ => return Err(format!("cluster={value:?}: expected true or false")),
                    }
                }
                "timeout" => timeout = seconds(&key, &value)?,
                "lease" => lease = seconds(&key, &value)?,
                "reconnect" => reconnect = seconds(&key, &value)?,
                "max_deliveries" => max_deliveries = count(&key, &value)?,
                _ => {
                    return Err(format!(
                        "unknown parameter {key:?}; expected queue, timeout, lease, reconnect, \
                         max_deliveries or cluster"
                    ));
                }
            }
        }
        let hosts: Vec<&str> = hosts.split(',').filter(|h| !h.is_empty()).collect();
        if hosts.is_empty() {
            return Err("no host; expected redis://host:port/db?queue=NAME".into());
        }
        cluster |= hosts.len() > 1;
        if cluster && db != 0 {
            return Err("Redis Cluster has only database 0".into());
        }
        let auth = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let nodes = hosts
            .iter()
            .map(|h| {
                let has_port = match h.rfind(']') {
                    Some(i) => h[i..].contains(':'),
                    None => h.contains(':'),
                };
                let h = if has_port {
                    (*h).to_owned()
                } else {
                    format!("{h}:6379")
                };
                format!("redis://{auth}{h}/{db}")
            })
            .collect();
        let tag = format!("{{{queue}}}");
        Ok(Settings {
            server: hosts.join(","),
            nodes,
            cluster,
            stream: format!("{tag}:stream"),
            deferred: format!("{tag}:deferred"),
            dead: format!("{tag}:dead"),
            single: format!("{tag}:single"),
            timeout,
            lease,
            reconnect,
            max_deliveries,
        })
    }
}

/// A connection to one server or to a cluster; cheap to clone (multiplexed).
#[derive(Clone)]
enum Conn {
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

/// A mail queue in Redis streams. Cheap to clone; clones share connections and the
/// drainer identity. See the [module docs](self).
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("server", &self.inner.settings.server)
            .field("stream", &self.inner.settings.stream)
            .field("consumer", &self.inner.consumer)
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: Settings,
    /// Commands (multiplexed).
    conn: OnceCell<Conn>,
    /// Blocking reads only ([`Queue::wait_for_mail`]), so they never hold up commands.
    blocking: OnceCell<Conn>,
    /// This process's consumer name in the group.
    consumer: String,
    group_ready: AtomicBool,
    persistence_checked: AtomicBool,
    warnings: Mutex<Vec<String>>,
    /// Entry ids this process has claimed and not settled: kept alive by the heartbeat.
    in_flight: Mutex<HashSet<String>>,
    heartbeat_started: AtomicBool,
    last_takeover: Mutex<Option<Instant>>,
    last_promote: Mutex<Option<Instant>>,
    autoclaim_cursor: Mutex<String>,
}

impl RedisQueue {
    /// Opens the queue a URL names (see the [module docs](self)); connects on first use,
    /// so this never blocks and works outside an async runtime.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let settings = Settings::parse(url).map_err(|reason| Error::Url {
            url: crate::mail::url::mask_password(url),
            reason,
        })?;
        let consumer = format!("{}-{:08x}", std::process::id(), random_u64() as u32);
        Ok(RedisQueue {
            inner: Arc::new(Inner {
                settings,
                conn: OnceCell::new(),
                blocking: OnceCell::new(),
                consumer,
                group_ready: AtomicBool::new(false),
                persistence_checked: AtomicBool::new(false),
                warnings: Mutex::new(Vec::new()),
                in_flight: Mutex::new(HashSet::new()),
                heartbeat_started: AtomicBool::new(false),
                last_takeover: Mutex::new(None),
                last_promote: Mutex::new(None),
                autoclaim_cursor: Mutex::new("0-0".into()),
            }),
        })
    }

    /// The stream key, `{NAME}:stream`.
    pub fn stream_key(&self) -> &str {
        &self.inner.settings.stream
    }

    /// The dead-letter stream key, `{NAME}:dead`.
    pub fn dead_key(&self) -> &str {
        &self.inner.settings.dead
    }

    /// The sorted set of deferred messages, `{NAME}:deferred`.
    pub fn deferred_key(&self) -> &str {
        &self.inner.settings.deferred
    }

    /// This process's consumer name in the drainers' group.
    pub fn consumer(&self) -> &str {
        &self.inner.consumer
    }

    /// Enqueues several messages in one pipelined round trip.
    pub async fn enqueue_batch(&self, messages: &[QueuedMessage]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for message in messages {
            pipe.cmd("XADD")
                .arg(&self.inner.settings.stream)
                .arg("*")
                .arg(FIELD)
                .arg(encode_record(message)?)
                .ignore();
        }
        self.inner.pipe::<()>("enqueue (XADD)", false, &pipe).await
    }
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

fn bytes_of(value: Option<&Value>) -> Option<&[u8]> {
    match value {
        Some(Value::BulkString(b)) => Some(b),
        Some(Value::SimpleString(s)) => Some(s.as_bytes()),
        _ => None,
    }
}

/// Collects every text in a reply (INFO answers as one string, or one per node).
fn texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => out.push(s.clone()),
        Value::Array(items) | Value::Set(items) => items.iter().for_each(|v| texts(v, out)),
        Value::Map(pairs) => pairs.iter().for_each(|(_, v)| texts(v, out)),
        _ => {}
    }
}

impl Inner {
    fn error(&self, what: &str, reason: impl std::fmt::Display) -> QueueError {
        QueueError::Redis {
            server: self.settings.server.clone(),
            reason: format!("{what}: {reason}"),
        }
    }

    async fn connect(&self, blocking: bool) -> Result<Conn, RedisError> {
        let s = &self.settings;
        if s.cluster {
            let mut builder = redis::cluster::ClusterClientBuilder::new(s.nodes.clone())
                .connection_timeout(s.timeout);
            builder = if blocking {
                builder.response_timeout(Duration::from_secs(24 * 3600))
            } else {
                builder.response_timeout(s.timeout)
            };
            let client = builder.build()?;
            let conn = tokio::time::timeout(s.timeout, client.get_async_connection())
                .await
                .map_err(|_| {
                    RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connecting to the cluster timed out",
                    ))
                })??;
            Ok(Conn::Cluster(conn))
        } else {
            let node = s.nodes.first().cloned().unwrap_or_default();
            let client = redis::Client::open(node)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(s.timeout))
                // Blocking reads are bounded by our own timeout around each call.
                .set_response_timeout(if blocking { None } else { Some(s.timeout) })
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
            .get_or_try_init(|| self.connect(false))
            .await?
            .clone();
        Ok(conn)
    }

    /// Runs one attempt of `cmd` under the command timeout.
    async fn once<T: FromRedisValue>(&self, run: Run<'_>) -> Result<T, RedisError> {
        self.once_within(run, self.settings.timeout).await
    }

    /// Runs one attempt of `cmd`, giving up after `limit`.
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
            }
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {limit:?}"),
            ))),
        }
    }

    /// Runs a command. Transient failures (Redis restarting, a dropped connection, a
    /// timeout) are retried with backoff: for a drainer (`drainer`), for up to
    /// `reconnect=`; for anything else (enqueue, status, peek), only while the whole call
    /// stays within `timeout=`, so that a web handler gets its answer in time.
    async fn run<T: FromRedisValue>(
        &self,
        what: &str,
        drainer: bool,
        run: Run<'_>,
    ) -> Result<T, QueueError> {
        let started = Instant::now();
        let window = if drainer {
            self.settings.reconnect
        } else {
            self.settings.timeout
        };
        let mut delay = Duration::from_millis(50);
        let mut logged = false;
        loop {
            let limit = if drainer {
                self.settings.timeout
            } else {
                window.saturating_sub(started.elapsed())
            };
            match self.once_within::<T>(run, limit).await {
                Ok(v) => {
                    if logged {
                        tracing::info!(server = %self.settings.server, "redis is back");
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
                    tracing::warn!(stream = %self.settings.stream, "the consumer group is gone; recreating it");
                    self.group_ready.store(false, Ordering::SeqCst);
                    self.ensure_group().await?;
                }
                Err(e) if retryable(&e) && started.elapsed() + delay < window => {
                    if !logged {
                        tracing::warn!(server = %self.settings.server, error = %e, what, "redis unavailable; retrying");
                        logged = true;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(self.error(what, e)),
            }
        }
    }

    async fn cmd<T: FromRedisValue>(
        &self,
        what: &str,
        drainer: bool,
        cmd: &Cmd,
    ) -> Result<T, QueueError> {
        self.run(what, drainer, Run::Cmd(cmd)).await
    }

    async fn pipe<T: FromRedisValue>(
        &self,
        what: &str,
        drainer: bool,
        pipe: &Pipeline,
    ) -> Result<T, QueueError> {
        self.run(what, drainer, Run::Pipe(pipe)).await
    }

    /// Creates the stream and the consumer group when missing; reads the persistence
    /// setting once and warns when AOF is off.
    async fn ensure_group(&self) -> Result<(), QueueError> {
        if !self.persistence_checked.swap(true, Ordering::SeqCst) {
            self.check_persistence().await;
        }
        if self.group_ready.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut create = redis::cmd("XGROUP");
        create
            .arg("CREATE")
            .arg(&self.settings.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            match self.once::<()>(Run::Cmd(&create)).await {
                Ok(()) => break,
                Err(e) if e.code() == Some("BUSYGROUP") => break,
                Err(e) if retryable(&e) && started.elapsed() < self.settings.reconnect => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(self.error("create the consumer group (XGROUP)", e)),
            }
        }
        self.group_ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn check_persistence(&self) {
        let mut info = redis::cmd("INFO");
        info.arg("persistence");
        let value: Value = match self.once(Run::Cmd(&info)).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the persistence setting");
                self.persistence_checked.store(false, Ordering::SeqCst);
                return;
            }
        };
        let mut all = Vec::new();
        texts(&value, &mut all);
        if all.iter().any(|t| t.contains("aof_enabled:0")) {
            let warning = format!(
                "redis {}: AOF persistence is off (appendonly no): a Redis crash can lose queued mail",
                self.settings.server
            );
            tracing::warn!("{warning}");
            let mut w = lock(&self.warnings);
            if !w.contains(&warning) {
                w.push(warning);
            }
        }
    }

    fn hold(&self, ids: impl IntoIterator<Item = String>) {
        let mut set = lock(&self.in_flight);
        set.extend(ids);
    }

    fn drop_hold(&self, id: &str) {
        let mut set = lock(&self.in_flight);
        set.remove(id);
    }

    /// Every third of the lease, resets the idle time of this process's claims so that
    /// no other drainer takes them over while this one lives.
    fn start_heartbeat(self: &Arc<Self>) {
        if self.heartbeat_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(self);
        let every = (self.settings.lease / 3).max(Duration::from_millis(100));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let ids: Vec<String> = lock(&inner.in_flight).iter().cloned().collect();
                for chunk in ids.chunks(500) {
                    let mut cmd = redis::cmd("XCLAIM");
                    cmd.arg(&inner.settings.stream)
                        .arg(GROUP)
                        .arg(&inner.consumer)
                        .arg(0)
                        .arg(chunk)
                        .arg("JUSTID");
                    if let Err(e) = inner.once::<Value>(Run::Cmd(&cmd)).await {
                        tracing::debug!(error = %e, "could not renew the claims");
                    }
                }
            }
        });
    }

    /// Decodes claimed entries; undecodable ones go to the dead-letter stream.
    async fn decode_entries(
        &self,
        entries: Vec<StreamId>,
        claims: &mut Vec<Claimed>,
        quarantined: &mut u64,
    ) -> Result<(), QueueError> {
        for entry in entries {
            let raw = bytes_of(entry.map.get(FIELD));
            match raw.map(decode_record) {
                Some(Ok(message)) => claims.push(Claimed::entry(message, entry.id)),
                Some(Err(reason)) => {
                    let raw = raw.unwrap_or_default().to_vec();
                    self.quarantine(&entry.id, &raw, &format!("unreadable record: {reason}"))
                        .await?;
                    *quarantined += 1;
                }
                None => {
                    self.quarantine(&entry.id, &[], "unreadable record: no field \"r\"")
                        .await?;
                    *quarantined += 1;
                }
            }
        }
        Ok(())
    }

    async fn quarantine(&self, entry: &str, raw: &[u8], reason: &str) -> Result<(), QueueError> {
        tracing::warn!(stream = %self.settings.stream, entry, reason, "moved an entry to the dead-letter stream");
        self.settle("dead", entry, raw, reason, "").await?;
        self.drop_hold(entry);
        Ok(())
    }

    /// Runs [`SETTLE`]; false when the claim was already settled (by this drainer on a
    /// retried call, or by another that took it over).
    async fn settle(
        &self,
        mode: &str,
        entry: &str,
        record: &[u8],
        extra: &str,
        message_id: &str,
    ) -> Result<bool, QueueError> {
        let s = &self.settings;
        let target = match mode {
            "defer" => &s.deferred,
            "dead" => &s.dead,
            _ => &s.stream,
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SETTLE)
            .arg(2)
            .arg(&s.stream)
            .arg(target)
            .arg(GROUP)
            .arg(entry)
            .arg(mode)
            .arg(record)
            .arg(extra)
            .arg(message_id)
            .arg(unix_ms(SystemTime::now()));
        let done: i64 = self.cmd(mode, true, &cmd).await?;
        if done == 0 {
            tracing::info!(entry, mode, "the claim was settled already (taken over?)");
        }
        Ok(done == 1)
    }

    /// Moves due deferred messages back to the stream (at most every 200 ms).
    async fn promote(&self, max: usize) -> Result<(), QueueError> {
        {
            let mut last = lock(&self.last_promote);
            if last.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PROMOTE)
            .arg(2)
            .arg(&self.settings.stream)
            .arg(&self.settings.deferred)
            .arg(unix_ms(SystemTime::now()))
            .arg(max.max(1));
        let moved: i64 = self.cmd("promote deferred (EVAL)", true, &cmd).await?;
        if moved > 0 {
            tracing::debug!(moved, "deferred messages are due");
        }
        Ok(())
    }

    /// Takes over entries idle for longer than the lease (their drainer died); those
    /// delivered too often go to the dead-letter stream.
    async fn take_over(
        &self,
        max: usize,
        force: bool,
        claims: &mut Vec<Claimed>,
        quarantined: &mut u64,
    ) -> Result<(), QueueError> {
        let every = (self.settings.lease / 2).min(Duration::from_secs(5));
        {
            let mut last = lock(&self.last_takeover);
            if !force && last.is_some_and(|t| t.elapsed() < every) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let cursor = lock(&self.autoclaim_cursor).clone();
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&self.settings.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.settings.lease.as_millis() as u64)
            .arg(&cursor)
            .arg("COUNT")
            .arg(max.max(1));
        let reply: StreamAutoClaimReply = self.cmd("take over (XAUTOCLAIM)", true, &cmd).await?;
        *lock(&self.autoclaim_cursor) = reply.next_stream_id.clone();
        if reply.claimed.is_empty() {
            return Ok(());
        }
        tracing::info!(
            count = reply.claimed.len(),
            "took over the claims of a drainer that stopped answering"
        );
        let ids: Vec<String> = reply.claimed.iter().map(|e| e.id.clone()).collect();
        self.hold(ids.iter().cloned());
        // The delivery counts, to find the entries that keep killing their drainers.
        let (first, last) = (ids.first(), ids.last());
        let mut pending = redis::cmd("XPENDING");
        pending
            .arg(&self.settings.stream)
            .arg(GROUP)
            .arg(first)
            .arg(last)
            .arg(ids.len().max(1) * 4 + 100)
            .arg(&self.consumer);
        let counts: StreamPendingCountReply = self
            .cmd("read delivery counts (XPENDING)", true, &pending)
            .await?;
        let poison: HashSet<&str> = counts
            .ids
            .iter()
            .filter(|p| p.times_delivered as u64 > self.settings.max_deliveries)
            .map(|p| p.id.as_str())
            .collect();
        let mut healthy = Vec::new();
        for entry in reply.claimed {
            if poison.contains(entry.id.as_str()) {
                let raw = bytes_of(entry.map.get(FIELD)).unwrap_or_default().to_vec();
                let reason = format!(
                    "poison: delivered more than {} times without an ack (its drainers died)",
                    self.settings.max_deliveries
                );
                self.quarantine(&entry.id, &raw, &reason).await?;
                *quarantined += 1;
            } else {
                healthy.push(entry);
            }
        }
        self.decode_entries(healthy, claims, quarantined).await
    }
}

/// One command or a pipeline, to run once or with retries.
#[derive(Clone, Copy)]
enum Run<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

#[async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, message: &QueuedMessage) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.inner.settings.stream)
            .arg("*")
            .arg(FIELD)
            .arg(encode_record(message)?);
        self.inner.cmd::<()>("enqueue (XADD)", false, &cmd).await
    }

    async fn claim(&self, max: usize) -> Result<ClaimBatch, QueueError> {
        let quarantined = &mut 0u64;
        let inner = &self.inner;
        inner.ensure_group().await?;
        inner.start_heartbeat();
        inner.promote(max).await?;
        let mut claims = Vec::new();
        inner
            .take_over(max, false, &mut claims, quarantined)
            .await?;
        let want = max.saturating_sub(claims.len());
        if want > 0 {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(GROUP)
                .arg(&inner.consumer)
                .arg("COUNT")
                .arg(want)
                .arg("STREAMS")
                .arg(&inner.settings.stream)
                .arg(">");
            let reply: Option<StreamReadReply> =
                inner.cmd("claim (XREADGROUP)", true, &cmd).await?;
            let entries: Vec<StreamId> = reply
                .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                .unwrap_or_default();
            inner.hold(entries.iter().map(|e| e.id.clone()));
            inner
                .decode_entries(entries, &mut claims, quarantined)
                .await?;
        }
        if claims.is_empty() {
            // Nothing new: is there anything left by a dead drainer?
            inner.take_over(max, true, &mut claims, quarantined).await?;
        }
        Ok(ClaimBatch::new(claims, *quarantined))
    }

    async fn ack(&self, claim: Claimed) -> Result<(), QueueError> {
        self.ack_all(vec![claim]).await
    }

    async fn ack_all(&self, claims: Vec<Claimed>) -> Result<(), QueueError> {
        if claims.is_empty() {
            return Ok(());
        }
        let ids = claims
            .iter()
            .map(Claimed::entry_id)
            .collect::<Result<Vec<&str>, _>>()?;
        let stream = &self.inner.settings.stream;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(stream)
            .arg(GROUP)
            .arg(&ids)
            .cmd("XDEL")
            .arg(stream)
            .arg(&ids);
        let (acked, _deleted): (u64, u64) = self.inner.pipe("ack (XACK+XDEL)", true, &pipe).await?;
        if acked < ids.len() as u64 {
            tracing::info!(
                acked,
                claims = ids.len(),
                "some claims were settled already (taken over after the lease?)"
            );
        }
        for id in ids {
            self.inner.drop_hold(id);
        }
        Ok(())
    }

    async fn defer(&self, claim: Claimed, message: QueuedMessage) -> Result<(), QueueError> {
        let entry = claim.entry_id()?;
        let record = encode_record(&message)?;
        let score = message.next_attempt_unix_ms.to_string();
        self.inner
            .settle("defer", entry, &record, &score, &message.id)
            .await?;
        self.inner.drop_hold(entry);
        Ok(())
    }

    async fn fail(
        &self,
        claim: Claimed,
        message: QueuedMessage,
        error: &str,
    ) -> Result<(), QueueError> {
        let entry = claim.entry_id()?;
        let record = encode_record(&message)?;
        self.inner
            .settle("dead", entry, &record, error, &message.message_id)
            .await?;
        self.inner.drop_hold(entry);
        Ok(())
    }

    async fn release(&self, claim: Claimed) -> Result<(), QueueError> {
        let entry = claim.entry_id()?;
        let record = encode_record(&claim.message)?;
        self.inner.settle("release", entry, &record, "", "").await?;
        self.inner.drop_hold(entry);
        Ok(())
    }

    async fn peek(&self, max: usize) -> Result<Vec<QueuedMessage>, QueueError> {
        let s = &self.inner.settings;
        // Entries the group has not delivered yet start after its last-delivered id.
        let mut groups = redis::cmd("XINFO");
        groups.arg("GROUPS").arg(&s.stream);
        let start = match self
            .inner
            .cmd::<redis::streams::StreamInfoGroupsReply>("peek (XINFO GROUPS)", false, &groups)
            .await
        {
            Ok(reply) => reply
                .groups
                .into_iter()
                .find(|g| g.name == GROUP)
                .map(|g| format!("({}", g.last_delivered_id))
                .unwrap_or_else(|| "-".into()),
            Err(_) => "-".into(), // no stream yet
        };
        let mut out = Vec::new();
        let count = max.min(1_000_000);
        let mut range = redis::cmd("XRANGE");
        range
            .arg(&s.stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(count.max(1));
        let reply: redis::streams::StreamRangeReply =
            self.inner.cmd("peek (XRANGE)", false, &range).await?;
        for entry in reply.ids {
            match bytes_of(entry.map.get(FIELD)).map(decode_record) {
                Some(Ok(m)) => out.push(m),
                _ => tracing::warn!(entry = %entry.id, "unreadable entry (left in place)"),
            }
        }
        let left = max.saturating_sub(out.len());
        if left > 0 {
            let mut due = redis::cmd("ZRANGEBYSCORE");
            due.arg(&s.deferred)
                .arg("-inf")
                .arg(unix_ms(SystemTime::now()))
                .arg("LIMIT")
                .arg(0)
                .arg(left.min(1_000_000));
            let records: Vec<Vec<u8>> = self.inner.cmd("peek (ZRANGEBYSCORE)", false, &due).await?;
            for record in records {
                match decode_record(&record) {
                    Ok(m) => out.push(m),
                    Err(e) => {
                        tracing::warn!(reason = %e, "unreadable deferred record (left in place)")
                    }
                }
            }
        }
        out.truncate(max);
        Ok(out)
    }

    async fn status(&self) -> Result<QueueStatus, QueueError> {
        let inner = &self.inner;
        if !inner.persistence_checked.swap(true, Ordering::SeqCst) {
            inner.check_persistence().await;
        }
        let s = &inner.settings;
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN")
            .arg(&s.stream)
            .cmd("ZCARD")
            .arg(&s.deferred)
            .cmd("XLEN")
            .arg(&s.dead);
        let (len, deferred, failed): (u64, u64, u64) =
            inner.pipe("status (XLEN, ZCARD)", false, &pipe).await?;
        let mut pending = redis::cmd("XPENDING");
        pending.arg(&s.stream).arg(GROUP);
        let in_flight = match inner.once::<Value>(Run::Cmd(&pending)).await {
            Ok(Value::Array(items)) => match items.first() {
                Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            Ok(_) => 0,
            Err(e) if e.code() == Some("NOGROUP") => 0,
            Err(e) => return Err(inner.error("status (XPENDING)", e)),
        };
        Ok(QueueStatus {
            queued: len.saturating_sub(in_flight),
            in_flight,
            deferred,
            failed,
            warnings: lock(&inner.warnings).clone(),
        })
    }

    async fn retry_failed(&self) -> Result<u64, QueueError> {
        let inner = &self.inner;
        let s = &inner.settings;
        let mut moved = 0;
        let mut start = "-".to_owned();
        loop {
            let mut range = redis::cmd("XRANGE");
            range
                .arg(&s.dead)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(100);
            let reply: redis::streams::StreamRangeReply =
                inner.cmd("retry-failed (XRANGE)", true, &range).await?;
            let Some(last) = reply.ids.last() else { break };
            start = format!("({}", last.id);
            for entry in &reply.ids {
                let mut message = match bytes_of(entry.map.get(FIELD)).map(decode_record) {
                    Some(Ok(m)) => m,
                    _ => {
                        tracing::warn!(entry = %entry.id, "left in the dead-letter stream: the record is unreadable");
                        continue;
                    }
                };
                message.attempts = 0;
                message.next_attempt_unix_ms = unix_ms(SystemTime::now());
                message.created_unix_ms = message.next_attempt_unix_ms;
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(REVIVE)
                    .arg(2)
                    .arg(&s.stream)
                    .arg(&s.dead)
                    .arg(&entry.id)
                    .arg(encode_record(&message)?);
                let done: i64 = inner.cmd("retry-failed (EVAL)", true, &cmd).await?;
                moved += u64::try_from(done).unwrap_or(0);
            }
        }
        Ok(moved)
    }

    /// A `SET NX PX` lock on `{NAME}:single` with a random token, renewed every third of
    /// the lease by a task while the guard lives. Dropping the guard stops the renewal and
    /// deletes the lock (best effort); a killed run's lock expires after the lease.
    async fn try_lock_single(&self) -> Result<Option<SingleRunGuard>, QueueError> {
        let inner = &self.inner;
        let token = format!("{}-{:016x}", inner.consumer, random_u64());
        let lease_ms = inner.settings.lease.as_millis() as u64;
        let mut set = redis::cmd("SET");
        set.arg(&inner.settings.single)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms.max(1));
        let got: Option<String> = inner.cmd("lock (SET NX)", true, &set).await?;
        if got.is_none() {
            return Ok(None);
        }
        let weak = Arc::downgrade(inner);
        let every = (inner.settings.lease / 3).max(Duration::from_millis(100));
        let renew_token = token.clone();
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(RENEW)
                    .arg(1)
                    .arg(&inner.settings.single)
                    .arg(&renew_token)
                    .arg(lease_ms.max(1));
                match inner.once::<i64>(Run::Cmd(&cmd)).await {
                    Ok(1) => {}
                    Ok(_) => tracing::warn!("the --single lock was lost (it expired)"),
                    Err(e) => tracing::warn!(error = %e, "could not renew the --single lock"),
                }
            }
        });
        Ok(Some(SingleRunGuard::new(LockGuard {
            inner: inner.clone(),
            token,
            renewal,
        })))
    }

    async fn wait_for_mail(&self, timeout: Duration) {
        let inner = &self.inner;
        let conn = match inner.blocking.get_or_try_init(|| inner.connect(true)).await {
            Ok(c) => c.clone(),
            Err(_) => {
                tokio::time::sleep(timeout).await;
                return;
            }
        };
        let mut conn = conn;
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(timeout.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&inner.settings.stream)
            .arg("$");
        let started = Instant::now();
        let read = tokio::time::timeout(
            timeout + inner.settings.timeout,
            cmd.query_async::<Value>(&mut conn),
        )
        .await;
        if !matches!(read, Ok(Ok(_))) {
            // Redis is away: do not spin.
            tokio::time::sleep(timeout.saturating_sub(started.elapsed())).await;
        }
    }
}

/// Holds the `--single` lock: renews it while alive, deletes it on drop.
struct LockGuard {
    inner: Arc<Inner>,
    token: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        // A plain blocking connection, bounded by the timeout: the async one may belong to
        // a runtime that is shutting down (the end of `spool-drain --single`).
        if let Err(e) = unlock_blocking(&self.inner.settings, &self.token) {
            tracing::debug!(error = %e, "could not delete the --single lock; it expires");
        }
    }
}

fn unlock_blocking(s: &Settings, token: &str) -> Result<(), RedisError> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(UNLOCK).arg(1).arg(&s.single).arg(token);
    if s.cluster {
        let client = redis::cluster::ClusterClientBuilder::new(s.nodes.clone())
            .connection_timeout(s.timeout)
            .response_timeout(s.timeout)
            .build()?;
        cmd.query::<i64>(&mut client.get_connection()?)?;
    } else {
        let client = redis::Client::open(s.nodes.first().cloned().unwrap_or_default())?;
        let mut conn = client.get_connection_with_timeout(s.timeout)?;
        conn.set_read_timeout(Some(s.timeout))?;
        conn.set_write_timeout(Some(s.timeout))?;
        cmd.query::<i64>(&mut conn)?;
    }
    Ok(())
}

#[async_trait]
impl Mailer for RedisQueue {
    /// Renders every message and enqueues them in one pipelined round trip;
    /// `Outcome::Queued` carries the queue id.
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut queued = Vec::with_capacity(messages.len());
        for email in messages {
            match email.render() {
                Ok(rendered) => {
                    let message = QueuedMessage::new(&rendered);
                    outcomes.push(Outcome::Queued {
                        id: message.id.clone(),
                    });
                    queued.push(message);
                }
                Err(e) => outcomes.push(Outcome::Failed(e.into())),
            }
        }
        match queued.as_slice() {
            [one] => self.enqueue(one).await?,
            many => self.enqueue_batch(many).await?,
        }
        Ok(SendReport { outcomes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = Settings::parse("redis://127.0.0.1:6400/2?queue=app&timeout=0.5&lease=1").unwrap();
        assert_eq!(s.stream, "{app}:stream");
        assert_eq!(s.deferred, "{app}:deferred");
        assert_eq!(s.dead, "{app}:dead");
        assert_eq!(s.nodes, ["redis://127.0.0.1:6400/2"]);
        assert_eq!(s.timeout, Duration::from_millis(500));
        assert_eq!(s.lease, Duration::from_secs(1));
        assert!(!s.cluster);

        let s = Settings::parse("redis://u:p@a:7000,b:7001/?queue=q").unwrap();
        assert!(s.cluster);
        assert_eq!(s.server, "a:7000,b:7001");
        assert_eq!(s.nodes, ["redis://u:p@a:7000/0", "redis://u:p@b:7001/0"]);

        let s = Settings::parse("redis://localhost?cluster=true").unwrap();
        assert!(s.cluster);
        assert_eq!(s.nodes, ["redis://localhost:6379/0"]);
        assert_eq!(s.stream, "{squall}:stream");

        for (url, expect) in [
            ("redis://h:1/x", "not a number"),
            ("redis://h:1/0?lease=-1", "positive number"),
            ("redis://h:1/0?bogus=1", "unknown parameter"),
            ("redis://h:1/0?queue=a{b}", "braces"),
            ("redis://a:1,b:2/3", "only database 0"),
            ("redis:///0", "no host"),
        ] {
            let err = Settings::parse(url).unwrap_err();
            assert!(err.contains(expect), "{url}: {err}");
        }
        let err = RedisQueue::from_url("redis://u:secret@h:1/0?x=1")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
