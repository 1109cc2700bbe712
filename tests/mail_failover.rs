//! `failover(...)` and `roundrobin(...)` against real servers: a port with nothing
//! listening, a scripted peer that answers 421, and live aiosmtpd servers, counting what
//! each one received. Also through `spool-drain --via`, as users run it.
#![cfg(all(feature = "mail", feature = "cli"))]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use squall::mail::{
    Email, Error, Failover, Mailer, Outcome, SmtpConfig, SmtpMailer, Spool, SpoolConfig, Transport,
    from_url,
};
use support::aiosmtpd::{Aiosmtpd, Mode, Options};
use support::cli::{run, spool_drain};
use support::numbered_email as email;
use support::scripted_smtp::{Act, CONNECTED, Peer, Script};

/// A loopback port with nothing listening on it.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn smtp(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}?timeout=10")
}

fn ids(emails: &[Email]) -> BTreeSet<String> {
    emails.iter().map(|e| e.message_id.clone()).collect()
}

/// The Message-IDs `server` received, checking that none came twice.
fn received_once(server: &Aiosmtpd) -> BTreeSet<String> {
    let all = server.message_ids();
    let set: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(set.len(), all.len(), "a message arrived twice: {all:?}");
    set
}

fn connections(peer: &Peer) -> usize {
    peer.commands().iter().filter(|c| *c == CONNECTED).count()
}

