//! The [`Drainer`]: takes due messages from a [`Queue`], sends them through a
//! [`Transport`], and acks, defers (exponential backoff with full jitter) or dead-letters
//! each one. This is the body of the `spool-drain` program; see [`Drainer`] for an example.

use std::pin::pin;
use std::time::{Duration, Instant};

use super::queue::{ClaimBatch, Claimed, Queue, QueueError, QueuedMessage, RetryPolicy};
use super::{Error, Transport, queue_from_url};

mod report;
mod settle;

pub use report::{DrainReport, RefusedRecipient};

/// Why a drain stopped before it was done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DrainError {
    /// The queue failed (a file or Redis operation).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The transport could not be used at all (a dry run's console could not be written).
    #[error(transparent)]
    Transport(Error),
}

impl DrainError {
    /// The process exit status for this error: 75 ("try again later") when the queue
    /// failed, 1 when the transport did.
    pub fn exit_code(&self) -> u8 {
        match self {
            DrainError::Queue(_) => 75,
            DrainError::Transport(_) => 1,
        }
    }
}

/// How a [`Drainer`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DrainOptions {
    /// Stop after handling this many messages.
    pub max: Option<u64>,
    /// Sizes the batches: a drainer claims `32 × concurrency` messages at a time, and
    /// claims the next batch while it sends one. It opens no connections itself; the
    /// transport caps those (`spool-drain` gives it the same number).
    pub concurrency: usize,
    /// When to retry and when to give up.
    pub policy: RetryPolicy,
    /// Keep running and wait for new mail when the queue is empty.
    pub watch: bool,
    /// The safety net of an idle `watch`: it wakes as soon as new mail arrives (inotify
    /// on a spool's `new/`, a blocking read on Redis) or deferred mail falls due, and
    /// looks again at least this often anyway (for the claims of a dead drainer, say).
    pub poll_interval: Duration,
    /// Redis queues: how long a claim may go unrenewed before another drainer takes it
    /// over. [`open_queue`](Self::open_queue) gives it to the queue as its URL's `lease=`.
    pub lease: Option<Duration>,
    /// Take the queue-wide lock first ([`Queue::try_lock_single`]); when another run holds
    /// it, do nothing and report [`DrainReport::locked_out`]. For cron jobs that may
    /// overlap.
    pub single: bool,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            max: None,
            concurrency: 4,
            policy: RetryPolicy::default(),
            watch: false,
            poll_interval: Duration::from_secs(5),
            lease: None,
            single: false,
        }
    }
}

impl DrainOptions {
    /// Sets `max`.
    pub fn max(mut self, max: Option<u64>) -> Self {
        self.max = max;
        self
    }
    /// Sets `concurrency` (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Sets the retry policy.
    pub fn policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }
    /// Sets `watch`.
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }
    /// Sets `poll_interval` (at least 1 ms).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(1));
        self
    }
    /// Sets `lease`.
    pub fn lease(mut self, lease: Option<Duration>) -> Self {
        self.lease = lease;
        self
    }
    /// Sets `single`.
    pub fn single(mut self, single: bool) -> Self {
        self.single = single;
        self
    }

    /// Opens the queue `url` names (see [`queue_from_url`]) for this drain: a Redis queue
    /// gets [`lease`](Self::lease), overriding the URL's own `lease=`; a spool has no lease.
    pub fn open_queue(&self, url: &str) -> Result<Box<dyn Queue>, Error> {
        #[cfg(feature = "redis")]
        if let Some(lease) = self.lease
            && url.starts_with("redis:")
        {
            let config = super::RedisConfig::from_url(url)?.lease(lease);
            return Ok(Box::new(super::RedisQueue::new(config)?));
        }
        queue_from_url(url)
    }
}

type ProgressFn<'a> = Box<dyn FnMut(&DrainReport) + Send + 'a>;

