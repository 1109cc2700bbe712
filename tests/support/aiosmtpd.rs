//! aiosmtpd, a real SMTP server not written here, run as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// How the server secures connections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    StartTls,
    Implicit,
}

#[derive(Default)]
pub struct Options<'a> {
    pub tls: Option<(&'a Path, &'a Path)>,
    pub auth: Option<&'a str>,
    pub reject_prefix: Option<&'a str>,
    /// Listen on this port (for a peer that comes up where a client already looks).
    pub port: Option<u16>,
}

/// A running aiosmtpd; killed when dropped.
pub struct Aiosmtpd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Aiosmtpd {
    pub fn start(mode: Mode, options: Options<'_>) -> Aiosmtpd {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut cmd = Command::new(super::python());
        cmd.arg(script)
            .arg("--out")
            .arg(dir.path())
            .arg("--mode")
            .arg(match mode {
                Mode::Plain => "plain",
                Mode::StartTls => "starttls",
                Mode::Implicit => "implicit",
            });
        if let Some((cert, key)) = options.tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if let Some(auth) = options.auth {
            cmd.arg("--auth").arg(auth);
        }
        if let Some(prefix) = options.reject_prefix {
            cmd.arg("--reject-prefix").arg(prefix);
        }
        if let Some(port) = options.port {
            cmd.arg("--port").arg(port.to_string());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd (run tests/run.sh, which installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("aiosmtpd did not print its port (is aiosmtpd installed? run tests/run.sh); got {line:?}")
        });
        Aiosmtpd { child, port, dir }
    }

    /// Every message received so far, oldest first.
    pub fn received(&self) -> Vec<Value> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

impl Aiosmtpd {
    /// The Message-ID of every message received so far, oldest first.
    pub fn message_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| {
                r["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|h| h[0] == "Message-ID")
                    .map(|h| h[1].as_str().unwrap().to_owned())
                    .unwrap()
            })
            .collect()
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost`, written as PEM files into `dir`.
pub fn make_certificate(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path, cert_pem.into_bytes())
}
