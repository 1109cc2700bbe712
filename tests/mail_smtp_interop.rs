//! squall's SMTP backend against aiosmtpd, a real SMTP server not written here: plain,
//! STARTTLS, implicit TLS and AUTH. Assertions are on what the server received, parsed by
//! Python's email package.
#![cfg(feature = "mail")]

mod support;

use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use squall::mail::{
    Email, ErrorClass, Mailer, Outcome, SmtpConfig, SmtpMailer, Tls, Transport, from_url,
};
use support::aiosmtpd::{Aiosmtpd, Mode, Options, make_certificate};

fn header<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    record["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|h| h[1].as_str().unwrap())
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn rich_email() -> Email {
    Email::builder()
        .from("Squall Site <site@example.com>")
        .to("Peter <peter@example.com>")
        .cc("carol@example.com")
        .bcc("hidden@example.com")
        .reply_to("support@example.com")
        .subject("Your report — ready")
        .text("Hello Peter,\r\n.\r\nA line with a lone dot above.\r\n")
        .html("<p>Hello <b>Peter</b></p>")
        .attach(
            "report.bin",
            "application/octet-stream",
            (0u8..=255).collect(),
        )
        .header("X-Campaign", "spring-2026")
        .build()
        .unwrap()
}

fn check_rich(record: &Value, email: &Email) {
    assert_eq!(record["mail_from"], "site@example.com");
    assert_eq!(
        record["rcpt_tos"],
        serde_json::json!([
            "peter@example.com",
            "carol@example.com",
            "hidden@example.com"
        ])
    );
    assert_eq!(header(record, "Subject"), Some("Your report — ready"));
    assert_eq!(
        header(record, "Message-ID"),
        Some(email.message_id.as_str())
    );
    assert_eq!(header(record, "X-Campaign"), Some("spring-2026"));
    assert_eq!(header(record, "Reply-To"), Some("support@example.com"));
    assert_eq!(header(record, "Cc"), Some("carol@example.com"));
    assert!(header(record, "Date").is_some());
    assert_eq!(
        header(record, "Bcc"),
        None,
        "Bcc must never be in the headers"
    );
    let raw = String::from_utf8_lossy(&b64(&record["raw"])).to_string();
    assert!(
        !raw.contains("hidden@example.com"),
        "Bcc address leaked into the message"
    );

    let parts = record["parts"].as_array().unwrap();
    let find = |ct: &str| parts.iter().find(|p| p["content_type"] == ct).unwrap();
    let text = String::from_utf8(b64(&find("text/plain")["bytes"])).unwrap();
    assert!(
        text.contains("Hello Peter,\r\n.\r\nA line with a lone dot above."),
        "{text:?}"
    );
    let html = String::from_utf8(b64(&find("text/html")["bytes"])).unwrap();
    assert!(html.contains("<p>Hello <b>Peter</b></p>"));
    let attachment = find("application/octet-stream");
    assert_eq!(attachment["filename"], "report.bin");
    assert_eq!(b64(&attachment["bytes"]), (0u8..=255).collect::<Vec<_>>());
}

#[tokio::test]
async fn plain_delivery_is_received_whole() {
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = from_url(&format!("smtp://127.0.0.1:{}", server.port)).unwrap();
    let email = rich_email();
    mailer.send(&email).await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 1);
    check_rich(&received[0], &email);
    assert_eq!(received[0]["tls"], false);
}