/// Drains a queue into a transport.
///
/// ```
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use squall::mail::{ConsoleMailer, DrainOptions, Drainer, Email, Mailer, Spool};
///
/// let dir = tempfile::tempdir()?;
/// let spool = Spool::open(dir.path())?;
/// let email = Email::builder().from("site@example.com").to("peter@example.com").build()?;
/// spool.send(&email).await?;
///
/// let console = ConsoleMailer::to_writer(Vec::new());
/// let report = Drainer::new(&spool, &console, DrainOptions::default())
///     .run(std::future::pending())
///     .await?;
/// assert_eq!(report.sent, 1);
/// assert_eq!(report.exit_code(), 0);
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
pub struct Drainer<'a> {
    queue: &'a dyn Queue,
    transport: &'a dyn Transport,
    options: DrainOptions,
    progress: Option<ProgressFn<'a>>,
}

impl<'a> Drainer<'a> {
    /// A drainer of `queue` into `transport`.
    pub fn new(queue: &'a dyn Queue, transport: &'a dyn Transport, options: DrainOptions) -> Self {
        Drainer {
            queue,
            transport,
            options,
            progress: None,
        }
    }

    /// Calls `f` with the running totals after each batch.
    pub fn on_progress(mut self, f: impl FnMut(&DrainReport) + Send + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Hands the due messages (at most `max`) to the transport without claiming or
    /// changing anything in the queue, and returns how many: `spool-drain --dry-run`,
    /// with the console as the transport.
    pub async fn dry_run(self) -> Result<u64, DrainError> {
        let max = self
            .options
            .max
            .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        let messages = self.queue.peek(max).await?;
        let rendered: Vec<_> = messages.iter().map(QueuedMessage::to_rendered).collect();
        self.transport
            .send_rendered(&rendered)
            .await
            .map_err(DrainError::Transport)?;
        Ok(rendered.len() as u64)
    }

    /// Drains until the queue has nothing due (or, with `watch`, until `shutdown`
    /// completes). A batch in flight when `shutdown` completes is finished; nothing more
    /// is claimed after it, and claims taken ahead are given back, also when the run
    /// stops on an error.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<DrainReport, DrainError> {
        let started = Instant::now();
        let mut report = DrainReport {
            watch: self.options.watch,
            ..DrainReport::default()
        };
        let _lock = if self.options.single {
            match self.queue.try_lock_single().await? {
                Some(lock) => Some(lock),
                None => {
                    report.locked_out = true;
                    return Ok(report);
                }
            }
        } else {
            None
        };
        let mut shutdown = pin!(shutdown);
        let batch = self.options.concurrency.max(1) * 32;
        // Claimed, not yet handled: the next batch is claimed while this one is sent.
        let mut claimed = 0u64;
        let mut next: Vec<Claimed> = Vec::new();
        let mut outage = Outage::default();
        loop {
            if shutdown_requested(shutdown.as_mut()).await {
                break;
            }
            let claims = if next.is_empty() {
                let want = self.room(claimed, batch);
                if want == 0 {
                    break;
                }
                let got = self.queue.claim(want).await?;
                take_batch(got, &mut claimed, &mut report)
            } else {
                std::mem::take(&mut next)
            };
            if claims.is_empty() {
                if !self.options.watch {
                    break;
                }
                tracing::debug!("nothing due; waiting for mail");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = self.queue.wait_for_mail(self.options.poll_interval) => continue,
                }
            }
            failpoint("after-claim").await;
            let want_next = self.room(claimed, batch);
            let (stop, prefetched) = tokio::join!(self.send_batch(claims, &mut report), async {
                if want_next == 0 {
                    return Ok(ClaimBatch::default());
                }
                self.queue.claim(want_next).await
            });
            next = take_batch(prefetched?, &mut claimed, &mut report);
            let stop = match stop {
                Ok(stop) => stop,
                Err(error) => {
                    // Claimed ahead and never sent: give them back before giving up.
                    if let Err(e) = self.release_all(next, &mut report).await {
                        tracing::warn!(error = %e, "cannot give back the claims taken ahead");
                    }
                    return Err(error);
                }
            };
            report.elapsed_ms = started.elapsed().as_millis() as u64;
            if let Some(progress) = &mut self.progress {
                progress(&report);
            }
            if !stop {
                outage.end(&mut report);
                continue;
            }
            if !self.options.watch {
                break;
            }
            // A watching drainer rides out an outage: what it claimed ahead goes back,
            // and it tries again after a bounded backoff, or stops on shutdown.
            let given_back = report.released;
            self.release_all(std::mem::take(&mut next), &mut report)
                .await?;
            claimed = claimed.saturating_sub(report.released - given_back);
            tokio::select! {
                () = &mut shutdown => break,
                () = outage.wait(&report) => {}
            }
        }
        // Claimed ahead but not sent (shutdown, or the server went away): give them back.
        self.release_all(next, &mut report).await?;
        if !self.options.watch {
            let status = self.queue.status().await?;
            report.left = status.queued + status.deferred + status.in_flight;
        }
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// How many more messages may be claimed, at most one batch.
    fn room(&self, claimed: u64, batch: usize) -> usize {
        match self.options.max {
            Some(max) => batch.min(max.saturating_sub(claimed) as usize),
            None => batch,
        }
    }

