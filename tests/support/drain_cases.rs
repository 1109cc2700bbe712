//! Drain cases that must hold on every queue (the disk spool and Redis): each takes the
//! queue's URL and the extra `spool-drain` arguments that queue needs.

use std::collections::BTreeSet;
use std::process::Stdio;

use squall::mail::{Email, QueuedMessage, queue_from_url};

use super::cli::{kill9, run, spool_drain};
use super::scripted_smtp::{Act, Peer, Script};
use super::wait_until;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Enqueues `emails` on the queue at `url`.
pub fn enqueue(url: &str, emails: &[Email]) {
    let queue = queue_from_url(url).unwrap();
    let rt = runtime();
    for email in emails {
        let message = QueuedMessage::new(&email.render().unwrap());
        rt.block_on(queue.enqueue(&message)).unwrap();
    }
}

/// `spool-drain` on `url` with `extra` arguments, sending to the peer on `port`.
fn drain(url: &str, port: u16, extra: &[&str]) -> std::process::Command {
    let mut cmd = spool_drain();
    cmd.args([
        "--queue",
        url,
        "--via",
        &format!("smtp://127.0.0.1:{port}?timeout=120"),
    ])
    .args(extra);
    cmd
}

fn email(to: &[&str], subject: &str) -> Email {
    let mut b = Email::builder()
        .from("site@example.com")
        .subject(subject)
        .text("body");
    for t in to {
        b = b.to(*t);
    }
    b.build().unwrap()
}

/// A server greylists one recipient (450) and does not know another (550). A message to
/// both goes to neither; one to them and a third goes to the third. Both must wait for
/// the greylisted recipient alone, the unknown one recorded in the report, and go to the
/// greylisted recipient only on the next attempt.
pub fn greylisted_and_unknown_recipients(url: &str, extra: &[&str]) {
    let both = email(&["grey@example.com", "gone@example.com"], "both refused");
    let three = email(
        &["ok@example.com", "grey@example.com", "gone@example.com"],
        "one of three accepted",
    );
    enqueue(url, &[both.clone(), three.clone()]);
    let rt = runtime();
    let refusing = rt.block_on(Peer::start(
        Script::default()
            .on(
                "RCPT TO:<grey@",
                Act::Reply("450 4.2.0 greylisted, try again later"),
            )
            .on("RCPT TO:<gone@", Act::Reply("550 5.1.1 user unknown")),
    ));
    let out = run(drain(url, refusing.port, extra).arg("--json"));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(75), "{json}");
    assert_eq!(
        (&json["sent"], &json["deferred"], &json["failed"]),
        (&1.into(), &2.into(), &0.into()),
        "{json}"
    );
    assert_eq!(refusing.accepted(), vec![three.message_id.clone()]);
    let refused = json["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{json}");
    for r in refused {
        assert_eq!(r["recipient"], "gone@example.com", "{json}");
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("550 5.1.1 user unknown")
        );
    }
    assert_eq!(json["rejected_recipients"], 2);

    // What is kept for the next attempt: the greylisted recipient alone, and a true
    // account of this one.
    let queue = queue_from_url(url).unwrap();
    assert_eq!(rt.block_on(queue.retry_deferred(None)).unwrap(), 2);
    let waiting = rt.block_on(queue.peek(10)).unwrap();
    assert_eq!(waiting.len(), 2);
    for m in &waiting {
        assert_eq!(m.recipients, vec!["grey@example.com".to_owned()], "{m:?}");
        assert_eq!(m.attempts, 1);
        let error = m.last_error.as_deref().unwrap();
        assert!(
            error.contains("greylisted") && error.contains("user unknown"),
            "{error}"
        );
        if m.message_id == both.message_id {
            assert!(!error.contains("the message was sent"), "{error}");
            assert!(error.contains("nothing was sent"), "{error}");
        }
    }

    let accepting = rt.block_on(Peer::start(Script::default()));
    let out = run(&mut drain(url, accepting.port, extra));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        accepting.rcpts(),
        vec!["RCPT TO:<grey@example.com>"; 2],
        "only the greylisted recipient is tried again"
    );
    let sent: BTreeSet<String> = accepting.accepted().into_iter().collect();
    assert_eq!(sent, BTreeSet::from([both.message_id, three.message_id]));
}

/// The queue at `url` holds `all` (100 or so messages, one batch at `--concurrency 4`).
/// A drainer sends them over 4 connections to a server that, after 20 accepted, holds
/// back its reply to every later message; once all 4 connections wait, the drainer is
/// killed with SIGKILL. `before_restart` runs then (Redis: wait out the lease), and a
/// new drainer sends what is left. Only a message between the server's 250 and its ack
/// may be sent twice: at most one per connection.
pub fn a_drainer_killed_mid_batch_resends_at_most_one_per_connection(
    url: &str,
    all: &BTreeSet<String>,
    extra: &[&str],
    before_restart: impl FnOnce(),
) {
    let rt = runtime();
    let holding = rt.block_on(Peer::start(Script::default().hold_after(20)));
    let mut child = drain(url, holding.port, extra)
        .args(["--concurrency", "4"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("every connection to wait for the final reply", || {
        holding.held().len() == 4
    });
    kill9(&mut child);
    let before: BTreeSet<String> = holding.accepted().into_iter().collect();
    assert_eq!(before.len(), 20);
    before_restart();

    let finisher = rt.block_on(Peer::start(Script::default()));
    let out = run(drain(url, finisher.port, extra).args(["--concurrency", "4"]));
    assert_eq!(out.status.code(), Some(0));
    let after = finisher.accepted();
    let after_set: BTreeSet<String> = after.iter().cloned().collect();
    assert_eq!(after.len(), after_set.len(), "one drainer sends each once");
    let union: BTreeSet<String> = before.union(&after_set).cloned().collect();
    assert_eq!(&union, all, "nothing lost, nothing made up");
    let twice: Vec<&String> = before.intersection(&after_set).collect();
    assert!(
        twice.len() <= 4,
        "{} of the {} messages accepted before the kill were sent again: {twice:?}",
        twice.len(),
        before.len()
    );
}
