//! The disk spool and the drainer, as a library: real files in a temporary directory,
//! aiosmtpd as the server that accepts, a scripted peer for the replies that refuse.
#![cfg(feature = "mail")]

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use squall::mail::{
    DrainOptions, DrainReport, Drainer, Email, Mailer, Outcome, Queue, QueueError, QueuedMessage,
    RetryPolicy, SmtpConfig, SmtpMailer, Spool,
};
use support::aiosmtpd::{Aiosmtpd, Mode, Options};
use support::numbered_email as email;
use support::scripted_smtp::{Act, Peer, Script};

fn smtp(port: u16) -> SmtpMailer {
    SmtpMailer::new(SmtpConfig::new("127.0.0.1", port).timeout(Duration::from_secs(5))).unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn drain(spool: &Spool, mailer: &SmtpMailer, policy: RetryPolicy) -> DrainReport {
    Drainer::new(spool, mailer, DrainOptions::default().policy(policy))
        .run(std::future::pending())
        .await
        .unwrap()
}

/// Queued, in flight, deferred, failed.
async fn counts(spool: &Spool) -> (u64, u64, u64, u64) {
    let s = spool.status().await.unwrap();
    (s.queued, s.in_flight, s.deferred, s.failed)
}

/// A port on which nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A spool in `dir` with messages 0, 1 and 2 queued.
async fn spool_of_three(dir: &Path) -> Spool {
    let spool = Spool::open(dir).unwrap();
    for i in 0..3 {
        spool.send(&email(i)).await.unwrap();
    }
    spool
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn enqueued_mail_is_drained_into_a_real_server_and_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let batch: Vec<Email> = (0..20).map(email).collect();
    let report = spool.send_messages(&batch).await.unwrap();
    assert_eq!(report.delivered(), 20);
    let queued = files(&dir.path().join("new"));
    assert_eq!(queued.len(), 20);
    for name in &queued {
        let mode = std::fs::metadata(dir.path().join("new").join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert!(files(&dir.path().join("tmp")).is_empty());
    assert_eq!(spool.status().await.unwrap().queued, 20);

    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let report = drain(&spool, &smtp(server.port), RetryPolicy::default()).await;
    assert_eq!((report.sent, report.deferred, report.failed), (20, 0, 0));
    assert_eq!(report.exit_code(), 0);
    let mut ids = server.message_ids();
    ids.sort();
    let mut expected: Vec<String> = batch.iter().map(|e| e.message_id.clone()).collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "each message exactly once, the bytes enqueued"
    );
    assert_eq!(counts(&spool).await, (0, 0, 0, 0));
}

#[tokio::test]
async fn deferred_mail_waits_for_its_time_then_goes() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    spool.send(&email(1)).await.unwrap();
    let policy = RetryPolicy {
        base: Duration::from_secs(3600),
        cap: Duration::from_secs(3600),
        ..RetryPolicy::default()
    };

    let busy =
        Peer::start(Script::default().on("RCPT", Act::Reply("451 4.3.0 try again later"))).await;
    let before = now_ms();
    let report = drain(&spool, &smtp(busy.port), policy).await;
    assert_eq!((report.sent, report.deferred), (0, 1));
    assert_eq!(report.exit_code(), 75);
    let deferred = files(&dir.path().join("deferred"));
    assert_eq!(deferred.len(), 1);
    let (due, id) = deferred[0].split_once('-').unwrap();
    let due: u64 = due.parse().unwrap();
    assert!(
        due >= before && due <= now_ms() + 3_600_000,
        "due {due}: within the backoff's cap"
    );
    let status = spool.status().await.unwrap();
    assert_eq!((status.queued, status.deferred), (0, 1));

    // Time passes by renaming: due in an hour, a drain claims nothing and the server
    // sees nothing; due a moment ago, it goes.
    let deferred_dir = dir.path().join("deferred");
    let due_at = |ms: u64| deferred_dir.join(format!("{ms:013}-{id}"));
    std::fs::rename(
        deferred_dir.join(&deferred[0]),
        due_at(now_ms() + 3_600_000),
    )
    .unwrap();
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = smtp(server.port);
    let report = drain(&spool, &mailer, policy).await;
    assert_eq!((report.sent, report.deferred), (0, 0));
    assert!(spool.peek(10).await.unwrap().is_empty());
    assert!(server.received().is_empty());

    let later = deferred_dir.join(&files(&deferred_dir)[0]);
    std::fs::rename(later, due_at(now_ms() - 1)).unwrap();
    let peeked = spool.peek(10).await.unwrap();
    assert_eq!(peeked.len(), 1);
    assert_eq!(peeked[0].attempts, 1, "the attempt is recorded");
    assert!(
        peeked[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("try again later")
    );
    let report = drain(&spool, &mailer, policy).await;
    assert_eq!(report.sent, 1);
    assert_eq!(server.received().len(), 1);
    assert!(files(&deferred_dir).is_empty());
}

#[tokio::test]
async fn exhausted_and_permanent_failures_are_dead_lettered_and_retry_failed_brings_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let first = email(1);
    let second = email(2);
    spool.send(&first).await.unwrap();

    // Transient failures until the attempts run out (backoff 0 so each drain retries).
    let busy = Peer::start(Script::default().on("RCPT", Act::Reply("451 4.3.0 greylisted"))).await;
    let policy = RetryPolicy {
        max_attempts: 3,
        base: Duration::ZERO,
        cap: Duration::ZERO,
        ..RetryPolicy::default()
    };
    let mut totals = (0, 0);
    for _ in 0..3 {
        let r = drain(&spool, &smtp(busy.port), policy).await;
        totals = (totals.0 + r.deferred, totals.1 + r.failed);
    }
    assert_eq!(
        totals,
        (2, 1),
        "two deferrals, then the third attempt gives up"
    );

    // A permanent refusal goes straight to failed/.
    spool.send(&second).await.unwrap();
    let refusing =
        Peer::start(Script::default().on("MAIL", Act::Reply("550 5.7.1 sender blocked"))).await;
    let r = drain(&spool, &smtp(refusing.port), policy).await;
    assert_eq!((r.failed, r.exit_code()), (1, 1));

    let failed = files(&dir.path().join("failed"));
    assert_eq!(
        failed.len(),
        4,
        "two records, each with its .error: {failed:?}"
    );
    let errors: Vec<String> = failed
        .iter()
        .filter(|n| n.ends_with(".error"))
        .map(|n| std::fs::read_to_string(dir.path().join("failed").join(n)).unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("greylisted") && e.contains("attempts: 3")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("550") && e.contains("sender blocked")),
        "{errors:?}"
    );
    let status = spool.status().await.unwrap();
    assert_eq!((status.queued, status.deferred, status.failed), (0, 0, 2));

    assert_eq!(spool.retry_failed().await.unwrap(), 2);
    assert!(files(&dir.path().join("failed")).is_empty());
    let status = spool.status().await.unwrap();
    assert_eq!((status.queued, status.failed), (2, 0));
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let r = drain(&spool, &smtp(server.port), policy).await;
    assert_eq!(r.sent, 2);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn corrupt_records_are_quarantined_with_the_reason_and_the_drain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    spool.send(&email(1)).await.unwrap();
    let good = QueuedMessage::new(&email(2).render().unwrap());
    let record = good.to_record().unwrap();

    let mut cases: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    cases.insert("truncated", record[..record.len() / 2].to_vec());
    let mut bad_magic = record.clone();
    bad_magic[..4].copy_from_slice(b"PK\x03\x04");
    cases.insert("bad-magic", bad_magic);
    let mut bad_crc = record.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    cases.insert("bad-crc", bad_crc);
    let mut version = record.clone();
    version[4..6].copy_from_slice(&7u16.to_le_bytes());
    cases.insert("unknown-version", version);
    let mut huge = record.clone();
    huge[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.insert("huge-length", huge);
    cases.insert("empty", Vec::new());
    for (name, bytes) in &cases {
        std::fs::write(dir.path().join("new").join(name), bytes).unwrap();
    }

    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let report = drain(&spool, &smtp(server.port), RetryPolicy::default()).await;
    assert_eq!(report.sent, 1, "the good message still goes");
    assert_eq!(report.quarantined, cases.len() as u64);
    assert_eq!(report.exit_code(), 1);
    let failed = dir.path().join("failed");
    for (name, bytes) in &cases {
        assert_eq!(
            &std::fs::read(failed.join(name)).unwrap(),
            bytes,
            "{name} moved as it was"
        );
        let reason = std::fs::read_to_string(failed.join(format!("{name}.error"))).unwrap();
        let expect = match *name {
            "truncated" | "empty" => "truncated",
            "bad-magic" => "bad magic",
            "bad-crc" => "CRC mismatch",
            "unknown-version" => "unknown record format version 7",
            "huge-length" => "length field 4294967295 exceeds",
            _ => unreachable!(),
        };
        assert!(reason.contains(expect), "{name}: {reason}");
    }
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn an_unreachable_server_spends_no_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_of_three(dir.path()).await;
    let report = drain(&spool, &smtp(closed_port()), RetryPolicy::default()).await;
    assert_eq!((report.sent, report.deferred, report.released), (0, 0, 3));
    assert!(
        report.unreachable.as_deref().unwrap().contains("connect"),
        "{report:?}"
    );
    assert_eq!(report.exit_code(), 75);
    let peeked = spool.peek(10).await.unwrap();
    assert_eq!(peeked.len(), 3);
    assert!(
        peeked
            .iter()
            .all(|m| m.attempts == 0 && m.last_error.is_none())
    );
}

#[tokio::test]
async fn a_recipient_refused_for_now_gets_a_later_attempt_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let two = Email::builder()
        .from("site@example.com")
        .to("full@example.com")
        .to("ok@example.com")
        .subject("two")
        .build()
        .unwrap();
    spool.send(&two).await.unwrap();
    let peer =
        Peer::start(Script::default().on("RCPT TO:<full@", Act::Reply("452 4.2.2 mailbox full")))
            .await;
    let report = drain(&spool, &smtp(peer.port), RetryPolicy::default()).await;
    assert_eq!((report.sent, report.deferred), (1, 1));
    let deferred = spool_messages(&dir.path().join("deferred"));
    assert_eq!(deferred.len(), 1);
    assert_eq!(deferred[0].recipients, ["full@example.com"]);
    assert_eq!(deferred[0].attempts, 1);
    assert!(
        deferred[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("mailbox full")
    );
}

fn spool_messages(dir: &Path) -> Vec<QueuedMessage> {
    // Records in deferred/ are due in the future, so peek() would skip them.
    files(dir)
        .iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(n)).unwrap();
            QueuedMessage::from_record(&bytes).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_dead_drainers_claims_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    spool.send(&email(1)).await.unwrap();
    // A drainer that died: its claim directory holds a message and an unlocked .lock.
    let dead = dir.path().join("cur").join("99999-deadbeef");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join(".lock"), b"").unwrap();
    let name = files(&dir.path().join("new")).remove(0);
    std::fs::rename(dir.path().join("new").join(&name), dead.join(&name)).unwrap();
    assert_eq!(spool.status().await.unwrap().in_flight, 1);

    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let report = drain(&spool, &smtp(server.port), RetryPolicy::default()).await;
    assert_eq!(report.sent, 1);
    assert!(!dead.exists());
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_spool_under_a_directory_whose_name_is_not_utf8_acks_defers_and_releases() {
    use std::os::unix::ffi::OsStrExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent
        .path()
        .join(std::ffi::OsStr::from_bytes(b"spool-\xff"));
    let spool = spool_of_three(&dir).await;

    // Released: the server cannot be reached.
    let report = drain(&spool, &smtp(closed_port()), RetryPolicy::default()).await;
    assert_eq!((report.sent, report.released), (0, 3), "{report:?}");
    assert_eq!(files(&dir.join("new")).len(), 3);

    // Deferred: the server says try later for one recipient only.
    let busy =
        Peer::start(Script::default().on("RCPT TO:<user1@", Act::Reply("451 4.3.0 busy"))).await;
    let report = drain(&spool, &smtp(busy.port), RetryPolicy::default()).await;
    assert_eq!((report.sent, report.deferred), (2, 1), "{report:?}");

    // Acked: nothing left claimed, nothing left queued but the deferred one.
    assert_eq!(counts(&spool).await, (0, 0, 1, 0));
    let deferred = spool_messages(&dir.join("deferred"));
    assert_eq!(deferred[0].recipients, ["user1@example.com"]);
    assert_eq!(deferred[0].attempts, 1);
}

