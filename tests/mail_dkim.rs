//! DKIM-signed mail through `SmtpMailer` and `spool-drain` to aiosmtpd, each message as
//! received checked by an independent verifier: Python's dkimpy, with the public key
//! handed to it through its DNS hook. Keys are made by Python's `cryptography`.
#![cfg(all(feature = "dkim", feature = "cli"))]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::Value;
use squall::mail::{
    Dkim, Email, Mailer, Outcome, SmtpConfig, SmtpMailer, Spool, SpoolConfig, from_url,
};
use support::aiosmtpd::{Aiosmtpd, Mode, Options};
use support::cli::{run, spool_drain};

fn tool() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/dkim_tool.py")
}

/// A new private key of `kind` (rsa-pkcs1, rsa-pkcs8, ed25519), as a PEM file in `dir`.
fn make_key(dir: &Path, kind: &str) -> PathBuf {
    let path = dir.join(format!("{kind}.pem"));
    let status = Command::new(support::python())
        .arg(tool())
        .args(["genkey", kind])
        .arg(&path)
        .status()
        .expect("run python (tests/run.sh installs dkimpy and cryptography)");
    assert!(status.success(), "dkim_tool.py genkey {kind} failed");
    path
}

/// What dkimpy says of `message`, the public key of `key` published for any selector.
fn dkimpy_verify(key: &Path, message: &[u8]) -> Value {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), message).unwrap();
    let out = Command::new(support::python())
        .arg(tool())
        .arg("verify")
        .arg(key)
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dkim_tool.py verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The raw bytes of every message `server` received, oldest first.
fn raw_messages(server: &Aiosmtpd) -> Vec<Vec<u8>> {
    server
        .received()
        .iter()
        .map(|r| {
            base64::engine::general_purpose::STANDARD
                .decode(r["raw"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

/// The DKIM-Signature header of `message`, unfolded, and its tags.
fn signature_tags(message: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(message);
    let mut header = String::new();
    let mut inside = false;
    for line in text.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if inside && line.starts_with([' ', '\t']) {
            header.push_str(line);
        } else if inside {
            break;
        } else if let Some(rest) = line.strip_prefix("DKIM-Signature:") {
            inside = true;
            header.push_str(rest);
        }
    }
    assert!(inside, "no DKIM-Signature header in:\n{text}");
    header
        .split(';')
        .filter_map(|tag| tag.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.split_whitespace().collect()))
        .collect()
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> &'a str {
    tags.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}= tag in {tags:?}"))
}

fn rich_email() -> Email {
    Email::builder()
        .from("Squall Site <site@example.com>")
        .to("peter@example.com")
        .cc("carol@example.com")
        .reply_to("support@example.com")
        .subject("Your report — ready")
        .text("Hello Peter,\r\n.\r\nA line with a lone dot above.\r\n")
        .html("<p>Hello <b>Peter</b></p>")
        .build()
        .unwrap()
}

/// Replaces the first `from` in `message` with `to`.
fn tamper(message: &[u8], from: &str, to: &str) -> Vec<u8> {
    String::from_utf8_lossy(message)
        .replacen(from, to, 1)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn rsa_and_ed25519_signatures_verify_with_dkimpy_and_tampering_breaks_them() {
    let keys = tempfile::tempdir().unwrap();
    for (kind, algorithm) in [
        ("rsa-pkcs1", "rsa-sha256"),
        ("rsa-pkcs8", "rsa-sha256"),
        ("ed25519", "ed25519-sha256"),
    ] {
        let key = make_key(keys.path(), kind);
        let server = Aiosmtpd::start(Mode::Plain, Options::default());
        let dkim = Dkim::from_pem_file("example.com", "s1", &key).unwrap();
        assert_eq!(dkim.algorithm(), algorithm);
        let config = SmtpConfig::new("127.0.0.1", server.port).dkim(dkim);
        let mailer = SmtpMailer::new(config).unwrap();
        let plain = Email::builder()
            .from("site@example.com")
            .to("peter@example.com")
            .subject("plain")
            .text("no cc here")
            .build()
            .unwrap();
        let report = mailer.send_messages(&[rich_email(), plain]).await.unwrap();
        for outcome in &report.outcomes {
            assert!(
                matches!(outcome, Outcome::Sent { .. }),
                "{kind}: {outcome:?}"
            );
        }
        // Sent at once on two connections: they may arrive in either order.
        let mut received = raw_messages(&server);
        assert_eq!(received.len(), 2, "{kind}");
        received.sort_by_key(|m| String::from_utf8_lossy(m).contains("Subject: plain"));
        for message in &received {
            let verdict = dkimpy_verify(&key, message);
            assert_eq!(verdict["ok"], true, "{kind}: dkimpy says {verdict}");
            assert_eq!(
                verdict["queried"],
                serde_json::json!(["s1._domainkey.example.com."]),
                "{kind}"
            );
            let tags = signature_tags(message);
            assert_eq!(tag(&tags, "a"), algorithm);
            assert_eq!(tag(&tags, "c"), "relaxed/relaxed");
            assert_eq!(tag(&tags, "d"), "example.com");
            assert_eq!(tag(&tags, "s"), "s1");
        }

        // h= covers the headers named, Cc and Reply-To only when the message has them.
        let signed = |message: &[u8]| -> Vec<String> {
            let tags = signature_tags(message);
            let mut names: Vec<String> = tag(&tags, "h")
                .split(':')
                .map(|h| h.to_ascii_lowercase())
                .collect();
            names.sort();
            names
        };
        let base = [
            "content-type",
            "date",
            "from",
            "message-id",
            "mime-version",
            "subject",
            "to",
        ];
        let mut rich: Vec<&str> = base.iter().copied().chain(["cc", "reply-to"]).collect();
        rich.sort();
        assert_eq!(signed(&received[0]), rich, "{kind}");
        assert_eq!(signed(&received[1]), base, "{kind}");

        // The check is real: a changed header or body fails it.
        let subject = tamper(&received[1], "Subject: plain", "Subject: plane");
        assert_eq!(dkimpy_verify(&key, &subject)["ok"], false, "{kind}");
        let body = tamper(&received[1], "no cc here", "no cc there");
        assert_eq!(dkimpy_verify(&key, &body)["ok"], false, "{kind}");
        // And another key does not verify it.
        let elsewhere = tempfile::tempdir().unwrap();
        let other = make_key(elsewhere.path(), "ed25519");
        assert_eq!(dkimpy_verify(&other, &received[1])["ok"], false, "{kind}");
    }
}

fn dkim_url(port: u16, key: &Path) -> String {
    format!(
        "smtp://127.0.0.1:{port}?dkim_domain=example.com&dkim_selector=s1&dkim_key={}",
        key.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_url_form_signs_too() {
    let keys = tempfile::tempdir().unwrap();
    let key = make_key(keys.path(), "ed25519");
    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let mailer = from_url(&dkim_url(server.port, &key)).unwrap();
    mailer.send(&rich_email()).await.unwrap();
    let received = raw_messages(&server);
    assert_eq!(dkimpy_verify(&key, &received[0])["ok"], true);
}

#[test]
fn bad_dkim_settings_are_url_errors_naming_the_part() {
    let keys = tempfile::tempdir().unwrap();
    let key = make_key(keys.path(), "ed25519");
    let not_a_key = keys.path().join("cert.pem");
    std::fs::write(
        &not_a_key,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (url, expect) in [
        (
            "smtp://h?dkim_domain=example.com&dkim_selector=s1&dkim_key=/nonexistent/s1.pem"
                .to_owned(),
            "/nonexistent/s1.pem: cannot read the file".to_owned(),
        ),
        (
            format!(
                "smtp://h?dkim_domain=example.com&dkim_selector=s1&dkim_key={}",
                not_a_key.display()
            ),
            format!("{}: a PEM \"CERTIFICATE\" block", not_a_key.display()),
        ),
        (
            format!(
                "smtp://h?dkim_domain=example.com&dkim_key={}",
                key.display()
            ),
            "dkim_selector missing".to_owned(),
        ),
        (
            format!(
                "smtp://h?dkim_domain=a;b&dkim_selector=s1&dkim_key={}",
                key.display()
            ),
            "DKIM domain \"a;b\"".to_owned(),
        ),
    ] {
        let Err(e) = from_url(&url) else {
            panic!("{url} was accepted")
        };
        assert!(e.to_string().contains(&expect), "{url}: {e}");
    }
}

#[test]
fn spool_drain_signs_what_it_sends() {
    let keys = tempfile::tempdir().unwrap();
    let key = make_key(keys.path(), "rsa-pkcs8");
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(SpoolConfig::new(dir.path()).durable(false)).unwrap();
    let batch: Vec<Email> = (0..3).map(support::numbered_email).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(spool.send_messages(&batch)).unwrap();

    let server = Aiosmtpd::start(Mode::Plain, Options::default());
    let queue = format!("spool://{}", dir.path().display());
    let out = run(spool_drain().args(["--queue", &queue, "--via", &dkim_url(server.port, &key)]));
    assert_eq!(out.status.code(), Some(0));
    let received = raw_messages(&server);
    assert_eq!(received.len(), 3);
    for message in &received {
        let verdict = dkimpy_verify(&key, message);
        assert_eq!(verdict["ok"], true, "dkimpy says {verdict}");
    }

    // A key that cannot be read is a configuration error, before anything is claimed.
    let bad =
        "smtp://127.0.0.1:25?dkim_domain=example.com&dkim_selector=s1&dkim_key=/nonexistent/k.pem";
    let out = run(spool_drain().args(["--queue", &queue, "--via", bad]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/k.pem"));
}
