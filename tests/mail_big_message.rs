//! A big message through the spool and `spool-drain`: a 20 MB attachment (about 28 MB in
//! base64, hundreds of the 64 KiB slices the content is written in) arrives at aiosmtpd
//! byte for byte, and one the server refuses reaches `failed/` just as whole.
#![cfg(all(feature = "mail", feature = "cli"))]

mod support;

use base64::Engine;
use serde_json::Value;
use squall::mail::{Email, Queue, QueuedMessage, Spool, SpoolConfig};
use support::aiosmtpd::{Aiosmtpd, Mode, Options};
use support::cli::{run, spool_drain};

/// `n` random bytes: they do not compress, as an attachment of real data would not.
fn noise(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn big_email(to: &str, attachment: &[u8]) -> Email {
    Email::builder()
        .from("site@example.com")
        .to(to)
        .subject("the archive")
        .text("The archive is attached.")
        .attach(
            "archive.bin",
            "application/octet-stream",
            attachment.to_vec(),
        )
        .build()
        .unwrap()
}

#[test]
fn a_28_mb_message_arrives_byte_for_byte_and_a_refused_one_is_dead_lettered_whole() {
    let dir = tempfile::tempdir().unwrap();
    let attachment = noise(20 << 20);
    let sent = QueuedMessage::new(
        &big_email("peter@example.com", &attachment)
            .render()
            .unwrap(),
    );
    let refused = QueuedMessage::new(
        &big_email("refused@example.com", &attachment)
            .render()
            .unwrap(),
    );
    assert!(sent.bytes.len() > 27 << 20, "{} bytes", sent.bytes.len());
    let spool = Spool::open(SpoolConfig::new(dir.path()).durable(false)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(spool.enqueue(&sent)).unwrap();
    rt.block_on(spool.enqueue(&refused)).unwrap();

    let server = Aiosmtpd::start(
        Mode::Plain,
        Options {
            reject_prefix: Some("refused@"),
            ..Options::default()
        },
    );
    let out = run(spool_drain().args([
        "--queue",
        &format!("spool://{}", dir.path().display()),
        "--via",
        &format!("smtp://127.0.0.1:{}", server.port),
    ]));
    // 1: one message failed for good.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let received = server.received();
    assert_eq!(received.len(), 1);
    let raw = b64(&received[0]["raw"]);
    // lettre ends the content with CRLF "." CRLF, so the server keeps one more CRLF.
    let (content, end) = raw.split_at(sent.bytes.len().min(raw.len()));
    assert!(content == &sent.bytes[..], "the content changed on the way");
    assert_eq!(end, b"\r\n");
    let part = received[0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["filename"] == "archive.bin")
        .expect("the attachment arrived as a part");
    assert!(b64(&part["bytes"]) == attachment, "the attachment changed");

    let record = std::fs::read(dir.path().join("failed").join(&refused.id)).unwrap();
    let dead = QueuedMessage::from_record(&record).unwrap();
    assert_eq!(dead.attempts, 1);
    assert!(
        dead.bytes == refused.bytes,
        "the dead-lettered message changed"
    );
    assert_eq!(rt.block_on(spool.status()).unwrap().queued, 0);
}
