//! Running `spool-drain` as users do, and killing it at a failpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// `spool-drain`, with none of the environment that would change what it does.
pub fn spool_drain() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spool-drain"));
    cmd.env_remove("SQUALL_QUEUE_URL")
        .env_remove("SQUALL_MAIL_URL")
        .env_remove("SQUALL_FAILPOINT");
    cmd
}

/// Runs `cmd` to the end and prints what it said, for a failing test to show.
pub fn run(cmd: &mut Command) -> Output {
    show(cmd.output().unwrap())
}

/// Prints what a finished `spool-drain` said, and passes it on.
fn show(out: Output) -> Output {
    eprintln!(
        "spool-drain exited {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `cmd` with `SQUALL_FAILPOINT=name` and returns once the child says, on stderr,
/// that it has stopped there (ready for `kill9`). Needs the `failpoints` feature, which
/// `--all-features` turns on.
pub fn stop_at(cmd: &mut Command, name: &str) -> Child {
    if !cfg!(feature = "failpoints") {
        panic!("stop_at needs spool-drain built with the failpoints feature");
    }
    let mut child = cmd
        .env("SQUALL_FAILPOINT", name)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let marker = format!("failpoint {name} reached");
    assert!(
        read_until(&mut lines, &marker),
        "spool-drain ended before failpoint {name}"
    );
    child
}

/// Reads `lines` (a child's output) up to the first that contains `marker`; false when
/// the output ended first.
pub fn read_until(lines: &mut impl Iterator<Item = std::io::Result<String>>, marker: &str) -> bool {
    lines
        .map_while(Result::ok)
        .any(|line| line.contains(marker))
}

/// SIGKILL, and reap.
pub fn kill9(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits for `child` to end and returns what it printed; a child still running after two
/// minutes is killed and fails the test (so a hang fails instead of blocking the suite).
pub fn wait_exit(mut child: Child, what: &str) -> Output {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(120) {
            kill9(&mut child);
            panic!("spool-drain still running: {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    show(child.wait_with_output().unwrap())
}

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Defers every message of `queue` ten years ahead (as a drainer would under clock skew),
/// with 2 attempts and a 451 as its last error; returns (queue id, Message-ID) of each.
#[cfg(feature = "mail")]
pub fn defer_all_far_ahead(
    rt: &tokio::runtime::Runtime,
    queue: &dyn squall::mail::Queue,
) -> Vec<(String, String)> {
    let claims = rt.block_on(queue.claim(100)).unwrap().claims;
    let mut ids = Vec::new();
    for claim in claims {
        let mut message = claim.message.clone();
        message.attempts = 2;
        message.last_error = Some("451 4.7.1 greylisted".into());
        message.next_attempt_unix_ms += 10 * 365 * 24 * 3_600_000;
        ids.push((message.id.clone(), message.message_id.clone()));
        rt.block_on(queue.defer(claim, message)).unwrap();
    }
    ids
}

/// Three messages of the queue at `url` deferred ten years ahead: a drain sends none of
/// them; `retry --deferred` forces them out (by queue id, by Message-ID, then the rest),
/// keeping attempts and last error; an unknown `--id` exits 66 naming it; the next drain
/// delivers all three to aiosmtpd.
#[cfg(feature = "mail")]
pub fn retry_deferred_forces_out_mail_dated_in_the_future(
    url: &str,
    queue: &dyn squall::mail::Queue,
    sent_ids: &std::collections::BTreeSet<String>,
) {
    use super::aiosmtpd::{Aiosmtpd, Mode, Options};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids = defer_all_far_ahead(&rt, queue);
    assert_eq!(ids.len(), 3);
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", smtp.port);
    let drain = || run(spool_drain().args(["--queue", url, "--via", &via]));

    let out = drain();
    assert_eq!(out.status.code(), Some(3), "nothing is due");
    assert!(smtp.message_ids().is_empty());

    let retry = |extra: &[&str]| {
        let mut cmd = spool_drain();
        cmd.args(["retry", "--deferred", "--queue", url])
            .args(extra);
        run(&mut cmd)
    };
    let out = retry(&["--id", &ids[0].0]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("moved 1 deferred message"),
        "by queue id"
    );
    let due = rt.block_on(queue.peek(10)).unwrap();
    assert_eq!(due.len(), 1, "only that one is due");
    assert_eq!(due[0].id, ids[0].0);
    assert_eq!(due[0].attempts, 2, "the attempts are kept");
    assert_eq!(due[0].last_error.as_deref(), Some("451 4.7.1 greylisted"));

    let out = retry(&["--id", "no-such-message"]);
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-message"));

    let out = retry(&["--id", &ids[1].1]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("moved 1 "),
        "by Message-ID"
    );
    let out = retry(&["--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "{\"moved\":1}");
    let status = rt.block_on(queue.status()).unwrap();
    assert_eq!((status.queued, status.deferred), (3, 0));

    let out = drain();
    assert_eq!(out.status.code(), Some(0));
    let received: std::collections::BTreeSet<String> = smtp.message_ids().into_iter().collect();
    assert_eq!(&received, sent_ids);
}

/// Exit 3 means mail is left that this run could not send: the queue at `url` holds two
/// messages, one deferred an hour ahead and one claimed by a live drainer (`queue`, this
/// process). A drain sends neither and exits 3, its `--json` report saying 2 are left;
/// once the claim is given back, the next drain sends it and still exits 3 for the
/// deferred one, which `status` counts.
#[cfg(feature = "mail")]
pub fn exit_3_when_mail_is_left(url: &str, queue: &dyn squall::mail::Queue) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // One deferred an hour ahead; one in flight under this (live) drainer.
    let held = super::defer_one_and_hold_one(&rt, queue);

    let drain = |json: bool| {
        let mut cmd = spool_drain();
        cmd.args(["--queue", url, "--via", "console://"]);
        if json {
            cmd.arg("--json");
        }
        run(&mut cmd)
    };
    let out = drain(true);
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["sent"].as_u64(), report["left"].as_u64()),
        (Some(0), Some(2))
    );

    rt.block_on(queue.release(held)).unwrap();
    let out = drain(false);
    assert_eq!(out.status.code(), Some(3), "the deferred one is not due");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("sent 1 ") && summary.contains("left in the queue 1"),
        "{summary}"
    );

    let out = run(spool_drain().args(["status", "--queue", url, "--json"]));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (status["queued"].as_u64(), status["deferred"].as_u64()),
        (Some(0), Some(1))
    );
    let s = rt.block_on(queue.status()).unwrap();
    assert_eq!((s.queued, s.in_flight, s.deferred, s.failed), (0, 0, 1, 0));
}
