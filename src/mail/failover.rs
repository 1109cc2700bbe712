//! [`Failover`]: several transports behind one, tried in order (`failover(...)`) or in turn
//! (`roundrobin(...)`), so that one server down does not stop the mail.
//!
//! A message moves on to the next transport only when it was certainly not accepted: the
//! server could not be used (connect, TLS, greeting, AUTH), it answered 421 (closing the
//! channel), or the connection failed before the content was sent. Any other outcome is the
//! message's own (sent, refused, deferred), so a message is never sent by two transports. A
//! transport that failed is skipped for a cool-down (60 s by default), then tried again.
//!
//! ```
//! # async fn demo() -> Result<(), squall::mail::Error> {
//! use std::time::Duration;
//! use squall::mail::{ConsoleMailer, Email, Failover, Mailer, Transport};
//!
//! // By URL: `failover(smtp://mx1.example.com smtp://mx2.example.com)?cooldown=30s`.
//! let first: Box<dyn Transport> = Box::new(ConsoleMailer::to_writer(Vec::new()));
//! let second: Box<dyn Transport> = Box::new(ConsoleMailer::to_writer(Vec::new()));
//! let mailer = Failover::in_order(vec![first, second]).cooldown(Duration::from_secs(30));
//! let email = Email::builder().from("site@example.com").to("peter@example.com").build()?;
//! mailer.send(&email).await?;
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::mailer::render_batch;
use super::random::random_u64;
use super::smtp::{SmtpError, Step};
use super::{Email, Error, Mailer, Outcome, OutcomeSink, RenderedEmail, SendReport, Transport};
use crate::sync::lock;

/// How long a transport that failed is skipped, unless set otherwise.
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(60);

/// Several transports used as one: in order, each one a fallback for those before it
/// ([`in_order`](Self::in_order), the URL form `failover(a b)`), or in turn, starting at
/// a random one ([`round_robin`](Self::round_robin), `roundrobin(a b)`).
///
/// Clones share the transports and what is known of their health. With `n` transports,
/// each message is tried at most `n` times, once on each; the messages of one batch are
/// sent through several transports at once when round-robin spreads them.
#[derive(Clone)]
pub struct Failover {
    inner: Arc<Shared>,
}

struct Shared {
    members: Vec<Member>,
    round_robin: bool,
    cooldown: Duration,
    /// Round-robin: where the next message starts.
    next: AtomicUsize,
}

struct Member {
    transport: Box<dyn Transport>,
    /// How logs name it: its URL (password masked), or its position.
    name: String,
    /// Skipped until then, after a failure.
    down_until: Mutex<Option<Instant>>,
}

impl Member {
    fn cooling(&self, now: Instant) -> Option<Instant> {
        (*lock(&self.down_until)).filter(|until| *until > now)
    }
}

impl fmt::Debug for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.members.iter().map(|m| m.name.as_str()).collect();
        f.debug_struct("Failover")
            .field("transports", &names)
            .field("round_robin", &self.inner.round_robin)
            .field("cooldown", &self.inner.cooldown)
            .finish()
    }
}

impl Failover {
    /// Tries `transports` in order: the first that is not cooling down takes each message.
    /// With no transports at all, every send fails.
    pub fn in_order(transports: Vec<Box<dyn Transport>>) -> Self {
        Self::build(transports, false)
    }

    /// Takes `transports` in turn, one message each, starting at a random one; a message
    /// whose transport fails moves on to the next.
    pub fn round_robin(transports: Vec<Box<dyn Transport>>) -> Self {
        Self::build(transports, true)
    }

    fn build(transports: Vec<Box<dyn Transport>>, round_robin: bool) -> Self {
        let n = transports.len().max(1);
        let members = transports
            .into_iter()
            .enumerate()
            .map(|(i, transport)| Member {
                transport,
                name: format!("transport {}", i + 1),
                down_until: Mutex::new(None),
            })
            .collect();
        Failover {
            inner: Arc::new(Shared {
                members,
                round_robin,
                cooldown: DEFAULT_COOLDOWN,
                next: AtomicUsize::new((random_u64() % n as u64) as usize),
            }),
        }
    }

    /// How long a transport that failed is skipped (default 60 s). When every transport
    /// left is cooling down, the one that recovers first is tried anyway.
    #[must_use]
    pub fn cooldown(self, cooldown: Duration) -> Self {
        self.map_shared(|shared| shared.cooldown = cooldown)
    }

    /// Names the transports in logs (their URLs, passwords masked), in order.
    pub(crate) fn named(self, names: Vec<String>) -> Self {
        self.map_shared(|shared| {
            for (member, name) in shared.members.iter_mut().zip(names) {
                member.name = name;
            }
        })
    }