/// A message whose record would exceed the spool's 64 MiB limit.
fn too_large() -> Email {
    Email::builder()
        .from("site@example.com")
        .to("big@example.com")
        .subject("too large")
        .attach("big.bin", "application/octet-stream", vec![7; 49 << 20])
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_batch_with_a_message_too_large_reports_it_failed_for_good_and_queues_the_rest_once() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let batch = vec![email(0), too_large(), email(2)];
    let report = spool.send_messages(&batch).await.unwrap();
    assert_eq!(report.outcomes.len(), 3);
    assert!(matches!(report.outcomes[0], Outcome::Queued { .. }));
    assert!(matches!(report.outcomes[2], Outcome::Queued { .. }));
    let Outcome::Failed(error) = &report.outcomes[1] else {
        panic!("{:?}", report.outcomes[1]);
    };
    assert!(
        matches!(error, squall::mail::Error::Queue(QueueError::Encode { .. })),
        "{error:?}"
    );
    assert!(error.is_permanent(), "a retry cannot help: {error}");
    assert_eq!(spool.status().await.unwrap().queued, 2);

    // The caller retries only what failed: nothing is queued twice.
    let retry: Vec<Email> = report
        .outcomes
        .iter()
        .zip(&batch)
        .filter(|(o, _)| matches!(o, Outcome::Failed(_)))
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(retry.len(), 1);
    let again = spool.send_messages(&retry).await.unwrap();
    assert!(matches!(again.outcomes[..], [Outcome::Failed(_)]));
    let mut ids: Vec<String> = spool_messages(&dir.path().join("new"))
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    ids.sort();
    let mut expected = vec![batch[0].message_id.clone(), batch[2].message_id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
}
