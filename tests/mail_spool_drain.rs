//! `spool-drain` as users run it: real processes on a real spool, killed with SIGKILL at
//! chosen points, several at once, against aiosmtpd and a peer that stalls mid-DATA.
#![cfg(all(feature = "mail", feature = "cli"))]

mod support;

#[cfg(feature = "failpoints")]
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use squall::mail::{Email, Mailer, Queue, QueuedMessage, Spool, SpoolConfig};
use support::aiosmtpd::{Aiosmtpd, Mode, Options};
#[cfg(feature = "failpoints")]
use support::cli::stop_at;
use support::cli::{kill9, read_until, run, sigterm, spool_drain, wait_exit};
use support::numbered_email as email;
use support::scripted_smtp::{Act, Peer, Script};
use support::wait_until;

fn queue_url(dir: &Path) -> String {
    format!("spool://{}", dir.display())
}

/// `spool-drain` on the spool in `dir`, sending to the SMTP server on `port`.
fn to_server(dir: &Path, port: u16) -> Command {
    let mut cmd = spool_drain();
    cmd.args([
        "--queue",
        &queue_url(dir),
        "--via",
        &format!("smtp://127.0.0.1:{port}"),
    ]);
    cmd
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Enqueues `n` messages (without fsync, for speed) and returns their Message-IDs.
fn fill(dir: &Path, n: usize) -> BTreeSet<String> {
    let spool = Spool::open(SpoolConfig::new(dir).durable(false)).unwrap();
    let batch: Vec<Email> = (0..n).map(email).collect();
    runtime().block_on(spool.send_messages(&batch)).unwrap();
    batch.into_iter().map(|e| e.message_id).collect()
}

fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
#[cfg(feature = "failpoints")]
fn killed_drainers_lose_nothing_and_duplicate_only_after_the_servers_250() {
    let dir = tempfile::tempdir().unwrap();
    let all = fill(dir.path(), 60);
    let accepting = Aiosmtpd::start(Mode::Plain, Options::default());
    let rt = runtime();
    let stalling = rt.block_on(Peer::start(Script {
        in_data: Some(Act::Silent),
        ..Script::default()
    }));

    // How often each message reached the server from a drainer killed after the 250.
    let mut delivered_before_kill: HashMap<String, usize> = HashMap::new();
    let mut kills = 0;
    for round in 0..54 {
        let before = accepting.message_ids();
        let mut cmd = spool_drain();
        cmd.args(["--queue", &queue_url(dir.path()), "--max", "1"]);
        match round % 3 {
            0 => {
                cmd.args(["--via", &format!("smtp://127.0.0.1:{}", accepting.port)]);
                kill9(&mut stop_at(&mut cmd, "after-claim"));
            }
            1 => {
                let started = |p: &Peer| {
                    p.commands()
                        .iter()
                        .filter(|c| *c == "<content started>")
                        .count()
                };
                let seen = started(&stalling);
                cmd.args([
                    "--via",
                    &format!("smtp://127.0.0.1:{}?timeout=120", stalling.port),
                ]);
                let mut child = cmd.stdout(Stdio::null()).spawn().unwrap();
                wait_until("the content to start", || started(&stalling) > seen);
                kill9(&mut child);
            }
            _ => {
                cmd.args(["--via", &format!("smtp://127.0.0.1:{}", accepting.port)]);
                kill9(&mut stop_at(&mut cmd, "after-send"));
                let after = accepting.message_ids();
                assert_eq!(
                    after.len(),
                    before.len() + 1,
                    "the server accepted the message before the kill"
                );
                *delivered_before_kill
                    .entry(after[before.len()].clone())
                    .or_default() += 1;
            }
        }
        kills += 1;
        if round % 3 != 2 {
            assert_eq!(
                accepting.message_ids(),
                before,
                "nothing reached the server"
            );
        }
    }
    assert!(kills >= 50);

    let finisher = Aiosmtpd::start(Mode::Plain, Options::default());
    let out = run(spool_drain().args([
        "--queue",
        &queue_url(dir.path()),
        "--via",
        &format!("smtp://127.0.0.1:{}", finisher.port),
    ]));
    assert_eq!(out.status.code(), Some(0));

    let mut count: HashMap<String, usize> = HashMap::new();
    for id in accepting
        .message_ids()
        .into_iter()
        .chain(finisher.message_ids())
    {
        *count.entry(id).or_default() += 1;
    }
    assert_eq!(
        count.len(),
        all.len(),
        "no message is lost and none is made up"
    );
    for id in &all {
        let extra = delivered_before_kill.get(id).copied().unwrap_or(0);
        assert_eq!(
            count.get(id).copied(),
            Some(1 + extra),
            "{id}: delivered once, plus once for each drainer killed after the server's 250"
        );
    }
    assert!(!delivered_before_kill.is_empty());
    let spool = Spool::open(dir.path()).unwrap();
    let status = rt.block_on(spool.status()).unwrap();
    assert_eq!(
        (
            status.queued,
            status.in_flight,
            status.deferred,
            status.failed
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("cur")).unwrap().count(),
        0
    );
}

/// Run by `a_killed_enqueuer_leaves_no_half_record`, in a child process: enqueues
/// forever, printing each id once `enqueue` has returned. Run alone, it fails: it is not
/// a test by itself.
#[test]
#[ignore = "run as a child process by a_killed_enqueuer_leaves_no_half_record"]
fn enqueue_forever_child() {
    let dir = std::env::var_os("SQUALL_ENQUEUE_DIR")
        .expect("SQUALL_ENQUEUE_DIR: run only by a_killed_enqueuer_leaves_no_half_record");
    let spool = Spool::open(dir).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let stdout = std::io::stdout();
    for i in 0.. {
        let message = QueuedMessage::new(&email(i).render().unwrap());
        rt.block_on(spool.enqueue(&message)).unwrap();
        use std::io::Write;
        let mut out = stdout.lock();
        writeln!(out, "{}", message.id).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_killed_enqueuer_leaves_no_half_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "enqueue_forever_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SQUALL_ENQUEUE_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let is_id = |l: &str| l.len() > 20 && !l.contains(' ');
    let mut returned = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    while returned.len() < 150 {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the enqueuer died"
        );
        if is_id(line.trim_end()) {
            returned.push(line.trim_end().to_owned());
        }
    }
    kill9(&mut child);
    // What it printed after our last read counts too: those enqueues returned Ok as well.
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    returned.extend(rest.lines().filter(|l| is_id(l)).map(String::from));

    // Every record in new/ is whole; half-written ones can only be in tmp/.
    let new = dir.path().join("new");
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(&new).unwrap() {
        let path = entry.unwrap().path();
        let message = QueuedMessage::from_record(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("half record visible in new/: {}: {e}", path.display()));
        ids.insert(message.id);
    }
    for id in &returned {
        assert!(
            ids.contains(id),
            "enqueue of {id} returned Ok but the record is missing"
        );
    }

    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let out = run(spool_drain().args([
        "--queue",
        &queue_url(dir.path()),
        "--via",
        &format!("smtp://127.0.0.1:{}", server.port),
    ]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(server.received().len(), ids.len());
}

#[test]
fn four_drainers_send_each_message_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let all = fill(dir.path(), 2000);
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let children: Vec<Child> = (0..4)
        .map(|_| {
            spool_drain()
                .args([
                    "--queue",
                    &queue_url(dir.path()),
                    "--via",
                    &format!("smtp://127.0.0.1:{}", server.port),
                    "--json",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut sent_total = 0;
    let mut done = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        // 3: this drainer ended while another still had mail in flight.
        let code = out.status.code().unwrap();
        assert!(code == 0 || code == 3, "exit {code}");
        done += usize::from(code == 0);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["exit_code"], code);
        sent_total += report["sent"].as_u64().unwrap();
    }
    assert!(done >= 1, "the last drainer to look finds the queue empty");
    let ids = server.message_ids();
    assert_eq!(ids.len(), 2000, "each message received once, none twice");
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), all);
    assert_eq!(sent_total, 2000);
}

#[test]
#[cfg(feature = "failpoints")]
fn single_runs_exclude_each_other_and_a_killed_one_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 5);
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", server.port);
    let url = queue_url(dir.path());

    let mut holder = stop_at(
        spool_drain().args(["--queue", &url, "--via", &via, "--single", "--max", "1"]),
        "after-claim",
    );

    let out = run(spool_drain().args(["--queue", &url, "--via", &via, "--single"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another run holds the lock"));
    assert!(server.received().is_empty());

    kill9(&mut holder);
    let out = run(spool_drain().args(["--queue", &url, "--via", &via, "--single"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("sent 5 "),
        "the claim of the killed run is recovered too"
    );
    assert_eq!(server.received().len(), 5);
}

#[test]
fn dry_run_prints_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 3);
    let before = tree(dir.path());
    let out = run(spool_drain().args(["--queue", &queue_url(dir.path()), "--dry-run"]));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for i in 0..3 {
        assert!(
            stdout.contains(&format!("Subject: message {i}")),
            "{stdout}"
        );
    }
    assert_eq!(
        tree(dir.path()),
        before,
        "the spool is byte for byte as it was"
    );
}

#[test]
fn status_retry_failed_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 2);
    let url = queue_url(dir.path());
    let rt = runtime();
    let refusing = rt.block_on(Peer::start(
        Script::default().on("RCPT TO:<user0@", Act::Reply("550 5.1.1 no such user")),
    ));
    let out = run(spool_drain().args([
        "--queue",
        &url,
        "--via",
        &format!("smtp://127.0.0.1:{}", refusing.port),
    ]));
    assert_eq!(out.status.code(), Some(1), "a permanent failure exits 1");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.starts_with("sent 1 · deferred 0 · failed 1 · "),
        "{summary}"
    );

    let out = run(spool_drain().args(["status", "--queue", &url, "--json"]));
    assert_eq!(out.status.code(), Some(0));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (status["queued"].as_u64(), status["failed"].as_u64()),
        (Some(0), Some(1))
    );

    let out = run(spool_drain().args(["retry-failed", "--queue", &url]));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("moved 1"));
    let out = run(spool_drain().args(["status", "--queue", &url]));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("queued 1 · in flight 0 · deferred 0 · failed 0")
    );

    // A busy server: deferred, exit 75.
    let busy = rt.block_on(Peer::start(
        Script::default().on("RCPT", Act::Reply("451 4.3.0 busy")),
    ));
    let out = run(spool_drain().args([
        "--queue",
        &url,
        "--via",
        &format!("smtp://127.0.0.1:{}", busy.port),
    ]));
    assert_eq!(out.status.code(), Some(75));
    // An unreachable server: exit 75, the message untouched (no attempt spent).
    let other = tempfile::tempdir().unwrap();
    fill(other.path(), 1);
    let before = tree(other.path());
    let out = run(spool_drain().args([
        "--queue",
        &queue_url(other.path()),
        "--via",
        "smtp://127.0.0.1:1",
    ]));
    assert_eq!(out.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped:"));
    let after = tree(other.path());
    let records = |t: &BTreeMap<PathBuf, Vec<u8>>| {
        t.iter()
            .filter(|(p, _)| p.starts_with(other.path().join("new")))
            .map(|(_, b)| b.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(records(&after), records(&before));
}

/// aiosmtpd does not offer SMTPUTF8, so a message to a non-ASCII address can never be
/// sent to it. That message is dead-lettered with the reason, and it does not stop the
/// plain messages queued around it, in this run or the next.
#[test]
fn a_non_ascii_address_without_smtputf8_is_dead_lettered_and_the_rest_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = fill(dir.path(), 6);
    let spool = Spool::open(SpoolConfig::new(dir.path()).durable(false)).unwrap();
    let unsendable = Email::builder()
        .from("site@example.com")
        .to("jöran@exämple.com")
        .subject("non-ASCII address")
        .text("hi")
        .build()
        .unwrap();
    runtime().block_on(spool.send(&unsendable)).unwrap();
    ids.extend(fill(dir.path(), 6));
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", server.port);

    let out = run(spool_drain().args(["--queue", &queue_url(dir.path()), "--via", &via]));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.starts_with("sent 12 · deferred 0 · failed 1 · "),
        "{summary}"
    );
    assert_eq!(out.status.code(), Some(1), "a permanent failure exits 1");
    assert_eq!(
        server.message_ids().into_iter().collect::<BTreeSet<_>>(),
        ids
    );

    let failed = dir.path().join("failed");
    let errors: Vec<String> = std::fs::read_dir(&failed)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "error"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("SMTPUTF8"), "{}", errors[0]);

    let out = run(spool_drain().args(["--queue", &queue_url(dir.path()), "--via", &via]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn bad_usage_exits_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let url = queue_url(dir.path());
    for (args, expect) in [
        (
            vec!["--queue", "ftp://x/y", "--via", "console://"],
            "--queue",
        ),
        (vec!["--queue", url.as_str()], "--via"),
        (
            vec!["--queue", url.as_str(), "--via", "smtp://u:pw@h?tls=bogus"],
            "tls=bogus",
        ),
        (vec!["--queue", url.as_str(), "--via", "memory://"], "--via"),
        (vec!["--via", "console://"], "--queue"),
        // Once a panic (exit 101): a timeout no Duration can hold.
        (
            vec!["--queue", url.as_str(), "--via", "smtp://h?timeout=inf"],
            "timeout=\"inf\"",
        ),
        (
            vec!["--queue", url.as_str(), "--via", "smtp://h?timeout=1e300"],
            "timeout=\"1e300\"",
        ),
        // Once accepted, then an exit 75 after a minute of reconnecting.
        #[cfg(feature = "redis")]
        (
            vec![
                "--queue",
                "redis://127.0.0.1:99999/0",
                "--via",
                "console://",
            ],
            "\"99999\"",
        ),
        (
            vec!["--queue", url.as_str(), "--max-age", "3y"],
            "unknown unit",
        ),
        // Once an unchecked multiply: a panic (exit 101) in debug builds, a wrap in release.
        (
            vec![
                "--queue",
                url.as_str(),
                "--via",
                "console://",
                "--max-age",
                "300000000000000d",
            ],
            "longer than 100 years",
        ),
    ] {
        let out = run(spool_drain().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains(":pw@"), "password shown: {stderr}");
    }
}

#[test]
fn watch_sends_new_mail_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let child = to_server(dir.path(), server.port)
        .arg("--watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let rt = runtime();
    rt.block_on(spool.send(&email(7))).unwrap();
    wait_until("the watcher to send", || server.received().len() == 1);
    rt.block_on(spool.send(&email(8))).unwrap();
    wait_until("the watcher to send again", || server.received().len() == 2);

    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sent 2 "));
    let status = rt.block_on(spool.status()).unwrap();
    assert_eq!((status.queued, status.in_flight), (0, 0));
    assert_eq!(
        std::fs::read_dir(dir.path().join("cur")).unwrap().count(),
        0,
        "claims and directory returned"
    );
}

#[test]
fn an_idle_watcher_wakes_for_new_mail_with_its_poll_an_hour_away() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mut child = to_server(dir.path(), server.port)
        .args(["--watch", "--poll-interval", "1h"])
        .env("SQUALL_LOG", "squall=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(
        read_until(&mut lines, "waiting for mail"),
        "spool-drain ended before it went idle"
    );
    // Keep reading, so that the drainer never blocks on a full pipe.
    let reader = std::thread::spawn(move || lines.map_while(Result::ok).count());
    let rt = runtime();
    rt.block_on(spool.send(&email(1))).unwrap();
    wait_until("the idle watcher to send the new mail", || {
        server.received().len() == 1
    });
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sent 1 "));
}

