//! Faults from a scripted SMTP peer: each ends in the right class, with the server's reply
//! in the error, and none panics or hangs (the tests set short step timeouts).
#![cfg(feature = "mail")]

mod support;

use std::time::Duration;

use squall::mail::{
    Email, Error, ErrorClass, Mailer, Outcome, SmtpConfig, SmtpError, SmtpMailer, Step, Tls,
};
use support::scripted_smtp::{Act, CONNECTED, PIPELINED, Peer, Script};

const SHORT: Duration = Duration::from_millis(400);

fn email(to: &[&str]) -> Email {
    let mut b = Email::builder()
        .from("site@example.com")
        .subject("s")
        .text("body");
    for t in to {
        b = b.to(*t);
    }
    b.build().unwrap()
}

/// The script as given (the peer offers PIPELINING) and without PIPELINING, so both
/// ways of sending a transaction are tried.
fn both(script: Script) -> [Script; 2] {
    [script.clone(), script.without_pipelining()]
}

fn mailer(port: u16) -> SmtpMailer {
    SmtpMailer::new(SmtpConfig::new("127.0.0.1", port).timeout(SHORT)).unwrap()
}

/// Sends one message and returns the SMTP error it failed with.
async fn fails_with(script: Script, to: &[&str]) -> (SmtpError, Peer) {
    let peer = Peer::start(script).await;
    let result = tokio::time::timeout(Duration::from_secs(20), mailer(peer.port).send(&email(to)))
        .await
        .expect("the mailer hung past every step timeout");
    match result {
        Err(Error::Smtp(e)) => (e, peer),
        other => panic!("expected an SMTP error, got {other:?}"),
    }
}

#[tokio::test]
async fn greeting_421_is_setup_with_the_reply() {
    let script = Script {
        greeting: Act::Reply("421 4.3.2 too busy, come back later"),
        ..Script::default()
    };
    let (e, _) = fails_with(script, &["a@example.com"]).await;
    assert_eq!(e.class(), ErrorClass::Setup);
    assert_eq!(e.code(), Some(421));
    assert_eq!(e.step(), Some(Step::Greeting));
    assert!(e.to_string().contains("too busy"), "{e}");
}

#[tokio::test]
async fn rcpt_4xx_are_transient() {
    for reply in [
        "450 4.2.1 mailbox busy",
        "451 4.3.0 local error",
        "452 4.5.3 too many recipients",
    ] {
        for script in both(Script::default().on("RCPT", Act::Reply(reply))) {
            let (e, peer) = fails_with(script, &["a@example.com"]).await;
            assert_eq!(e.class(), ErrorClass::Transient, "{reply}: {e}");
            assert_eq!(e.code(), Some(reply[..3].parse().unwrap()));
            assert_eq!(e.step(), Some(Step::RcptTo));
            assert!(e.to_string().contains(&reply[10..]), "{e}");
            // No DATA was sent for a message with no accepted recipient.
            let pipelined = peer.commands().iter().any(|c| c == PIPELINED);
            // Without pipelining no DATA is sent for a message with no accepted recipient;
            // with it, DATA went out with the group and was refused by the server.
            assert_eq!(
                peer.commands().iter().any(|c| c == "DATA"),
                pipelined,
                "{:?}",
                peer.commands()
            );
            assert!(!peer.commands().iter().any(|c| c.starts_with("<content")));
        }
    }
}

#[tokio::test]
async fn one_of_two_recipients_refused_with_550() {
    for script in both(Script::default().on("RCPT TO:<gone@", Act::Reply("550 5.1.1 user unknown")))
    {
        let peer = Peer::start(script).await;
        let report = mailer(peer.port)
            .send_messages(&[email(&["gone@example.com", "here@example.com"])])
            .await
            .unwrap();
        match &report.outcomes[0] {
            Outcome::Sent { rejected, .. } => {
                assert_eq!(rejected.len(), 1);
                assert_eq!(rejected[0].recipient, "gone@example.com");
                assert_eq!(rejected[0].error.class(), ErrorClass::Permanent);
                assert!(rejected[0].error.to_string().contains("user unknown"));
            }
            other => panic!("expected Sent, got {other:?}"),
        }
        let commands = peer.commands();
        assert!(
            commands.iter().any(|c| c.starts_with("<content")),
            "{commands:?}"
        );
    }
}