#[tokio::test]
async fn starttls_with_a_certificate_the_test_made() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = make_certificate(certs.path());
    let server = Aiosmtpd::start(
        Mode::StartTls,
        Options {
            tls: Some((&cert, &key)),
            ..Options::default()
        },
    );
    let url = format!(
        "smtp://localhost:{}?tls=required&ca={}",
        server.port,
        cert.display()
    );
    let mailer = from_url(&url).unwrap();
    let email = rich_email();
    mailer.send(&email).await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["tls"], true, "the message must travel over TLS");
    check_rich(&received[0], &email);

    // Without trusting the certificate, the handshake fails as a setup error.
    let untrusted =
        SmtpMailer::new(SmtpConfig::new("localhost", server.port).tls(Tls::Required)).unwrap();
    let err = untrusted.send(&email).await.unwrap_err();
    match err {
        squall::mail::Error::Smtp(e) => assert_eq!(e.class(), ErrorClass::Setup, "{e}"),
        other => panic!("expected a setup error, got {other}"),
    }
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn implicit_tls_smtps() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, pem) = make_certificate(certs.path());
    let server = Aiosmtpd::start(
        Mode::Implicit,
        Options {
            tls: Some((&cert, &key)),
            ..Options::default()
        },
    );
    let mailer = SmtpMailer::new(
        SmtpConfig::from_url(&format!("smtps://localhost:{}", server.port))
            .unwrap()
            .add_root_certificate(pem),
    )
    .unwrap();
    let email = rich_email();
    mailer.send(&email).await.unwrap();
    let received = server.received();
    assert_eq!(received[0]["tls"], true);
    check_rich(&received[0], &email);
}

#[tokio::test]
async fn auth_accepts_good_credentials_and_classifies_bad_ones_as_setup() {
    let server = Aiosmtpd::start(
        Mode::Plain,
        Options {
            auth: Some("mailer:s3cret pass"),
            ..Options::default()
        },
    );
    let good = from_url(&format!(
        "smtp://mailer:s3cret%20pass@127.0.0.1:{}",
        server.port
    ))
    .unwrap();
    let email = rich_email();
    good.send(&email).await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["authenticated"], true);

    let bad = from_url(&format!("smtp://mailer:wrong@127.0.0.1:{}", server.port)).unwrap();
    let err = bad.send(&email).await.unwrap_err();
    let squall::mail::Error::Smtp(e) = &err else {
        panic!("expected an SMTP error, got {err}")
    };
    assert_eq!(e.class(), ErrorClass::Setup);
    assert_eq!(e.code(), Some(535), "{e}");
    assert!(!err.to_string().contains("wrong"), "password leaked: {err}");

    // No credentials at all: the server refuses MAIL FROM with 530.
    let anonymous = from_url(&format!("smtp://127.0.0.1:{}", server.port)).unwrap();
    let err = anonymous.send(&email).await.unwrap_err();
    assert!(err.to_string().contains("530"), "{err}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn one_refused_recipient_does_not_fail_the_others() {
    let server = Aiosmtpd::start(
        Mode::Plain,
        Options {
            reject_prefix: Some("nobody"),
            ..Options::default()
        },
    );
    let mailer = from_url(&format!("smtp://127.0.0.1:{}", server.port)).unwrap();
    let email = Email::builder()
        .from("site@example.com")
        .to("nobody@example.com")
        .to("peter@example.com")
        .subject("partial")
        .text("x")
        .build()
        .unwrap();
    let report = mailer
        .send_messages(std::slice::from_ref(&email))
        .await
        .unwrap();
    match &report.outcomes[0] {
        Outcome::Sent { rejected, .. } => {
            assert_eq!(rejected.len(), 1);
            assert_eq!(rejected[0].recipient, "nobody@example.com");
            assert_eq!(rejected[0].error.code(), Some(550));
            assert!(rejected[0].error.to_string().contains("no such user"));
        }
        other => panic!("expected Sent with one rejection, got {other:?}"),
    }
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]["rcpt_tos"],
        serde_json::json!(["peter@example.com"])
    );

    // send() reports the partial refusal as an error that names the recipient.
    let err = mailer.send(&email).await.unwrap_err();
    assert!(err.to_string().contains("nobody@example.com"), "{err}");
}

