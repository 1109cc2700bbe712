//! Mailers, queues and transports by URL: the one place that reads a URL's scheme.

pub(crate) mod grammar;
pub(crate) mod multi;

use grammar::bad_url;

#[cfg(feature = "redis")]
use super::RedisQueue;
use super::mailer::{Error, Mailer, Transport};
use super::queue::Queue;
use super::{ConsoleMailer, Failover, MemoryMailer, SmtpConfig, SmtpMailer, Spool};

/// The backends a URL can name, by scheme: the crate's one scheme dispatch.
enum Scheme {
    Smtp,
    Console,
    Memory,
    Spool,
    Redis,
    /// `failover(...)` or `roundrobin(...)`: several transports as one.
    Multi,
    Unknown,
}

fn scheme(url: &str) -> Scheme {
    if multi::is_multi(url) {
        return Scheme::Multi;
    }
    match url.split_once(':').map(|(s, _)| s).unwrap_or("") {
        "smtp" | "smtps" => Scheme::Smtp,
        "console" => Scheme::Console,
        "memory" => Scheme::Memory,
        "spool" => Scheme::Spool,
        "redis" => Scheme::Redis,
        _ => Scheme::Unknown,
    }
}

/// Makes a mailer from a URL; see the [module docs](crate::mail) for the schemes.
///
/// An unknown scheme, or one whose backend is not built in, is an error that quotes the
/// URL (password masked) and lists what is expected.
///
/// Any mailer URL's query may also carry interception settings, which wrap the mailer in
/// an [`Intercept`](crate::mail::Intercept): `redirect_to=qa@example.com`,
/// `allow_domains=example.com,example.org` with `disallowed=refuse` (the default) or
/// `disallowed=drop`, and `bcc_all=archive@example.com` (both lists comma-separated or
/// repeated). On a queue they apply when a message is queued.
pub fn from_url(url: &str) -> Result<Box<dyn Mailer>, Error> {
    super::intercept::url::wrap_by_url(url, open_mailer)
}

/// The mailer a URL names, without interception.
fn open_mailer(url: &str) -> Result<Box<dyn Mailer>, Error> {
    match scheme(url) {
        Scheme::Smtp => Ok(Box::new(SmtpMailer::new(SmtpConfig::from_url(url)?)?)),
        Scheme::Console => Ok(Box::new(ConsoleMailer::stdout())),
        Scheme::Memory => Ok(Box::new(MemoryMailer::new())),
        Scheme::Spool | Scheme::Redis => Ok(open_queue(url)?.into_mailer()),
        Scheme::Multi => Ok(Box::new(open_multi(url, None)?)),
        Scheme::Unknown => Err(bad_url(
            url,
            "unknown scheme; expected smtp://, smtps://, console://, memory://, spool://, redis://, failover(...) or roundrobin(...)",
        )),
    }
}

/// Makes a [`Transport`] (where a drainer sends queued mail) from a URL: `smtp://`,
/// `smtps://`, `console://`, or several of them as one, `failover(smtp://a smtp://b)` or
/// `roundrobin(smtp://a smtp://b)` (see [`Failover`]). `connections` caps the SMTP
/// connections used at once, per server.
pub fn transport_from_url(url: &str, connections: usize) -> Result<Box<dyn Transport>, Error> {
    super::intercept::url::refuse_settings(url)?;
    open_transport(url, Some(connections))
}

/// A transport by URL; `connections`, when given, overrides an SMTP URL's `pool=`.
fn open_transport(url: &str, connections: Option<usize>) -> Result<Box<dyn Transport>, Error> {
    match scheme(url) {
        Scheme::Smtp => {
            let mut config = SmtpConfig::from_url(url)?;
            if let Some(n) = connections {
                config = config.max_connections(n);
            }
            Ok(Box::new(SmtpMailer::new(config)?))
        }
        Scheme::Console => Ok(Box::new(ConsoleMailer::stdout())),
        Scheme::Multi => Ok(Box::new(open_multi(url, connections)?)),
        _ => Err(bad_url(
            url,
            "queued mail can be sent only through smtp://, smtps://, console://, failover(...) or roundrobin(...)",
        )),
    }
}

/// `failover(...)` or `roundrobin(...)`, each transport in it opened by URL.
fn open_multi(url: &str, connections: Option<usize>) -> Result<Failover, Error> {
    let spec = multi::parse(url)?;
    let mut transports = Vec::with_capacity(spec.members.len());
    for (i, member) in spec.members.iter().enumerate() {
        let transport = open_transport(member, connections)
            .map_err(|e| multi::bad_member(url, i, member, e))?;
        transports.push(transport);
    }
    let failover = match spec.kind {
        multi::Kind::Failover => Failover::in_order(transports),
        multi::Kind::RoundRobin => Failover::round_robin(transports),
    };
    let failover = match spec.cooldown {
        Some(cooldown) => failover.cooldown(cooldown),
        None => failover,
    };
    Ok(failover.named(spec.members.iter().map(|m| multi::mask(m)).collect()))
}

/// Opens the queue a URL names: `spool:///var/spool/app` or `spool:relative/dir`
/// (`?durable=false` to skip fsyncs), or `redis://host:6379/0?queue=app` (feature `redis`).
pub fn queue_from_url(url: &str) -> Result<Box<dyn Queue>, Error> {
    Ok(open_queue(url)?.into_queue())
}

/// A queue opened by URL, still of its own type, so it can become either trait object.
enum OpenedQueue {
    Spool(Spool),
    #[cfg(feature = "redis")]
    Redis(RedisQueue),
}

impl OpenedQueue {
    fn into_mailer(self) -> Box<dyn Mailer> {
        match self {
            OpenedQueue::Spool(spool) => Box::new(spool),
            #[cfg(feature = "redis")]
            OpenedQueue::Redis(redis) => Box::new(redis),
        }
    }

    fn into_queue(self) -> Box<dyn Queue> {
        match self {
            OpenedQueue::Spool(spool) => Box::new(spool),
            #[cfg(feature = "redis")]
            OpenedQueue::Redis(redis) => Box::new(redis),
        }
    }
}

fn open_queue(url: &str) -> Result<OpenedQueue, Error> {
    match scheme(url) {
        Scheme::Spool => Ok(OpenedQueue::Spool(Spool::from_url(url)?)),
        #[cfg(feature = "redis")]
        Scheme::Redis => Ok(OpenedQueue::Redis(RedisQueue::from_url(url)?)),
        #[cfg(not(feature = "redis"))]
        Scheme::Redis => Err(bad_url(
            url,
            "the Redis queue (redis://) is not built in; build squall with the `redis` feature, or use spool:",
        )),
        _ => Err(bad_url(
            url,
            "not a queue; expected spool:///absolute/dir, spool:relative/dir or redis://host:port/db",
        )),
    }
}