fn all_sent(outcomes: &[Outcome]) {
    for outcome in outcomes {
        assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_moves_past_a_dead_port_to_the_live_server() {
    let live = Aiosmtpd::start(Mode::Plain, Options::default());
    let url = format!("failover({} {})", smtp(dead_port()), smtp(live.port));
    let mailer = from_url(&url).unwrap();
    let batch: Vec<Email> = (0..5).map(email).collect();
    let report = mailer.send_messages(&batch).await.unwrap();
    all_sent(&report.outcomes);
    assert_eq!(received_once(&live), ids(&batch));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_421_moves_on_and_the_server_is_skipped_until_its_cooldown_ends() {
    let live = Aiosmtpd::start(Mode::Plain, Options::default());
    let closing = Peer::start(
        Script::default().on("MAIL", Act::Reply("421 4.3.2 shutting down, try another")),
    )
    .await;
    let transports: Vec<Box<dyn Transport>> = vec![
        Box::new(SmtpMailer::new(SmtpConfig::new("127.0.0.1", closing.port)).unwrap()),
        Box::new(SmtpMailer::new(SmtpConfig::new("127.0.0.1", live.port)).unwrap()),
    ];
    let cooldown = Duration::from_millis(500);
    let mailer = Failover::in_order(transports).cooldown(cooldown);

    let first: Vec<Email> = (0..4).map(email).collect();
    all_sent(&mailer.send_messages(&first).await.unwrap().outcomes);
    assert!(closing.accepted().is_empty());
    assert_eq!(received_once(&live), ids(&first));
    let tried = connections(&closing);
    assert!(tried >= 1, "the first server was tried first");

    // Cooling down: the next batch goes straight to the second server.
    let second: Vec<Email> = (4..8).map(email).collect();
    all_sent(&mailer.send_messages(&second).await.unwrap().outcomes);
    assert_eq!(
        connections(&closing),
        tried,
        "tried again during its cooldown"
    );

    // Once the cooldown is over, the first server is tried again (and fails again).
    tokio::time::sleep(cooldown).await;
    let third: Vec<Email> = (8..10).map(email).collect();
    all_sent(&mailer.send_messages(&third).await.unwrap().outcomes);
    assert!(
        connections(&closing) > tried,
        "not tried again after its cooldown"
    );
    assert!(closing.accepted().is_empty());
    let all: BTreeSet<String> = ids(&first)
        .into_iter()
        .chain(ids(&second))
        .chain(ids(&third))
        .collect();
    assert_eq!(received_once(&live), all);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_is_the_messages_own_and_does_not_move_on() {
    let refusing = Aiosmtpd::start(
        Mode::Plain,
        Options {
            reject_prefix: Some("nobody"),
            ..Options::default()
        },
    );
    let other = Aiosmtpd::start(Mode::Plain, Options::default());
    let url = format!("failover({} {})", smtp(refusing.port), smtp(other.port));
    let mailer = from_url(&url).unwrap();
    let refused = Email::builder()
        .from("site@example.com")
        .to("nobody@example.com")
        .build()
        .unwrap();
    let report = mailer.send_messages(&[refused, email(1)]).await.unwrap();
    assert!(
        matches!(&report.outcomes[0], Outcome::Failed(e) if e.is_permanent()),
        "{:?}",
        report.outcomes[0]
    );
    assert!(matches!(report.outcomes[1], Outcome::Sent { .. }));
    assert_eq!(received_once(&refusing).len(), 1);
    assert!(
        other.received().is_empty(),
        "a refused message went to the next server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_spreads_messages_over_both_servers_and_sends_none_twice() {
    let a = Aiosmtpd::start(Mode::Plain, Options::default());
    let b = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = from_url(&format!("roundrobin({} {})", smtp(a.port), smtp(b.port))).unwrap();

    // One at a time: they alternate.
    let singles: Vec<Email> = (0..10).map(email).collect();
    for message in &singles {
        mailer.send(message).await.unwrap();
    }
    assert_eq!(received_once(&a).len(), 5);
    assert_eq!(received_once(&b).len(), 5);

    // One batch: spread over both too.
    let batch: Vec<Email> = (10..20).map(email).collect();
    all_sent(&mailer.send_messages(&batch).await.unwrap().outcomes);
    let (got_a, got_b) = (received_once(&a), received_once(&b));
    assert_eq!((got_a.len(), got_b.len()), (10, 10));
    assert!(got_a.is_disjoint(&got_b), "a message went to both servers");
    let all: BTreeSet<String> = ids(&singles).into_iter().chain(ids(&batch)).collect();
    assert_eq!(got_a.union(&got_b).cloned().collect::<BTreeSet<_>>(), all);
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_moves_on_when_one_server_is_down() {
    let live = Aiosmtpd::start(Mode::Plain, Options::default());
    let url = format!("roundrobin({} {})", smtp(dead_port()), smtp(live.port));
    let mailer = from_url(&url).unwrap();
    let batch: Vec<Email> = (0..6).map(email).collect();
    all_sent(&mailer.send_messages(&batch).await.unwrap().outcomes);
    assert_eq!(received_once(&live), ids(&batch));
}

#[tokio::test(flavor = "multi_thread")]
async fn when_every_server_is_down_the_setup_error_comes_back() {
    let url = format!("failover({} {})", smtp(dead_port()), smtp(dead_port()));
    let mailer = from_url(&url).unwrap();
    match mailer.send_messages(&[email(0), email(1)]).await {
        Err(Error::Smtp(e)) => assert!(e.is_setup(), "{e}"),
        other => panic!("expected the servers' setup error, got {other:?}"),
    }
}

#[test]
fn bad_forms_are_url_errors_naming_the_bad_part() {
    for (url, expect) in [
        ("failover(smtp://a", "no closing parenthesis"),
        ("roundrobin(smtp://a)", "at least two transports"),
        (
            "failover(smtp://u:hunter2@a memory://)",
            "transport 2 (memory://)",
        ),
        (
            "failover(smtp://u:hunter2@a smtp://b?tls=always)",
            "tls=always is not known",
        ),
        (
            "failover(smtp://a roundrobin(smtp://b))",
            "transport 2 (roundrobin(smtp://b)):",
        ),
    ] {
        let Err(e) = from_url(url) else {
            panic!("{url} was accepted")
        };
        let text = e.to_string();
        assert!(text.contains(expect), "{url}: {text}");
        assert!(!text.contains("hunter2"), "{url}: password leaked: {text}");
    }
}

fn fill(dir: &Path, n: usize) -> BTreeSet<String> {
    let spool = Spool::open(SpoolConfig::new(dir).durable(false)).unwrap();
    let batch: Vec<Email> = (0..n).map(email).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(spool.send_messages(&batch)).unwrap();
    ids(&batch)
}

#[test]
fn spool_drain_sends_through_a_failover_past_a_dead_server() {
    let dir = tempfile::tempdir().unwrap();
    let queued = fill(dir.path(), 20);
    let live = Aiosmtpd::start(Mode::Plain, Options::default());
    let via = format!("failover({} {})", smtp(dead_port()), smtp(live.port));
    let queue = format!("spool://{}", dir.path().display());
    let out = run(spool_drain().args(["--queue", &queue, "--via", &via, "--json"]));
    assert_eq!(out.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sent"], 20, "{summary}");
    assert_eq!(received_once(&live), queued);

    // Nothing is left: a second run sends nothing more.
    let again = run(spool_drain().args(["--queue", &queue, "--via", &via]));
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(received_once(&live), queued);
}

#[test]
fn spool_drain_refuses_a_bad_failover_with_usage_status() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("spool://{}", dir.path().display());
    let out = run(spool_drain().args(["--queue", &queue, "--via", "failover(smtp://a)"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least two transports"), "{stderr}");
}

#[test]
fn spool_drain_with_every_server_down_gives_the_mail_back_for_later() {
    let dir = tempfile::tempdir().unwrap();
    let queued = fill(dir.path(), 5);
    let queue = format!("spool://{}", dir.path().display());
    let down = format!("failover({} {})", smtp(dead_port()), smtp(dead_port()));
    let out = run(spool_drain().args(["--queue", &queue, "--via", &down, "--json"]));
    assert_eq!(out.status.code(), Some(75), "unreachable: try again later");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sent"], 0, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");

    // Nothing was charged or lost: the next run, with a server up, sends all of it.
    let live = Aiosmtpd::start(Mode::Plain, Options::default());
    let up = format!("failover({} {})", smtp(dead_port()), smtp(live.port));
    let out = run(spool_drain().args(["--queue", &queue, "--via", &up]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(received_once(&live), queued);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_mixed_batch_only_the_message_refused_with_421_moves_on() {
    let live = Aiosmtpd::start(Mode::Plain, Options::default());
    let picky = Peer::start(Script::default().on(
        "RCPT TO:<user3@",
        Act::Reply("421 4.7.0 too busy for this one, closing"),
    ))
    .await;
    let transports: Vec<Box<dyn Transport>> = vec![
        Box::new(SmtpMailer::new(SmtpConfig::new("127.0.0.1", picky.port)).unwrap()),
        Box::new(SmtpMailer::new(SmtpConfig::new("127.0.0.1", live.port)).unwrap()),
    ];
    let mailer = Failover::in_order(transports);
    let batch: Vec<Email> = (0..6).map(email).collect();
    all_sent(&mailer.send_messages(&batch).await.unwrap().outcomes);

    let third = batch[3].message_id.clone();
    let at_picky: BTreeSet<String> = picky.accepted().into_iter().collect();
    assert_eq!(picky.accepted().len(), at_picky.len(), "accepted twice");
    let mut others = ids(&batch);
    others.remove(&third);
    assert_eq!(at_picky, others);
    assert_eq!(received_once(&live), BTreeSet::from([third]));
}