#[tokio::test]
async fn a_batch_shares_a_capped_pool_and_reuses_connections() {
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = SmtpMailer::new(
        SmtpConfig::new("127.0.0.1", server.port)
            .max_connections(2)
            .timeout(Duration::from_secs(10)),
    )
    .unwrap();
    let batch: Vec<Email> = (0..30)
        .map(|i| {
            Email::builder()
                .from("site@example.com")
                .to(format!("user{i}@example.com"))
                .subject(format!("message {i}"))
                .text("x")
                .build()
                .unwrap()
        })
        .collect();
    let report = mailer.send_messages(&batch).await.unwrap();
    assert_eq!(report.delivered(), 30);
    // A second batch reuses the idle connections (after RSET) instead of opening more.
    let report = mailer.send_messages(&batch[..4]).await.unwrap();
    assert_eq!(report.delivered(), 4);

    let received = server.received();
    assert_eq!(received.len(), 34);
    let mut ports: Vec<u64> = received
        .iter()
        .map(|r| r["peer_port"].as_u64().unwrap())
        .collect();
    ports.sort();
    ports.dedup();
    assert!(
        ports.len() <= 2,
        "at most 2 connections may be used, saw {} ({ports:?})",
        ports.len()
    );
    let mut subjects: Vec<String> = received[..30]
        .iter()
        .map(|r| header(r, "Subject").unwrap().to_owned())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 30, "each message exactly once");
}

#[tokio::test]
async fn long_content_with_dot_lines_arrives_byte_for_byte() {
    // The content is written in slices; a line that starts with '.' must be escaped even
    // when a slice ends just before it. Lines of a lone dot, after headers whose length
    // differs by one byte from message to message, put a slice boundary before a '.', a
    // '\r' and a '\n' in turn.
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = SmtpMailer::new(SmtpConfig::new("127.0.0.1", server.port)).unwrap();
    let body = ".\r\n".repeat(100_000);
    let rendered: Vec<_> = ["a", "ab", "abc"]
        .into_iter()
        .map(|subject| {
            Email::builder()
                .from("site@example.com")
                .to("peter@example.com")
                .subject(subject)
                .text(body.clone())
                .build()
                .unwrap()
                .render()
                .unwrap()
        })
        .collect();
    // The premise: the content goes out in 64 KiB slices, and one message has a line
    // of a lone dot that starts right after a slice.
    const SLICE: usize = 64 * 1024;
    assert!(
        rendered
            .iter()
            .any(|r| r.bytes[SLICE - 2..SLICE + 3] == *b"\r\n.\r\n"),
        "no slice boundary falls before a dot line"
    );
    let report = mailer.send_rendered(&rendered).await.unwrap();
    assert_eq!(report.delivered(), 3, "{report:?}");
    let mut received: Vec<Vec<u8>> = server.received().iter().map(|r| b64(&r["raw"])).collect();
    let mut sent: Vec<Vec<u8>> = rendered.iter().map(|r| r.bytes.to_vec()).collect();
    received.sort();
    sent.sort();
    assert_eq!(received.len(), 3);
    for (got, want) in received.iter().zip(&sent) {
        // lettre ends the content with CRLF "." CRLF, so the server keeps one more CRLF.
        let (content, end) = got.split_at(want.len().min(got.len()));
        assert!(content == &want[..], "the content changed on the way");
        assert_eq!(end, b"\r\n");
    }
}

/// 150 `To` recipients and a 3,000-character subject without spaces: every header line
/// the server receives is at most 78 octets (RFC 5322 allows 998), and Python's parser
/// unfolds and decodes both back to what was sent.
#[tokio::test]
async fn long_headers_are_folded_and_arrive_whole() {
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = from_url(&format!("smtp://127.0.0.1:{}", server.port)).unwrap();
    let recipients: Vec<String> = (0..150).map(|i| format!("user{i}@example.com")).collect();
    let subject = "x".repeat(3000);
    let mut builder = Email::builder()
        .from("site@example.com")
        .subject(subject.clone())
        .text("hi");
    for to in &recipients {
        builder = builder.to(to.clone());
    }
    let email = builder.build().unwrap();
    mailer.send(&email).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1);
    let raw = String::from_utf8(b64(&received[0]["raw"])).unwrap();
    let (head, _) = raw.split_once("\r\n\r\n").unwrap();
    for line in head.split("\r\n") {
        assert!(
            line.len() <= 78,
            "{}-octet header line: {line:.80}",
            line.len()
        );
    }
    assert_eq!(header(&received[0], "Subject"), Some(subject.as_str()));
    assert_eq!(
        header(&received[0], "To"),
        Some(recipients.join(", ").as_str())
    );
    assert_eq!(received[0]["rcpt_tos"].as_array().unwrap().len(), 150);
}