    /// Changes the shared settings; only called while building, before any clone.
    fn map_shared(self, change: impl FnOnce(&mut Shared)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut shared) => {
                change(&mut shared);
                Failover {
                    inner: Arc::new(shared),
                }
            }
            // A clone exists: settings stay as they are for every holder.
            Err(inner) => Failover { inner },
        }
    }

    /// Sends `messages` and collects their outcomes, as [`Mailer::send_messages`] and
    /// [`Transport::send_rendered`] report them: `Err` when nothing could be attempted.
    async fn send_all(
        &self,
        messages: Vec<(usize, RenderedEmail)>,
        mut outcomes: Vec<Option<Outcome>>,
    ) -> Result<SendReport, Error> {
        let (index, rendered): (Vec<usize>, Vec<RenderedEmail>) = messages.into_iter().unzip();
        let (sink, mut reported) = OutcomeSink::channel();
        let collect = async {
            while let Some(r) = reported.recv().await {
                let _ = r.recorded.send(());
                if let Some(slot) = index.get(r.index).and_then(|i| outcomes.get_mut(*i)) {
                    *slot = Some(r.outcome);
                }
            }
        };
        let (sent, ()) = tokio::join!(self.inner.run(&rendered, sink), collect);
        let mut unsent = sent.err();
        let mut outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Outcome::Failed(unsent.take().unwrap_or_else(|| {
                        Error::Io(std::io::Error::other("the message was not attempted"))
                    }))
                })
            })
            .collect();
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
impl Mailer for Failover {
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let (rendered, outcomes) = render_batch(messages);
        self.send_all(rendered, outcomes).await
    }
}

#[async_trait]
impl Transport for Failover {
    async fn send_rendered(&self, messages: &[RenderedEmail]) -> Result<SendReport, Error> {
        let to_send = messages.iter().cloned().enumerate().collect();
        let outcomes = messages.iter().map(|_| None).collect();
        self.send_all(to_send, outcomes).await
    }

    /// Each outcome goes to `sink` as soon as the transport that took the message reports
    /// it, and that transport hears that it is recorded once `sink` has recorded it.
    async fn send_each(&self, messages: &[RenderedEmail], sink: OutcomeSink) -> Result<(), Error> {
        self.inner.run(messages, sink).await
    }
}

/// What one transport did with its share of a round.
struct Leg {
    /// Messages (by index in the whole batch) that were certainly not accepted, each with
    /// the failure that says so.
    moved: Vec<(usize, Outcome)>,
    /// Messages it reported nothing for (it gave up), and why.
    unreported: Vec<usize>,
    error: Option<Error>,
}