#[tokio::test]
async fn both_recipients_refused_fails_the_message_listing_each() {
    let script = Script::default()
        .on("RCPT", Act::Reply("550 5.1.1 user unknown"))
        .on("DATA", Act::Reply("554 5.5.1 no valid recipients"));
    for script in both(script) {
        let peer = Peer::start(script).await;
        let err = mailer(peer.port)
            .send(&email(&["a@example.com", "b@example.com"]))
            .await
            .unwrap_err();
        let Error::Refused { rejected } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(rejected.len(), 2);
        assert!(err.is_permanent());
        assert!(
            err.to_string().starts_with("nothing was sent"),
            "it must not claim that the message was sent: {err}"
        );
        assert!(
            err.to_string().contains("a@example.com") && err.to_string().contains("b@example.com")
        );
        assert!(err.to_string().contains("user unknown"), "{err}");
    }
}

/// A pipelining peer that answers DATA with 354 whatever came before, so that a failed
/// transaction still opens a data phase.
fn data_354_anyway(script: Script) -> Script {
    script.on("DATA", Act::Reply("354 end with <CRLF>.<CRLF>"))
}

/// Sends `first`, which must fail, then a message that must go through, on one mailer;
/// each send is guarded so that a hang fails the test. The first error, and the peer.
async fn fails_then_sends(script: Script, first: Email) -> (Error, Peer) {
    let peer = Peer::start(script).await;
    let m = mailer(peer.port);
    let err = tokio::time::timeout(Duration::from_secs(20), m.send(&first))
        .await
        .expect("the send hung in the data phase")
        .unwrap_err();
    tokio::time::timeout(
        Duration::from_secs(20),
        m.send(&email(&["here@example.com"])),
    )
    .await
    .expect("the second send hung")
    .unwrap();
    assert_eq!(peer.accepted().len(), 1, "{:?}", peer.commands());
    (err, peer)
}

/// How many connections the peer saw.
fn connections(peer: &Peer) -> usize {
    peer.commands().iter().filter(|c| *c == CONNECTED).count()
}

/// A pipelining server that refuses every recipient yet answers DATA with 354 waits for
/// content. The client ends the data phase with a lone "." (RFC 2920 §3.1), the server
/// refuses the empty transaction, and the connection carries the next message.
#[tokio::test]
async fn all_refused_but_data_354_ends_the_data_phase_and_keeps_the_connection() {
    let script = data_354_anyway(
        Script::default().on("RCPT TO:<gone", Act::Reply("550 5.1.1 user unknown")),
    );
    let (err, peer) =
        fails_then_sends(script, email(&["gone1@example.com", "gone2@example.com"])).await;
    let Error::Refused { rejected } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(rejected.len(), 2, "{err}");
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("user unknown"), "{err}");
    let commands = peer.commands();
    assert!(commands.iter().any(|c| c == PIPELINED), "{commands:?}");
    // The first data phase held the lone dot and nothing else.
    assert_eq!(
        commands
            .iter()
            .find(|c| c.starts_with("<content"))
            .map(String::as_str),
        Some("<content 0 bytes>"),
        "{commands:?}"
    );
    assert_eq!(connections(&peer), 1, "{commands:?}");
}

/// As above, but the server never answers the lone ".": the message still gets its
/// refusal within the step timeout, and the connection, out of step, is not reused.
#[tokio::test]
async fn all_refused_and_no_reply_to_the_empty_data_phase() {
    let script = Script {
        empty_data: Act::Silent,
        ..Script::default()
    };
    let script = data_354_anyway(script.on("RCPT TO:<gone", Act::Reply("550 5.1.1 user unknown")));
    let (err, peer) = fails_then_sends(script, email(&["gone@example.com"])).await;
    assert!(
        matches!(&err, Error::Smtp(e) if e.code() == Some(550) && e.step() == Some(Step::RcptTo)),
        "{err:?}"
    );
    assert_eq!(connections(&peer), 2, "{:?}", peer.commands());
}