#[test]
fn an_idle_spool_wait_wakes_for_new_mail_and_for_deferred_mail_falling_due() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(SpoolConfig::new(dir.path()).durable(false)).unwrap();
    support::idle_waits_wake_for_new_and_due_mail(&runtime(), &spool);
}

#[test]
fn directories_fifos_and_symlinks_in_new_are_quarantined_and_the_rest_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let all = fill(dir.path(), 2);
    let new = dir.path().join("new");
    std::fs::create_dir(new.join("0000000000001-dir")).unwrap();
    let fifo = new.join("0000000000002-fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // A link to a good record outside the spool: followed, it would be sent.
    let outside = tempfile::tempdir().unwrap();
    fill(outside.path(), 1);
    let target = std::fs::read_dir(outside.path().join("new"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::os::unix::fs::symlink(&target, new.join("0000000000003-link")).unwrap();

    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let child = to_server(dir.path(), server.port)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_exit(child, "a FIFO in new/ must not block the drainer");
    assert_eq!(out.status.code(), Some(1), "quarantined entries exit 1");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.starts_with("sent 2 · deferred 0 · failed 0 · quarantined 3 · "),
        "{summary}"
    );
    assert_eq!(
        server.message_ids().into_iter().collect::<BTreeSet<_>>(),
        all,
        "the good messages were sent, the linked one was not"
    );
    assert_eq!(std::fs::read_dir(&new).unwrap().count(), 0);
    let failed = dir.path().join("failed");
    for (name, kind) in [
        ("0000000000001-dir", "a directory"),
        ("0000000000002-fifo", "a FIFO"),
        ("0000000000003-link", "a symbolic link"),
    ] {
        assert!(failed.join(name).symlink_metadata().is_ok(), "{name}");
        let error = std::fs::read_to_string(failed.join(format!("{name}.error"))).unwrap();
        assert!(
            error.contains(&format!("not a regular file but {kind}")),
            "{error}"
        );
    }
    assert!(target.exists(), "the link's target is left alone");

    // What is in failed/ now blocks neither status nor retry-failed.
    let url = queue_url(dir.path());
    let out = run(spool_drain().args(["status", "--queue", &url, "--json"]));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["failed"], 3);
    let out = wait_exit(
        spool_drain()
            .args(["retry-failed", "--queue", &url])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        "retry-failed must not block on a FIFO",
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("moved 0"));
}

