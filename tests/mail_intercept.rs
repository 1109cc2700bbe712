//! Interceptors and observers around real mailers: a `MemoryMailer`, the disk spool, and
//! squall's SMTP backend talking to aiosmtpd (a real SMTP server not written here), which
//! shows what the envelope held. Also the one-click unsubscribe headers as aiosmtpd
//! received and parsed them.
#![cfg(feature = "mail")]

#[cfg(feature = "redis")]
#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::sync::{Arc, Mutex};

use serde_json::Value;
use squall::mail::{
    Disallowed, Email, Error, Intercept, InterceptError, Mailer, MemoryMailer, Outcome, Queue,
    SendEvent, Spool, from_url,
};
use support::aiosmtpd::{Aiosmtpd, Mode, Options};

fn header<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    record["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|h| h[1].as_str().unwrap())
}

fn email(to: &[&str]) -> Email {
    let mut builder = Email::builder()
        .from("site@example.com")
        .subject("Hello")
        .text("body");
    for address in to {
        builder = builder.to(*address);
    }
    builder.build().unwrap()
}

fn mixed() -> Email {
    Email::builder()
        .from("site@example.com")
        .to("Peter <peter@example.org>")
        .to("anna@example.com")
        .cc("carol@example.net")
        .bcc("hidden@example.org")
        .subject("Staging")
        .text("body")
        .build()
        .unwrap()
}

fn header_of<'a>(email: &'a Email, name: &str) -> Option<&'a str> {
    email
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn redirect_sends_only_to_one_address_and_keeps_the_others_in_headers() {
    let outbox = MemoryMailer::new();
    let mailer = Intercept::new(outbox.clone())
        .redirect_to("QA <qa@example.com>")
        .unwrap();
    let original = mixed();
    mailer.send(&original).await.unwrap();

    let sent = outbox.assert_sent(1).remove(0);
    assert_eq!(sent.to, ["QA <qa@example.com>"]);
    assert!(sent.cc.is_empty() && sent.bcc.is_empty());
    assert_eq!(sent.message_id, original.message_id);
    assert_eq!(
        header_of(&sent, "X-Original-To"),
        Some("peter@example.org, anna@example.com")
    );
    assert_eq!(header_of(&sent, "X-Original-Cc"), Some("carol@example.net"));
    assert_eq!(
        header_of(&sent, "X-Original-Bcc"),
        Some("hidden@example.org")
    );
    assert_eq!(sent.render().unwrap().recipients, ["qa@example.com"]);

    // Redirected twice (an interceptor around another: the outer one rewrites first),
    // the headers keep the first original recipients, not the first redirect address.
    let twice = Intercept::new(mailer)
        .redirect_to("other@example.com")
        .unwrap();
    twice.send(&original).await.unwrap();
    let sent = outbox.last().unwrap();
    assert_eq!(sent.to, ["QA <qa@example.com>"]);
    assert_eq!(
        header_of(&sent, "X-Original-To"),
        Some("peter@example.org, anna@example.com")
    );
    assert_eq!(
        sent.headers
            .iter()
            .filter(|(n, _)| n == "X-Original-To")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_allow_list_refuses_a_message_naming_the_addresses() {
    let outbox = MemoryMailer::new();
    let mailer = Intercept::new(outbox.clone())
        .allow_domains(["example.com"])
        .unwrap();
    let report = mailer
        .send_messages(&[
            mixed(),
            email(&["ok@EXAMPLE.com"]),
            email(&["x@sub.example.com"]),
        ])
        .await
        .unwrap();
    match &report.outcomes[0] {
        Outcome::Failed(Error::Intercept(InterceptError::NotAllowed { addresses, allowed })) => {
            assert_eq!(
                addresses,
                &[
                    "peter@example.org",
                    "carol@example.net",
                    "hidden@example.org"
                ]
            );
            assert_eq!(allowed, &["example.com"]);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(report.outcomes[1], Outcome::Sent { .. }));
    // Domains match exactly: a subdomain is another domain.
    assert!(matches!(report.outcomes[2], Outcome::Failed(_)));
    assert_eq!((report.delivered(), report.failed()), (1, 2));
    assert_eq!(outbox.assert_sent(1)[0].to, ["ok@EXAMPLE.com"]);

    let err = mailer
        .send(&email(&["eve@evil.example"]))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "not sent: eve@evil.example is not on the allow-list of domains (example.com)"
    );
    assert!(err.is_permanent());
}

#[tokio::test]
async fn the_allow_list_can_drop_instead_and_a_message_left_empty_is_not_sent() {
    let outbox = MemoryMailer::new();
    let mailer = Intercept::new(outbox.clone())
        .allow_domains(["example.com", "example.net"])
        .unwrap()
        .on_disallowed(Disallowed::Drop);
    let report = mailer
        .send_messages(&[mixed(), email(&["a@example.org", "b@example.org"])])
        .await
        .unwrap();
    assert!(matches!(report.outcomes[0], Outcome::Sent { .. }));
    match &report.outcomes[1] {
        Outcome::Dropped { recipients, .. } => {
            assert_eq!(recipients, &["a@example.org", "b@example.org"])
        }
        other => panic!("expected Dropped, got {other:?}"),
    }
    let sent = outbox.assert_sent(1).remove(0);
    assert_eq!(sent.to, ["anna@example.com"]);
    assert_eq!(sent.cc, ["carol@example.net"]);
    assert!(sent.bcc.is_empty());
    // A dropped message is not an error for the app.
    mailer.send(&email(&["c@example.org"])).await.unwrap();
    outbox.assert_sent(1);
}

#[tokio::test]
async fn bcc_all_adds_the_archive_to_the_envelope_once() {
    let outbox = MemoryMailer::new();
    let mailer = Intercept::new(outbox.clone())
        .bcc_all("archive@example.com")
        .unwrap();
    mailer.send(&email(&["a@example.org"])).await.unwrap();
    mailer
        .send(&email(&["Archive <ARCHIVE@example.com>"]))
        .await
        .unwrap();
    let sent = outbox.assert_sent(2);
    assert_eq!(sent[0].bcc, ["archive@example.com"]);
    let rendered = sent[0].render().unwrap();
    assert_eq!(
        rendered.recipients,
        ["a@example.org", "archive@example.com"]
    );
    assert!(!String::from_utf8_lossy(&rendered.bytes).contains("archive@"));
    assert!(sent[1].bcc.is_empty(), "already a recipient: {:?}", sent[1]);
}

#[tokio::test]
async fn observers_see_every_outcome() {
    let outbox = MemoryMailer::new();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let mailer = Intercept::new(outbox.clone())
        .allow_domains(["example.com"])
        .unwrap()
        .redirect_to("qa@example.com")
        .unwrap()
        .observe(move |event: &SendEvent<'_>| {
            log.lock().unwrap().push(format!(
                "{} ok={} to={:?} error={}",
                event.original.subject,
                event.is_success(),
                event.recipients(),
                event.error().map(|e| e.to_string()).unwrap_or_default()
            ));
        });
    let first = email(&["a@example.com"]);
    let mut second = email(&["b@example.org"]);
    second.subject = "Refused".into();
    mailer.send_messages(&[first, second]).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            r#"Hello ok=true to=["qa@example.com"] error="#,
            r#"Refused ok=false to=[] error=not sent: b@example.org is not on the allow-list of domains (example.com)"#,
        ]
    );
}