    /// Gives claims back unchanged, due at once (no attempt spent). Tries every claim;
    /// returns the first error.
    async fn release_all(
        &self,
        claims: Vec<Claimed>,
        report: &mut DrainReport,
    ) -> Result<(), QueueError> {
        let mut first_error = None;
        for claim in claims {
            match self.queue.release(claim).await {
                Ok(()) => report.released += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A watching drainer's backoff while the mail server cannot be used: 1 s, doubling up
/// to 30 s.
#[derive(Default)]
struct Outage {
    /// Failed tries in a row.
    tries: u32,
}

impl Outage {
    const FIRST: Duration = Duration::from_secs(1);
    const CAP: Duration = Duration::from_secs(30);

    /// Logs the outage and waits before the next try.
    async fn wait(&mut self, report: &DrainReport) {
        let delay = Self::FIRST
            .saturating_mul(1 << self.tries.min(16))
            .min(Self::CAP);
        self.tries += 1;
        let why = report.unreachable.as_deref().unwrap_or("unknown");
        tracing::warn!(
            tries = self.tries,
            error = why,
            "mail server unreachable; trying again in {} s",
            delay.as_secs()
        );
        tokio::time::sleep(delay).await;
    }

    /// A batch went through: the outage, if any, is over.
    fn end(&mut self, report: &mut DrainReport) {
        if self.tries > 0 {
            tracing::info!(tries = self.tries, "mail server reachable again");
            self.tries = 0;
            report.unreachable = None;
        }
    }
}

/// Polls `shutdown` once without waiting.
async fn shutdown_requested(shutdown: std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        biased;
        () = shutdown => true,
        () = std::future::ready(()) => false,
    }
}

/// Counts a claimed batch into the report and the running total; returns its claims.
fn take_batch(batch: ClaimBatch, claimed: &mut u64, report: &mut DrainReport) -> Vec<Claimed> {
    report.quarantined += batch.quarantined;
    *claimed += batch.claims.len() as u64;
    batch.claims
}

/// For crash tests (feature `failpoints`): when `SQUALL_FAILPOINT` (read once per
/// process) names this point, say so on stderr and stop here for good, without blocking
/// a runtime thread, so that a test can `kill -9` the process at exactly this place.
#[cfg(feature = "failpoints")]
async fn failpoint(name: &str) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let point = POINT.get_or_init(|| std::env::var("SQUALL_FAILPOINT").ok());
    if point.as_deref() == Some(name) {
        eprintln!("failpoint {name} reached");
        std::future::pending::<()>().await;
    }
}

/// Without the `failpoints` feature, failpoints cost nothing.
#[cfg(not(feature = "failpoints"))]
async fn failpoint(_name: &str) {}