/// A pipelining server that refuses MAIL FROM but takes the RCPTs and DATA: the client
/// ends the data phase with a lone "." rather than leave the server reading the next
/// command as content, so the failure is MAIL's and the connection stays usable.
#[tokio::test]
async fn mail_refused_but_data_354_ends_the_data_phase() {
    let script = data_354_anyway(
        Script::default().on("MAIL FROM:<banned@", Act::Reply("550 5.7.1 sender refused")),
    );
    let banned = Email::builder()
        .from("banned@example.com")
        .to("a@example.com")
        .subject("s")
        .text("body")
        .build()
        .unwrap();
    let (err, peer) = fails_then_sends(script, banned).await;
    assert!(
        matches!(&err, Error::Smtp(e) if e.code() == Some(550) && e.step() == Some(Step::MailFrom)),
        "{err:?}"
    );
    let commands = peer.commands();
    assert!(
        commands.iter().any(|c| c == "<content 0 bytes>"),
        "{commands:?}"
    );
    assert_eq!(connections(&peer), 1, "{commands:?}");
}

#[tokio::test]
async fn reply_552_after_data_is_permanent() {
    let script = Script {
        after_data: Act::Reply("552 5.3.4 message too big"),
        ..Script::default()
    };
    for script in both(script) {
        let (e, _) = fails_with(script, &["a@example.com"]).await;
        assert_eq!(e.class(), ErrorClass::Permanent);
        assert_eq!(e.code(), Some(552));
        assert_eq!(e.step(), Some(Step::Content));
        assert!(e.to_string().contains("message too big"));
    }
}

#[tokio::test]
async fn connection_dropped_mid_data_is_transient() {
    let script = Script {
        in_data: Some(Act::Close),
        ..Script::default()
    };
    let (e, peer) = fails_with(script, &["a@example.com"]).await;
    assert_eq!(e.class(), ErrorClass::Transient, "{e}");
    assert_eq!(e.step(), Some(Step::Content));
    assert!(peer.commands().contains(&"<content started>".to_string()));
}