impl Shared {
    /// Rounds: every message still to send goes to its next transport; those the
    /// transport certainly did not accept come back for the next round.
    async fn run(&self, messages: &[RenderedEmail], sink: OutcomeSink) -> Result<(), Error> {
        let n = self.members.len();
        if n == 0 {
            return Err(Error::Io(std::io::Error::other(
                "a failover without any transport cannot send",
            )));
        }
        let start: Vec<usize> = if self.round_robin {
            let base = self.next.fetch_add(messages.len(), Ordering::Relaxed);
            (0..messages.len()).map(|i| (base + i) % n).collect()
        } else {
            vec![0; messages.len()]
        };
        let mut tried = vec![vec![false; n]; messages.len()];
        // The failure a message last moved on from, reported when no transport is left.
        let mut last: Vec<Option<Outcome>> = messages.iter().map(|_| None).collect();
        let mut last_error = None;
        // Whether some message ran out of transports without any outcome to report.
        let mut silent = false;
        let mut pending: Vec<usize> = (0..messages.len()).collect();
        while !pending.is_empty() && !sink.is_closed() {
            let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n];
            let mut left = Vec::new();
            for m in pending {
                match self.choose(start[m], &tried[m]) {
                    Some(k) => {
                        tried[m][k] = true;
                        groups[k].push(m);
                    }
                    None => left.push(m),
                }
            }
            for m in left {
                match last[m].take() {
                    Some(outcome) => drop(sink.report(m, outcome)),
                    None => silent = true,
                }
            }
            let legs = groups
                .into_iter()
                .enumerate()
                .filter(|(_, group)| !group.is_empty())
                .map(|(k, group)| self.leg(k, messages, group, &sink));
            let legs: Vec<(usize, Leg)> = futures_util::future::join_all(legs).await;
            pending = Vec::new();
            for (k, leg) in legs {
                let member = &self.members[k];
                let failed = !leg.moved.is_empty() || !leg.unreported.is_empty();
                if failed {
                    let why = match (&leg.error, leg.moved.first()) {
                        (Some(e), _) => e.to_string(),
                        (None, Some((_, Outcome::Failed(e)))) => e.to_string(),
                        _ => String::new(),
                    };
                    tracing::warn!(transport = %member.name, error = %why, cooldown = ?self.cooldown, "transport failed; its messages move on to the next");
                    *lock(&member.down_until) = Some(Instant::now() + self.cooldown);
                }
                for (m, outcome) in leg.moved {
                    last[m] = Some(outcome);
                    pending.push(m);
                }
                pending.extend(leg.unreported);
                if leg.error.is_some() {
                    last_error = leg.error;
                }
            }
            pending.sort_unstable();
        }
        // Messages without an outcome (no transport reported one) were not sent.
        match last_error {
            Some(error) if silent => Err(error),
            None if silent => Err(Error::Io(std::io::Error::other(
                "no transport reported on some messages",
            ))),
            _ => Ok(()),
        }
    }

    /// The transport message `start`'s turn picks next: the first not yet tried that is
    /// not cooling down, else the one that recovers first.
    fn choose(&self, start: usize, tried: &[bool]) -> Option<usize> {
        let n = self.members.len();
        let now = Instant::now();
        let order = (0..n).map(|i| (start + i) % n).filter(|&k| !tried[k]);
        let ready = order
            .clone()
            .find(|&k| self.members[k].cooling(now).is_none());
        ready.or_else(|| order.min_by_key(|&k| self.members[k].cooling(now)))
    }

    /// Sends `group` (indices into `messages`) through transport `k`, passing on to
    /// `sink` every outcome but those that move on, and relaying back when each is
    /// recorded.
    async fn leg(
        &self,
        k: usize,
        messages: &[RenderedEmail],
        group: Vec<usize>,
        sink: &OutcomeSink,
    ) -> (usize, Leg) {
        let items: Vec<RenderedEmail> = group.iter().map(|&m| messages[m].clone()).collect();
        let (inner, mut reported) = OutcomeSink::channel();
        let send = self.members[k].transport.send_each(&items, inner);
        let relay = async {
            let mut seen = vec![false; group.len()];
            let mut moved = Vec::new();
            let mut waiting = FuturesUnordered::new();
            let mut open = true;
            loop {
                tokio::select! {
                    got = reported.recv(), if open => {
                        let Some(r) = got else {
                            open = false;
                            continue;
                        };
                        let fresh = seen.get_mut(r.index).map(|s| !std::mem::replace(s, true));
                        let (Some(true), Some(&m)) = (fresh, group.get(r.index)) else {
                            tracing::error!(index = r.index, "a bug in a transport: an outcome for no message, or a second one");
                            let _ = r.recorded.send(());
                            continue;
                        };
                        if moves_on(&r.outcome) {
                            moved.push((m, r.outcome));
                            let _ = r.recorded.send(());
                        } else {
                            let recorded = sink.report(m, r.outcome);
                            let done = r.recorded;
                            waiting.push(async move {
                                if recorded.wait().await {
                                    let _ = done.send(());
                                }
                            });
                        }
                    }
                    Some(()) = waiting.next(), if !waiting.is_empty() => {}
                    else => break,
                }
            }
            (seen, moved)
        };
        let (sent, (seen, moved)) = tokio::join!(send, relay);
        let unreported = group
            .iter()
            .zip(&seen)
            .filter(|(_, seen)| !**seen)
            .map(|(&m, _)| m)
            .collect();
        let leg = Leg {
            moved,
            unreported,
            error: sent.err(),
        };
        (k, leg)
    }
}

/// True when `outcome` says for certain that the server did not take the message, so that
/// another transport may send it without it arriving twice.
fn moves_on(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Failed(Error::Smtp(e)) if not_accepted(e))
}

/// The server could not be used, closed the channel (421), or the connection failed
/// before any of the content was sent.
fn not_accepted(e: &SmtpError) -> bool {
    if e.is_setup() || e.code() == Some(421) {
        return true;
    }
    let before_content = matches!(e.step(), Some(Step::MailFrom | Step::RcptTo | Step::Data));
    before_content && matches!(e, SmtpError::Timeout { .. } | SmtpError::Connection { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(step: Step, code: u16) -> SmtpError {
        SmtpError::Reply {
            server: "s:25".into(),
            step,
            code,
            message: "m".into(),
        }
    }

    #[test]
    fn only_failures_that_took_nothing_move_on() {
        assert!(not_accepted(&reply(Step::Greeting, 554)));
        assert!(not_accepted(&reply(Step::Auth, 535)));
        assert!(not_accepted(&reply(Step::MailFrom, 421)));
        assert!(not_accepted(&reply(Step::Content, 421)));
        let reset = SmtpError::Connection {
            server: "s:25".into(),
            step: Step::RcptTo,
            source: Arc::new(std::io::Error::other("reset")),
        };
        assert!(not_accepted(&reset));
        // The server judged the message itself: its own outcome, never another server's.
        assert!(!not_accepted(&reply(Step::RcptTo, 450)));
        assert!(!not_accepted(&reply(Step::Content, 554)));
        // The content went out and no verdict came back: it may have been taken.
        let lost = SmtpError::Timeout {
            server: "s:25".into(),
            step: Step::Content,
            after: Duration::from_secs(1),
        };
        assert!(!not_accepted(&lost));
    }
}