#[test]
fn watch_rides_out_an_smtp_outage_and_ends_only_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let all = fill(dir.path(), 1);
    // Nothing listens here yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = to_server(dir.path(), port)
        .arg("--watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    // The drainer reports the outage and keeps going.
    loop {
        match stderr.next() {
            Some(Ok(line)) if line.contains("trying again in") => break,
            Some(Ok(_)) => {}
            _ => {
                let status = child.wait().unwrap();
                panic!("spool-drain ended during the outage: {status}");
            }
        }
    }
    let reader = std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>());
    let server = Aiosmtpd::start(
        Mode::Plain,
        Options {
            port: Some(port),
            ..Options::default()
        },
    );
    wait_until("the message to arrive once the server is up", || {
        server.received().len() == 1
    });
    assert_eq!(
        server.message_ids().into_iter().collect::<BTreeSet<_>>(),
        all
    );
    assert!(child.try_wait().unwrap().is_none(), "still watching");
    sigterm(&child);
    let out = wait_exit(child, "SIGTERM ends a watch");
    let log = reader.join().unwrap().join("\n");
    assert_eq!(out.status.code(), Some(0), "{log}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.starts_with("sent 1 · deferred 0 · failed 0"),
        "{summary}"
    );
    assert!(
        !summary.contains("stopped:"),
        "the outage is over: {summary}"
    );
}