#[tokio::test]
async fn silent_server_trips_the_step_timeout() {
    // Silent from the start: the greeting times out, a setup failure.
    let script = Script {
        greeting: Act::Silent,
        ..Script::default()
    };
    let (e, _) = fails_with(script, &["a@example.com"]).await;
    assert!(
        matches!(
            e,
            SmtpError::Timeout {
                step: Step::Greeting,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Setup);

    // Silent after the content: the message is in doubt, so it is transient.
    let script = Script {
        after_data: Act::Silent,
        ..Script::default()
    };
    let (e, _) = fails_with(script, &["a@example.com"]).await;
    assert!(
        matches!(e, SmtpError::Timeout { step: Step::Content, after, .. } if after == SHORT),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn connection_refused_is_setup() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = mailer(port)
        .send(&email(&["a@example.com"]))
        .await
        .unwrap_err();
    let Error::Smtp(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(e.class(), ErrorClass::Setup);
    assert_eq!(e.step(), Some(Step::Connect));
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    // The operating system's error is kept as the source, and the message still names
    // the server, the step and the reason.
    let source = std::error::Error::source(e).expect("the I/O error is the source");
    let io = source
        .downcast_ref::<std::io::Error>()
        .unwrap_or_else(|| panic!("not an io::Error: {source:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        e.to_string(),
        format!("127.0.0.1:{port}: connect failed: {io}")
    );
}

/// Sends one message with `tls` to a peer playing `script`; the SMTP error it fails with.
async fn tls_failure(script: Script, tls: Tls) -> SmtpError {
    let peer = Peer::start(script).await;
    let config = SmtpConfig::new("localhost", peer.port)
        .tls(tls)
        .timeout(SHORT);
    let err = SmtpMailer::new(config)
        .unwrap()
        .send(&email(&["a@example.com"]))
        .await
        .unwrap_err();
    match err {
        Error::Smtp(e) => e,
        other => panic!("expected an SMTP error, got {other:?}"),
    }
}

#[tokio::test]
async fn failed_tls_handshakes_are_setup() {
    // STARTTLS offered and accepted, then garbage instead of a TLS server hello.
    let script = Script::default()
        .on("EHLO", Act::Reply("250-scripted.test\n250 STARTTLS"))
        .on("STARTTLS", Act::BreakTls);
    let e = tls_failure(script, Tls::Required).await;
    assert!(
        matches!(
            e,
            SmtpError::Connection {
                step: Step::StartTls,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Setup, "{e}");
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");

    // Implicit TLS against a plain-text server.
    let e = tls_failure(Script::default(), Tls::Implicit).await;
    assert!(
        matches!(
            e,
            SmtpError::Connection {
                step: Step::TlsHandshake,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Setup, "{e}");
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");

    // tls=required, but STARTTLS is not offered.
    let e = tls_failure(Script::default(), Tls::Required).await;
    assert!(matches!(e, SmtpError::Unsupported { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Setup, "{e}");
    assert!(e.to_string().contains("does not offer STARTTLS"), "{e}");
}

#[tokio::test]
async fn auth_535_is_setup() {
    let peer = Peer::start(
        Script::default()
            .on(
                "EHLO",
                Act::Reply("250-scripted.test\n250 AUTH PLAIN LOGIN"),
            )
            .on(
                "AUTH",
                Act::Reply("535 5.7.8 authentication credentials invalid"),
            ),
    )
    .await;
    let m = SmtpMailer::new(
        SmtpConfig::new("127.0.0.1", peer.port)
            .credentials("user", "pw")
            .timeout(SHORT),
    )
    .unwrap();
    let err = m.send(&email(&["a@example.com"])).await.unwrap_err();
    let Error::Smtp(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(e.class(), ErrorClass::Setup);
    assert_eq!(e.code(), Some(535));
    assert!(e.to_string().contains("credentials invalid"));
    assert!(!peer.commands().iter().any(|c| c.starts_with("MAIL")));
}

#[tokio::test]
async fn a_failed_message_does_not_stop_the_batch_and_the_connection_is_reset() {
    for script in both(Script::default().on("RCPT TO:<full@", Act::Reply("452 4.2.2 mailbox full")))
    {
        let peer = Peer::start(script).await;
        let m = SmtpMailer::new(
            SmtpConfig::new("127.0.0.1", peer.port)
                .max_connections(1)
                .timeout(SHORT),
        )
        .unwrap();
        let report = m
            .send_messages(&[
                email(&["ok1@example.com"]),
                email(&["full@example.com"]),
                email(&["ok2@example.com"]),
            ])
            .await
            .unwrap();
        assert!(matches!(report.outcomes[0], Outcome::Sent { .. }));
        assert!(matches!(&report.outcomes[1], Outcome::Failed(e) if e.is_transient()));
        assert!(matches!(report.outcomes[2], Outcome::Sent { .. }));
        let commands = peer.commands();
        assert_eq!(
            commands.iter().filter(|c| *c == CONNECTED).count(),
            1,
            "{commands:?}"
        );
        assert!(commands.iter().any(|c| c == "RSET"), "{commands:?}");
        assert_eq!(
            commands
                .iter()
                .filter(|c| c.starts_with("<content"))
                .count(),
            2,
            "{commands:?}"
        );
    }
}

#[tokio::test]
async fn pipelining_is_used_only_when_offered() {
    for (script, expect) in both(Script::default()).into_iter().zip([true, false]) {
        let peer = Peer::start(script).await;
        mailer(peer.port)
            .send(&email(&["a@example.com", "b@example.com"]))
            .await
            .unwrap();
        let commands = peer.commands();
        assert_eq!(
            commands.iter().any(|c| c == PIPELINED),
            expect,
            "{commands:?}"
        );
        assert_eq!(commands.iter().filter(|c| c.starts_with("RCPT")).count(), 2);
        assert!(
            commands.iter().any(|c| c.starts_with("<content")),
            "{commands:?}"
        );
    }
}

/// A server that answers 421 and closes after 3 messages on a connection, as servers
/// under a rate limit do. The 421 is the server closing the channel, not a verdict on
/// the next message: that message goes out at once on a new connection, and all 10 are
/// sent over one pooled connection at a time.
#[tokio::test]
async fn a_421_at_mail_from_resends_on_a_new_connection() {
    for script in both(Script::default().messages_per_connection(3)) {
        let peer = Peer::start(script).await;
        let mailer = SmtpMailer::new(
            SmtpConfig::new("127.0.0.1", peer.port)
                .timeout(SHORT)
                .max_connections(1),
        )
        .unwrap();
        let batch: Vec<Email> = (0..10)
            .map(|i| email(&[&format!("u{i}@example.com")]))
            .collect();
        let report = mailer.send_messages(&batch).await.unwrap();
        for (i, outcome) in report.outcomes.iter().enumerate() {
            assert!(
                matches!(outcome, Outcome::Sent { .. }),
                "message {i}: {outcome:?}"
            );
        }
        let log = peer.commands();
        let connections = log.iter().filter(|c| *c == CONNECTED).count();
        let contents = log.iter().filter(|c| c.starts_with("<content ")).count();
        assert_eq!((connections, contents), (4, 10), "{log:?}");
    }
}
