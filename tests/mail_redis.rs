//! The Redis queue as users run it: a private redis-server (or a 3-master cluster) per
//! test, real `spool-drain` processes killed with SIGKILL, Redis restarted mid-drain,
//! several drainers at once, all delivering to aiosmtpd.
#![cfg(all(feature = "redis", feature = "cli"))]

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_support::{DropReplyProxy, RedisCluster, RedisServer, free_port};
use squall::mail::{
    ClaimBatch, Claimed, Email, Error, Mailer, Queue, QueueError, QueuedMessage, RedisQueue,
    from_url,
};
use support::aiosmtpd::{Aiosmtpd, Mode, Options};
use support::cli::{kill9, run, spool_drain, stop_at};
use support::numbered_email as email;
use support::wait_until;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Enqueues `n` numbered messages, 500 a batch, and returns their Message-IDs.
fn fill(url: &str, n: usize) -> BTreeSet<String> {
    let queue = RedisQueue::from_url(url).unwrap();
    let rt = runtime();
    let mut ids = BTreeSet::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<Email> = chunk.iter().map(|i| email(*i)).collect();
        let report = rt.block_on(queue.send_messages(&batch)).unwrap();
        assert_eq!(report.delivered(), batch.len());
        ids.extend(batch.into_iter().map(|e| e.message_id));
    }
    ids
}

fn counts(ids: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut count = HashMap::new();
    for id in ids {
        *count.entry(id).or_default() += 1;
    }
    count
}

/// Waits until every claim pending on `queue`'s stream has been idle for `lease`, so that
/// a drainer that starts now takes them over.
fn wait_for_idle_claims(redis: &RedisServer, queue: &str, lease: Duration) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/0", redis.port)).unwrap();
    let mut conn = client.get_connection().unwrap();
    let stream = format!("{{{queue}}}:stream");
    wait_until("the claims to be idle for the lease", || {
        let pending: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&stream)
            .arg("squall-drainers")
            .arg("-")
            .arg("+")
            .arg(100_000)
            .query(&mut conn)
            .unwrap();
        pending
            .ids
            .iter()
            .all(|p| p.last_delivered_ms as u128 >= lease.as_millis())
    });
}

/// Collects a child's stderr lines as they come, for a test to wait on.
fn collect_stderr(child: &mut Child) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let stderr = child.stderr.take().unwrap();
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    (text, reader)
}

fn status(url: &str) -> (u64, u64, u64, u64) {
    let queue = RedisQueue::from_url(url).unwrap();
    let s = runtime().block_on(queue.status()).unwrap();
    (s.queued, s.in_flight, s.deferred, s.failed)
}

#[test]
fn a_killed_drainer_is_taken_over_after_the_lease() {
    let redis = RedisServer::start();
    let url = redis.url("app", "");
    let all = fill(&url, 300);
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", smtp.port);

    // Killed after claiming a batch: nothing sent, the batch is pending under a dead
    // consumer.
    kill9(&mut stop_at(
        spool_drain().args(["--queue", &url, "--via", &via, "--lease", "1"]),
        "after-claim",
    ));
    assert!(smtp.message_ids().is_empty());
    let (_, in_flight, _, _) = status(&url);
    assert!(in_flight > 0, "the dead drainer holds claims");

    // Killed after the server's 250 for a message, before its ack. On one connection
    // the next message's content waits for that ack, so exactly one was accepted.
    kill9(&mut stop_at(
        spool_drain().args([
            "--queue",
            &url,
            "--via",
            &via,
            "--lease",
            "1",
            "--concurrency",
            "1",
        ]),
        "after-send",
    ));
    let sent_before_kill: BTreeSet<String> = smtp.message_ids().into_iter().collect();
    assert_eq!(sent_before_kill.len(), 1);

    // Another drainer, once the lease ran out, takes both batches over.
    wait_for_idle_claims(&redis, "app", Duration::from_secs(1));
    let out = run(spool_drain().args(["--queue", &url, "--via", &via, "--lease", "1"]));
    assert_eq!(out.status.code(), Some(0));
    let count = counts(smtp.message_ids());
    assert_eq!(count.len(), all.len(), "0 lost, none made up");
    for id in &all {
        let expected = 1 + usize::from(sent_before_kill.contains(id));
        assert_eq!(count.get(id).copied(), Some(expected), "{id}");
    }
    assert_eq!(status(&url), (0, 0, 0, 0));
}