#[test]
fn a_spool_the_drainer_cannot_write_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    fill(&spool, 1);
    // The spool belongs to another user: readable and searchable, not writable.
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(dir.path(), 0o755);
    for sub in ["", "tmp", "new", "cur", "deferred", "failed"] {
        mode(&spool.join(sub), 0o555);
    }
    let url = queue_url(&spool);
    let args = ["--queue", url.as_str(), "--via", "console://"];
    let root = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout)
        .unwrap()
        .trim()
        == "0";
    let out = if root {
        // Root writes anywhere: run the drainer as nobody, as a service user would be.
        let exe = env!("CARGO_BIN_EXE_spool-drain");
        run(Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", exe])
            .args(args)
            .env_remove("SQUALL_QUEUE_URL")
            .env_remove("SQUALL_MAIL_URL"))
    } else {
        run(spool_drain().args(args))
    };
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--queue")
            && stderr.contains("write access")
            && stderr.contains("Permission denied"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(spool.join("new")).unwrap().count(), 1);
}

#[test]
fn exit_3_when_mail_is_left_that_is_not_due_or_is_held_by_another_drainer() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 2);
    let queue = Spool::open(dir.path()).unwrap();
    support::cli::exit_3_when_mail_is_left(&queue_url(dir.path()), &queue);
}

