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
