//! Launchers for the real peers that the integration tests talk to.
#![allow(dead_code)]

use std::path::PathBuf;

/// The Python that has the test peers (aiosmtpd, tornado) installed: `SQUALL_TEST_PYTHON`
/// as `tests/run.sh` sets it, else the virtualenv it makes, else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SQUALL_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

pub mod aiosmtpd;
#[cfg(all(feature = "assets", feature = "cli"))]
pub mod assets;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(all(feature = "mail", feature = "cli"))]
pub mod drain_cases;
pub mod scripted_smtp;

/// Message `i` of a numbered test batch: to `user<i>@example.com`, subject `message <i>`.
#[cfg(feature = "mail")]
pub fn numbered_email(i: usize) -> squall::mail::Email {
    squall::mail::Email::builder()
        .from("site@example.com")
        .to(format!("user{i}@example.com"))
        .subject(format!("message {i}"))
        .text(format!("body {i}"))
        .build()
        .unwrap()
}

/// Claims the two messages of `queue`, defers one an hour ahead and returns the other,
/// still claimed (in flight under this process, a live drainer).
#[cfg(feature = "mail")]
pub fn defer_one_and_hold_one(
    rt: &tokio::runtime::Runtime,
    queue: &dyn squall::mail::Queue,
) -> squall::mail::Claimed {
    let mut claims = rt.block_on(queue.claim(2)).unwrap().claims;
    assert_eq!(claims.len(), 2);
    let held = claims.pop().unwrap();
    let deferred = claims.pop().unwrap();
    let mut message = deferred.message.clone();
    message.next_attempt_unix_ms += 3_600_000;
    rt.block_on(queue.defer(deferred, message)).unwrap();
    held
}

/// Polls `done` until it holds; fails the test, naming `what`, after two minutes.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// What an idle watching drainer relies on, with its safety-net poll an hour away: a wait
/// that begins after mail arrived (between the drainer's empty claim and its wait) returns
/// at once, and a wait with deferred mail ends when that mail falls due. Each wait is
/// bounded by a minute, as a failure, never as a measure of speed.
#[cfg(feature = "mail")]
pub fn idle_waits_wake_for_new_and_due_mail(
    rt: &tokio::runtime::Runtime,
    queue: &dyn squall::mail::Queue,
) {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    // Twice: a spool's first wait starts watching, which the second does not.
    for i in 0..2 {
        assert!(rt.block_on(queue.claim(10)).unwrap().claims.is_empty());
        let rendered = numbered_email(i).render().unwrap();
        let queued = squall::mail::QueuedMessage::new(&rendered);
        rt.block_on(queue.enqueue(&queued)).unwrap();
        wait_or_fail(rt, queue, "mail enqueued after an empty claim");
        let claim = rt.block_on(queue.claim(10)).unwrap().claims.pop();
        rt.block_on(queue.ack(claim.expect("the mail that woke the wait")))
            .unwrap();
    }
    let rendered = numbered_email(2).render().unwrap();
    let queued = squall::mail::QueuedMessage::new(&rendered);
    rt.block_on(queue.enqueue(&queued)).unwrap();
    let claim = rt.block_on(queue.claim(10)).unwrap().claims.pop().unwrap();

    let mut message = claim.message.clone();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    message.next_attempt_unix_ms = now + 2_000;
    rt.block_on(queue.defer(claim, message)).unwrap();
    let again = claim_after_waits(rt, queue, "deferred mail falling due");
    assert_eq!(again.message.attempts, 0);
    rt.block_on(queue.ack(again)).unwrap();

    /// Waits as an idle drainer does, its poll an hour away; fails after a minute.
    fn wait_or_fail(rt: &tokio::runtime::Runtime, queue: &dyn squall::mail::Queue, what: &str) {
        let hour = Duration::from_secs(3600);
        let waited = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), queue.wait_for_mail(hour)).await
        });
        assert!(
            waited.is_ok(),
            "{what}: the wait did not end (only the poll would end it)"
        );
    }

    /// Claims and waits, as an idle drainer does, until a claim takes a message.
    fn claim_after_waits(
        rt: &tokio::runtime::Runtime,
        queue: &dyn squall::mail::Queue,
        what: &str,
    ) -> squall::mail::Claimed {
        for _ in 0..1000 {
            if let Some(claim) = rt.block_on(queue.claim(10)).unwrap().claims.pop() {
                return claim;
            }
            wait_or_fail(rt, queue, what);
        }
        panic!("{what}: a thousand wake-ups and still nothing to claim");
    }
}