#[test]
fn redis_restarted_mid_drain_loses_nothing() {
    let mut redis = RedisServer::start();
    let url = redis.url("app", "lease=2&timeout=1");
    let all = fill(&url, 1500);
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", smtp.port);
    let mut child = spool_drain()
        .args(["--queue", &url, "--via", &via])
        .env("SQUALL_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (log, reader) = collect_stderr(&mut child);
    wait_until("some mail to be sent", || smtp.message_ids().len() >= 200);
    redis.kill();
    // Down until the drainer has noticed the outage.
    wait_until("the drainer to notice the outage", || {
        log.lock().unwrap().contains("redis unavailable")
    });
    redis.restart();
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let stderr = log.lock().unwrap().clone();
    eprintln!(
        "drainer: {:?}\n{}\n{stderr}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the drainer went on after the restart"
    );
    // A claim whose reply was lost in the crash stays pending: the next run takes it over
    // after the lease.
    wait_for_idle_claims(&redis, "app", Duration::from_secs(2));
    let out = run(spool_drain().args(["--queue", &url, "--via", &via]));
    assert_eq!(out.status.code(), Some(0));
    let count = counts(smtp.message_ids());
    assert_eq!(count.len(), all.len(), "0 lost, none made up");
    let duplicates = count.values().filter(|n| **n > 1).count();
    eprintln!("duplicates after the restart: {duplicates}");
    assert!(duplicates < 300, "only a batch in flight can be sent twice");
    assert_eq!(status(&url), (0, 0, 0, 0));
}

#[test]
fn three_drainers_5000_messages_each_received_exactly_once() {
    let redis = RedisServer::start();
    let url = redis.url("app", "");
    let all = fill(&url, 5000);
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", smtp.port);
    let children: Vec<Child> = (0..3)
        .map(|_| {
            spool_drain()
                .args(["--queue", &url, "--via", &via, "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut sent = 0;
    let mut done = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        // 3: this drainer ended while another still had mail in flight.
        let code = out.status.code().unwrap();
        assert!(code == 0 || code == 3, "exit {code}");
        done += usize::from(code == 0);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        sent += report["sent"].as_u64().unwrap();
    }
    assert!(done >= 1, "the last drainer to look finds the queue empty");
    assert_eq!(sent, 5000);
    let count = counts(smtp.message_ids());
    assert_eq!(count.len(), all.len());
    assert!(
        count.values().all(|n| *n == 1),
        "each received exactly once"
    );
    assert_eq!(status(&url), (0, 0, 0, 0));
}

#[test]
fn an_undecodable_entry_goes_to_the_dead_letter_stream_and_the_drain_goes_on() {
    let redis = RedisServer::start();
    let url = redis.url("app", "");
    let all = fill(&url, 3);
    redis.cli(&[
        "XADD",
        "{app}:stream",
        "*",
        "r",
        "garbage, not a squall record",
    ]);
    redis.cli(&["XADD", "{app}:stream", "*", "other", "field"]);
    let more = fill(&url, 2);
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let out = run(spool_drain().args([
        "--queue",
        &url,
        "--via",
        &format!("smtp://127.0.0.1:{}", smtp.port),
    ]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "quarantined records make exit 1"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("quarantined 2"));
    let received: BTreeSet<String> = smtp.message_ids().into_iter().collect();
    assert_eq!(received, all.union(&more).cloned().collect::<BTreeSet<_>>());
    let dead = redis.cli(&["XRANGE", "{app}:dead", "-", "+"]);
    assert!(dead.contains("unreadable record: bad magic"), "{dead}");
    assert!(dead.contains("no field"), "{dead}");
    assert!(
        dead.contains("garbage, not a squall record"),
        "the raw bytes are kept: {dead}"
    );
    assert_eq!(status(&url), (0, 0, 0, 2));
}

#[test]
fn status_and_retry_failed_on_redis() {
    let redis = RedisServer::start_with(&["--appendonly", "no"]);
    let url = redis.url("app", "");
    let rt = runtime();
    let queue = RedisQueue::from_url(&url).unwrap();
    let refused: Vec<Email> = (0..2)
        .map(|i| {
            Email::builder()
                .from("site@example.com")
                .to(format!("nobody{i}@example.com"))
                .subject("refused")
                .text("x")
                .build()
                .unwrap()
        })
        .collect();
    rt.block_on(queue.send_messages(&refused)).unwrap();
    fill(&url, 1);

    let out = run(spool_drain().args(["status", "--queue", &url]));
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("queued 3 · in flight 0 · deferred 0 · failed 0"),
        "{text}"
    );
    assert!(text.contains("warning:") && text.contains("AOF"), "{text}");

    let smtp = Aiosmtpd::start(
        Mode::Plain,
        Options {
            reject_prefix: Some("nobody"),
            ..Options::default()
        },
    );
    let via = format!("smtp://127.0.0.1:{}", smtp.port);
    let out = run(spool_drain().args(["--queue", &url, "--via", &via]));
    assert_eq!(out.status.code(), Some(1));
    let out = run(spool_drain().args(["status", "--queue", &url, "--json"]));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["failed"], 2);
    assert_eq!(s["queued"], 0);
    assert!(s["warnings"][0].as_str().unwrap().contains("appendonly no"));
    let dead = redis.cli(&["XRANGE", "{app}:dead", "-", "+"]);
    assert!(dead.contains("550"), "the error is kept: {dead}");

    let out = run(spool_drain().args(["retry-failed", "--queue", &url, "--json"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "{\"moved\":2}");
    assert_eq!(status(&url), (2, 0, 0, 0));
    let peeked = rt.block_on(queue.peek(10)).unwrap();
    assert_eq!(peeked.len(), 2);
    assert!(peeked.iter().all(|m| m.attempts == 0));
    // --dry-run reads (XRANGE) and changes nothing.
    let out = run(spool_drain().args(["--queue", &url, "--dry-run"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(status(&url), (2, 0, 0, 0));
}

#[test]
fn exit_3_when_mail_is_left_that_is_not_due_or_is_held_by_another_drainer() {
    let redis = RedisServer::start();
    let url = redis.url("app", "");
    fill(&url, 2);
    let queue = RedisQueue::from_url(&url).unwrap();
    support::cli::exit_3_when_mail_is_left(&url, &queue);
}

/// The claims of a batch, its quarantined records counted into `q`.
fn counted(batch: ClaimBatch, q: &mut u64) -> Vec<Claimed> {
    *q += batch.quarantined;
    batch.claims
}

#[test]
fn claim_defer_release_and_the_single_lock() {
    let redis = RedisServer::start();
    let url = redis.url("q", "lease=1");
    let rt = runtime();
    rt.block_on(async {
        let a = RedisQueue::from_url(&url).unwrap();
        let b = RedisQueue::from_url(&url).unwrap();
        let message = QueuedMessage::new(&email(1).render().unwrap());
        a.enqueue(&message).await.unwrap();
        let mut q = 0;
        let mut claims = counted(a.claim(10).await.unwrap(), &mut q);
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].message, message);
        assert!(
            counted(b.claim(10).await.unwrap(), &mut q).is_empty(),
            "one owner"
        );

        // Deferred: not due, then due again with its new attempt count.
        let mut later = message.clone();
        later.attempts = 1;
        later.next_attempt_unix_ms = message.next_attempt_unix_ms + 10_000_000;
        let claim = claims.remove(0);
        let mut soon = later.clone();
        soon.next_attempt_unix_ms = squall_now() + 600;
        let due = soon.next_attempt_unix_ms;
        a.defer(claim, soon.clone()).await.unwrap();
        assert_eq!(a.status().await.unwrap().deferred, 1);
        // Claimed once due, and never before.
        let claims = eventually("the deferred message to be due", || async {
            let claims = b.claim(10).await.unwrap().claims;
            if claims.is_empty() {
                return None;
            }
            assert!(squall_now() >= due, "claimed before it was due");
            Some(claims)
        })
        .await;
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].message.attempts, 1);

        // Released: due at once, for anyone.
        b.release(claims.into_iter().next().unwrap()).await.unwrap();
        let claims = counted(a.claim(10).await.unwrap(), &mut q);
        assert_eq!(claims.len(), 1);
        // A live drainer keeps its claim past the lease (its heartbeat renews it): another
        // drainer that keeps trying for 2.5 leases never gets it.
        let claimed = Instant::now();
        while claimed.elapsed() < Duration::from_millis(2500) {
            assert!(
                counted(b.claim(10).await.unwrap(), &mut q).is_empty(),
                "renewed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        a.ack_all(claims).await.unwrap();
        assert_eq!(
            a.status().await.unwrap(),
            squall::mail::QueueStatus::default()
        );
        assert_eq!(q, 0);

        // --single: one holder; freed when the guard drops.
        let guard = a.try_lock_single().await.unwrap();
        assert!(guard.is_some());
        assert!(b.try_lock_single().await.unwrap().is_none());
        drop(guard);
        eventually("the lock to be free", || async {
            b.try_lock_single().await.unwrap()
        })
        .await;
    });
}

fn squall_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The client's error behind a [`QueueError::Redis`].
fn redis_source(err: &Error) -> &redis::RedisError {
    match err {
        Error::Queue(QueueError::Redis { source, .. }) => source
            .downcast_ref::<redis::RedisError>()
            .unwrap_or_else(|| panic!("the source is not a RedisError: {source:?}")),
        other => panic!("not a Redis error: {other:?}"),
    }
}

#[test]
fn redis_down_at_enqueue_is_a_clear_error_within_the_timeout() {
    let rt = runtime();
    let message = email(1);
    // Nothing listens: refused, retried until the timeout, then an error.
    let port = free_port();
    let mailer = from_url(&format!("redis://127.0.0.1:{port}/0?queue=app&timeout=1")).unwrap();
    let err = rt.block_on(mailer.send(&message)).unwrap_err();
    match &err {
        Error::Queue(QueueError::Redis { server, op, .. }) => {
            assert_eq!(server, &format!("127.0.0.1:{port}"));
            assert_eq!(*op, "enqueue");
        }
        other => panic!("not a Redis error: {other:?}"),
    }
    let source = redis_source(&err);
    assert!(
        source.is_connection_refusal() || source.is_timeout(),
        "{source:?}"
    );
    assert!(err.is_transient());
    assert!(
        err.to_string().contains(&format!("redis 127.0.0.1:{port}")),
        "{err}"
    );

    // A server that accepts connections and never answers: the timeout, not a hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mailer = from_url(&format!("redis://127.0.0.1:{port}/0?queue=app&timeout=1")).unwrap();
    // (The minute is a guard against a hang, far beyond the 1 s asked for.)
    let err = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(60), mailer.send(&message)).await
        })
        .expect("the enqueue hung: no timeout")
        .unwrap_err();
    let source = redis_source(&err);
    assert!(source.is_timeout(), "{source:?}");
    eprintln!("silent server: {err}");
}

#[test]
fn a_three_master_cluster_enqueues_and_drains_without_crossslot() {
    let cluster = RedisCluster::start();
    let url = cluster.url("app");
    let all = fill(&url, 300);
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", smtp.port);
    let out = run(spool_drain().args(["--queue", &url, "--via", &via, "--lease", "5"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("CROSSSLOT"));
    let count = counts(smtp.message_ids());
    assert_eq!(count.len(), all.len());
    assert!(count.values().all(|n| *n == 1));
    let out = run(spool_drain().args(["status", "--queue", &url, "--json"]));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["queued"].as_u64(), s["failed"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn an_entry_that_keeps_killing_its_drainers_is_dead_lettered_as_poison() {
    let redis = RedisServer::start();
    let url = redis.url("app", "lease=1&max_deliveries=2");
    let all = fill(&url, 1);
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", smtp.port);
    // Delivered twice (a read, then a takeover), and each drainer died holding it.
    for _ in 0..2 {
        kill9(&mut stop_at(
            spool_drain().args(["--queue", &url, "--via", &via]),
            "after-claim",
        ));
        wait_for_idle_claims(&redis, "app", Duration::from_secs(1));
    }
    let out = run(spool_drain().args(["--queue", &url, "--via", &via]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("quarantined 1"));
    assert!(smtp.message_ids().is_empty());
    let dead = redis.cli(&["XRANGE", "{app}:dead", "-", "+"]);
    assert!(
        dead.contains("poison: delivered more than 2 times"),
        "{dead}"
    );
    assert_eq!(status(&url), (0, 0, 0, 1));
    // retry-failed gives it another chance, with a clean delivery count.
    let out = run(spool_drain().args(["retry-failed", "--queue", &url]));
    assert_eq!(out.status.code(), Some(0));
    let out = run(spool_drain().args(["--queue", &url, "--via", &via]));
    assert_eq!(out.status.code(), Some(0));
    let received: BTreeSet<String> = smtp.message_ids().into_iter().collect();
    assert_eq!(received, all);
}

#[test]
fn single_runs_exclude_each_other_and_free_the_lock() {
    let redis = RedisServer::start();
    let url = redis.url("app", "");
    let all = fill(&url, 5);
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", smtp.port);
    let rt = runtime();
    let holder = RedisQueue::from_url(&url).unwrap();
    let guard = rt.block_on(holder.try_lock_single()).unwrap();
    assert!(guard.is_some());
    let out = run(spool_drain().args(["--queue", &url, "--via", &via, "--single"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another run holds the lock"));
    assert!(smtp.message_ids().is_empty());
    drop(guard);
    assert_eq!(redis.cli(&["EXISTS", "{app}:single"]).trim(), "0");
    let out = run(spool_drain().args(["--queue", &url, "--via", &via, "--single"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(smtp.message_ids().into_iter().collect::<BTreeSet<_>>(), all);
    assert_eq!(
        redis.cli(&["EXISTS", "{app}:single"]).trim(),
        "0",
        "the run deleted its lock on the way out"
    );
}

#[test]
fn a_watching_drainer_sends_new_mail_as_it_arrives() {
    let redis = RedisServer::start();
    let url = redis.url("app", "");
    let smtp = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("smtp://127.0.0.1:{}", smtp.port);
    let child = spool_drain()
        .args([
            "--queue",
            &url,
            "--via",
            &via,
            "--watch",
            "--poll-interval",
            "1h",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Enqueue once the drainer waits in a blocking read for new entries.
    wait_until("the drainer to wait for mail", || {
        redis.cli(&["CLIENT", "LIST"]).contains("cmd=xread")
    });
    let all = fill(&url, 3);
    wait_until("the new mail to be sent", || smtp.message_ids().len() == 3);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent 3"));
    assert_eq!(smtp.message_ids().into_iter().collect::<BTreeSet<_>>(), all);
}

#[test]
fn an_idle_redis_wait_wakes_for_new_mail_and_for_deferred_mail_falling_due() {
    let redis = RedisServer::start();
    let queue = RedisQueue::from_url(&redis.url("app", "")).unwrap();
    support::idle_waits_wake_for_new_and_due_mail(&runtime(), &queue);
}

/// Polls `check` until it gives a value; fails the test, naming `what`, after a minute.
async fn eventually<T, F>(what: &str, mut check: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_batch_whose_reply_was_lost_is_queued_once() {
    let redis = RedisServer::start();
    let batch: Vec<Email> = (0..20).map(email).collect();
    // The connection drops after Redis ran the batch and before its reply arrives: the
    // client cannot tell whether it ran, and tries again on a new connection.
    let proxy = DropReplyProxy::start(redis.port, batch[7].message_id.as_bytes());
    let queue = RedisQueue::from_url(&proxy.url("app", "")).unwrap();
    let rt = runtime();
    // Connected (and any script loaded) before the reply that is lost.
    rt.block_on(queue.send(&email(100))).unwrap();
    let report = rt.block_on(queue.send_messages(&batch)).unwrap();
    assert!(proxy.fired(), "the reply to the batch was lost");
    assert_eq!(report.delivered(), batch.len());

    let direct = RedisQueue::from_url(&redis.url("app", "")).unwrap();
    let queued = rt.block_on(direct.peek(1000)).unwrap();
    let count = counts(queued.into_iter().map(|m| m.message_id));
    assert_eq!(count.len(), batch.len() + 1);
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "queued twice: {twice:?}");
}

#[test]
fn the_same_batch_enqueued_twice_is_stored_once() {
    let redis = RedisServer::start();
    let queue = RedisQueue::from_url(&redis.url("app", "")).unwrap();
    let messages: Vec<QueuedMessage> = (0..5)
        .map(|i| QueuedMessage::new(&email(i).render().unwrap()))
        .collect();
    let rt = runtime();
    rt.block_on(queue.enqueue_batch(&messages)).unwrap();
    // A caller that did not get the answer sends the same batch again.
    rt.block_on(queue.enqueue_batch(&messages)).unwrap();
    rt.block_on(queue.enqueue(&messages[0])).unwrap();
    assert_eq!(redis.cli(&["XLEN", "{app}:stream"]).trim(), "5");
}

#[test]
fn dropping_the_single_lock_in_a_current_thread_runtime_frees_it_without_blocking() {
    let redis = RedisServer::start();
    // A lease longer than the wait below: the lock must be deleted, not expire.
    let url = redis.url("app", "timeout=30&lease=600");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let a = RedisQueue::from_url(&url).unwrap();
        let b = RedisQueue::from_url(&url).unwrap();
        let guard = a.try_lock_single().await.unwrap();
        assert!(guard.is_some());
        // While Redis holds back writes, a drop that waited for its unlock would stall
        // this thread (the runtime's only one) until the timeout, and then give up.
        redis.cli(&["CLIENT", "PAUSE", "60000", "WRITE"]);
        drop(guard);
        assert_eq!(redis.cli(&["EXISTS", "{app}:single"]).trim(), "1");
        redis.cli(&["CLIENT", "UNPAUSE"]);
        let next = eventually("the lock to be free", || async {
            b.try_lock_single().await.unwrap()
        })
        .await;
        drop(next);
    });
}

#[test]
fn retry_deferred_forces_out_mail_dated_in_the_future() {
    let redis = RedisServer::start();
    let url = redis.url("app", "");
    let sent = fill(&url, 3);
    let queue = RedisQueue::from_url(&url).unwrap();
    support::cli::retry_deferred_forces_out_mail_dated_in_the_future(&url, &queue, &sent);
}

#[test]
fn greylisted_and_unknown_recipients_wait_for_the_greylisted_one_alone() {
    let redis = RedisServer::start();
    support::drain_cases::greylisted_and_unknown_recipients(&redis.url("grey", ""), &[]);
}

#[test]
fn a_drainer_killed_mid_batch_resends_at_most_one_message_per_connection() {
    let redis = RedisServer::start();
    let url = redis.url("acks", "");
    let all = fill(&url, 100);
    support::drain_cases::a_drainer_killed_mid_batch_resends_at_most_one_per_connection(
        &url,
        &all,
        &["--lease", "1"],
        || wait_for_idle_claims(&redis, "acks", Duration::from_secs(1)),
    );
}