#[test]
fn stale_tmp_files_are_removed_at_start_and_fresh_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1);
    let tmp = dir.path().join("tmp");
    let stale = tmp.join("0000000000001-1-abc.deadbeef");
    let fresh = tmp.join("0000000000002-1-abc");
    std::fs::write(&stale, b"").unwrap();
    std::fs::write(&fresh, b"being written").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let out = run(spool_drain().args(["--queue", &queue_url(dir.path()), "--via", "console://"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(!stale.exists(), "a stale tmp file is removed");
    assert_eq!(std::fs::read(&fresh).unwrap(), b"being written");
}

#[test]
fn retry_deferred_forces_out_mail_dated_in_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let sent = fill(dir.path(), 3);
    let queue = Spool::open(dir.path()).unwrap();
    support::cli::retry_deferred_forces_out_mail_dated_in_the_future(
        &queue_url(dir.path()),
        &queue,
        &sent,
    );
}

#[test]
fn greylisted_and_unknown_recipients_wait_for_the_greylisted_one_alone() {
    let dir = tempfile::tempdir().unwrap();
    support::drain_cases::greylisted_and_unknown_recipients(&queue_url(dir.path()), &[]);
}

#[test]
fn a_drainer_killed_mid_batch_resends_at_most_one_message_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let all = fill(dir.path(), 100);
    support::drain_cases::a_drainer_killed_mid_batch_resends_at_most_one_per_connection(
        &queue_url(dir.path()),
        &all,
        &[],
        || {},
    );
}