#[tokio::test]
async fn observers_see_a_batch_that_could_not_be_sent() {
    // A port with nothing listening: the SMTP mailer cannot connect, so the whole batch
    // fails, and the observer hears it for the message.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let events: Arc<Mutex<Vec<(String, bool, bool)>>> = Arc::default();
    let log = events.clone();
    let mailer = Intercept::boxed(from_url(&format!("smtp://127.0.0.1:{port}?timeout=5")).unwrap())
        .observe(move |event: &SendEvent<'_>| {
            log.lock().unwrap().push((
                event.message_id().to_owned(),
                event.is_success(),
                event.result.is_err(),
            ));
        });
    let message = email(&["a@example.com"]);
    let err = mailer
        .send_messages(std::slice::from_ref(&message))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(*events.lock().unwrap(), [(message.message_id, false, true)]);
}

#[tokio::test]
async fn smtp_envelope_goes_only_to_the_redirect_and_the_archive() {
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = from_url(&format!(
        "smtp://127.0.0.1:{}?timeout=10&redirect_to=qa%40example.com&bcc_all=archive@example.com",
        server.port
    ))
    .unwrap();
    mailer.send(&mixed()).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1);
    let record = &received[0];
    assert_eq!(
        record["rcpt_tos"],
        serde_json::json!(["qa@example.com", "archive@example.com"])
    );
    assert_eq!(header(record, "To"), Some("qa@example.com"));
    assert_eq!(header(record, "Cc"), None);
    assert_eq!(header(record, "Bcc"), None);
    assert_eq!(
        header(record, "X-Original-To"),
        Some("peter@example.org, anna@example.com")
    );
    assert_eq!(header(record, "X-Original-Cc"), Some("carol@example.net"));
    assert_eq!(header(record, "X-Original-Bcc"), Some("hidden@example.org"));
}

#[tokio::test]
async fn queued_mail_is_intercepted_when_it_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "spool://{}?durable=false&allow_domains=example.com,example.org&disallowed=drop&redirect_to=qa@example.com",
        dir.path().display()
    );
    let mailer = from_url(&url).unwrap();
    mailer.send(&mixed()).await.unwrap();
    let queued = Spool::open(dir.path()).unwrap().peek(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipients, ["qa@example.com"]);
    let raw = String::from_utf8_lossy(&queued[0].bytes);
    // carol@example.net was dropped by the allow-list before the redirect.
    assert!(
        raw.contains("X-Original-To: peter@example.org, anna@example.com\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains("X-Original-Bcc: hidden@example.org\r\n"),
        "{raw}"
    );
    assert!(!raw.contains("X-Original-Cc"), "{raw}");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_queued_mail_is_intercepted_when_it_is_queued() {
    let server = redis_support::RedisServer::start();
    let mailer = from_url(&server.url(
        "icpt",
        "redirect_to=qa@example.com&bcc_all=archive@example.com",
    ))
    .unwrap();
    mailer.send(&mixed()).await.unwrap();
    let queue = squall::mail::queue_from_url(&server.url("icpt", "")).unwrap();
    let queued = queue.peek(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].recipients,
        ["qa@example.com", "archive@example.com"]
    );
    let raw = String::from_utf8_lossy(&queued[0].bytes);
    assert!(
        raw.contains("X-Original-To: peter@example.org, anna@example.com\r\n"),
        "{raw}"
    );
}

#[test]
fn url_settings_are_checked() {
    for (url, expected) in [
        (
            "memory://?redirect_to=not-an-address",
            "redirect_to: \"not-an-address\" is not a valid email address",
        ),
        (
            "memory://?allow_domains=example.com&disallowed=maybe",
            "disallowed=\"maybe\": expected refuse or drop",
        ),
        (
            "memory://?disallowed=drop",
            "disallowed= needs allow_domains=",
        ),
        (
            "memory://?allow_domains=example.com,,x.org",
            "allow_domains: \"\" is not a domain",
        ),
        ("console://?bcc_all=a@example.com,nope", "bcc_all: \"nope\""),
        (
            "memory://?redirect_to=a@example.com&redirect_to=b@example.com",
            "redirect_to is given twice",
        ),
    ] {
        let err = from_url(url)
            .err()
            .unwrap_or_else(|| panic!("{url} was accepted"));
        assert!(err.to_string().contains(expected), "{url}: {err}");
    }
    // The password is masked in the message, and the backend's own keys still work.
    let err = from_url("smtp://user:secret@127.0.0.1:2525?tls=required&redirect_to=bad")
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("user:***@") && !message.contains("secret"),
        "{message}"
    );
    let err = from_url("smtp://127.0.0.1:2525?colour=red&redirect_to=qa@example.com")
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("unknown parameter \"colour\""),
        "{err}"
    );
    assert!(from_url("smtp://127.0.0.1:2525?tls=required&redirect_to=qa@example.com").is_ok());
}

#[tokio::test]
async fn unsubscribe_headers_arrive_as_sent() {
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = from_url(&format!("smtp://127.0.0.1:{}?timeout=10", server.port)).unwrap();
    let url = "https://example.com/unsubscribe/3f9a1c2b7d4e8f60a1b2c3d4e5f60718?list=weekly";
    let message = Email::builder()
        .from("news@example.com")
        .to("reader@example.org")
        .subject("This week")
        .text("news")
        .list_unsubscribe(url)
        .list_unsubscribe_mailto("mailto:unsubscribe@example.com?subject=unsubscribe")
        .build()
        .unwrap();
    mailer.send(&message).await.unwrap();

    let received = server.received();
    let record = &received[0];
    assert_eq!(
        header(record, "List-Unsubscribe"),
        Some(format!("<{url}>, <mailto:unsubscribe@example.com?subject=unsubscribe>").as_str())
    );
    assert_eq!(
        header(record, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    // The header was long enough to be folded on the wire.
    let raw = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        record["raw"].as_str().unwrap(),
    )
    .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(
        raw.contains(&format!("List-Unsubscribe: <{url}>,\r\n <mailto:")),
        "{raw}"
    );
}

#[test]
fn a_drainer_transport_takes_no_interception_settings() {
    let err =
        squall::mail::transport_from_url("smtp://127.0.0.1:2525?redirect_to=qa@example.com", 1)
            .err()
            .unwrap();
    assert!(
        err.to_string()
            .contains("redirect_to= applies where mail is sent or queued"),
        "{err}"
    );
}
