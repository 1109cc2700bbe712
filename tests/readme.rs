//! Every code block in README.md is checked. Rust blocks are doctests (`ReadmeDoctests` in
//! src/lib.rs). This test runs the shell commands and the systemd unit's `ExecStart`, with
//! the production paths and servers swapped for a temporary spool, a temporary output
//! directory and a real SMTP server (aiosmtpd). The two newcomer commands are the ones
//! `.ci/run` runs from a clean clone.
#![cfg(all(
    feature = "mail",
    feature = "minijinja",
    feature = "cli",
    feature = "redis"
))]

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use squall::mail::{Queue, Spool, from_url};
use support::aiosmtpd::{Aiosmtpd, Mode, Options};
use support::cli::sigterm;
use support::wait_until;

/// The fenced blocks of the README: (language, lines).
fn blocks(readme: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in readme.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.trim().to_owned(), Vec::new())),
            (Some(_), Some(_)) => out.extend(current.take()),
            (Some((_, lines)), None) => lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    out
}

/// The commands of a shell or unit block, comments and cron schedules removed.
fn commands(lang: &str, lines: &[String]) -> Vec<Vec<String>> {
    lines
        .iter()
        .filter_map(|line| {
            let line = match lang {
                "ini" => line.strip_prefix("ExecStart=")?,
                _ => line.split(" #").next().unwrap_or(""),
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            let words = match words.first() {
                None => return None,
                Some(w) if w.starts_with('#') => return None,
                // A crontab line: five schedule fields, then the command.
                Some(&"*") => &words[5..],
                Some(_) => &words[..],
            };
            Some(words.iter().map(|w| w.to_string()).collect())
        })
        .collect()
}

struct Sandbox {
    _dir: tempfile::TempDir,
    spool: PathBuf,
    out: PathBuf,
    smtp: Aiosmtpd,
    redis: redis_support::RedisServer,
}

impl Sandbox {
    /// The README's word with production paths and servers swapped for the sandbox's.
    fn swap(&self, word: &str) -> String {
        if word.starts_with("spool:///var/spool/app") {
            format!("spool://{}", self.spool.display())
        } else if word.starts_with("redis://") {
            self.redis.url("app", "")
        } else if word.starts_with("smtp://") {
            format!("smtp://127.0.0.1:{}", self.smtp.port)
        } else if word == "static/combined" {
            self.out.display().to_string()
        } else {
            word.to_owned()
        }
    }

    /// Puts one message in the queue that `queue_url` names.
    fn enqueue(&self, queue_url: &str) {
        let mailer = from_url(queue_url).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(mailer.send(&support::numbered_email(1)))
            .unwrap();
    }
}

fn binary(name: &str) -> Option<PathBuf> {
    let name = Path::new(name).file_name()?.to_str()?;
    match name {
        "spool-drain" => Some(PathBuf::from(env!("CARGO_BIN_EXE_spool-drain"))),
        "static-bundle" => Some(PathBuf::from(env!("CARGO_BIN_EXE_static-bundle"))),
        _ => None,
    }
}

/// Checks each `squall = { … }` line of a TOML block against Cargo.toml: the version is
/// this crate's, and every feature named is one of its features. Gives how many it checked.
fn check_dependency_lines(lines: &[String]) -> usize {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let features = manifest
        .split_once("\n[features]\n")
        .map(|(_, rest)| rest.split("\n[").next().unwrap_or(""))
        .expect("Cargo.toml has a [features] table");
    let mut checked = 0;
    for line in lines.iter().filter(|l| l.starts_with("squall = ")) {
        let quoted = |key: &str| {
            let rest = line.split_once(&format!("{key} = "))?.1;
            Some(rest.to_owned())
        };
        let version = quoted("version")
            .and_then(|v| v.split('"').nth(1).map(str::to_owned))
            .unwrap_or_else(|| panic!("no version in the README's {line}"));
        assert!(
            env!("CARGO_PKG_VERSION").starts_with(&format!("{version}.")),
            "the README's {line} names version {version}, the crate is {}",
            env!("CARGO_PKG_VERSION")
        );
        let list = quoted("features")
            .and_then(|f| Some(f.split_once('[')?.1.split_once(']')?.0.to_owned()))
            .unwrap_or_else(|| panic!("no features in the README's {line}"));
        for feature in list.split(',').map(|f| f.trim().trim_matches('"')) {
            assert!(
                features
                    .lines()
                    .any(|l| l.starts_with(&format!("{feature} = "))),
                "the README's {line} names feature {feature:?}, which Cargo.toml does not have"
            );
        }
        checked += 1;
    }
    checked
}

#[test]
fn every_readme_command_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox {
        spool: dir.path().join("spool"),
        out: dir.path().join("combined"),
        smtp: Aiosmtpd::start(Mode::Plain, Options::default()),
        redis: redis_support::RedisServer::start(),
        _dir: dir,
    };
    let mut checked = 0;
    for (lang, lines) in blocks(&readme) {
        if lang == "rust" {
            continue; // doctests
        }
        if lang == "toml" {
            checked += check_dependency_lines(&lines);
            continue;
        }
        assert!(
            matches!(lang.as_str(), "bash" | "ini"),
            "a ```{lang} block this test cannot check"
        );
        for words in commands(&lang, &lines) {
            let line = words.join(" ");
            if line == "cargo run --example site" {
                assert!(
                    ci.contains("cargo run --locked --example site"),
                    ".ci/run must run: {line}"
                );
                checked += 1;
                continue;
            }
            if line == "bash tests/run.sh" {
                assert!(ci.contains("bash tests/run.sh"), ".ci/run must run: {line}");
                checked += 1;
                continue;
            }
            let program = binary(&words[0])
                .unwrap_or_else(|| panic!("README command this test cannot check: {line}"));
            let args: Vec<String> = words[1..].iter().map(|w| sandbox.swap(w)).collect();
            let mut cmd = Command::new(&program);
            cmd.args(&args)
                .current_dir(root)
                .env_remove("SQUALL_FAILPOINT");
            eprintln!(
                "README: {line}\n   ran: {} {}",
                program.display(),
                args.join(" ")
            );
            let before = sandbox.smtp.received().len();
            let drains = words[0].ends_with("spool-drain")
                && !args.iter().any(|a| {
                    ["status", "retry-failed", "retry", "--dry-run"].contains(&a.as_str())
                });
            if drains {
                let queue = args.iter().skip_while(|a| *a != "--queue").nth(1).unwrap();
                sandbox.enqueue(queue);
            }
            if args.iter().any(|a| a == "--watch") {
                let child = cmd.stdout(Stdio::piped()).spawn().unwrap();
                wait_until("the watcher to send", || {
                    sandbox.smtp.received().len() > before
                });
                sigterm(&child);
                let out = child.wait_with_output().unwrap();
                assert_eq!(out.status.code(), Some(0), "{line}");
            } else {
                let out = cmd.output().unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{line}\nstdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                if drains {
                    assert_eq!(
                        sandbox.smtp.received().len(),
                        before + 1,
                        "{line} sent the queue"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 11, "only {checked} commands found in the README");
    // What static-bundle wrote is a real build with a manifest.
    assert!(sandbox.out.join("manifest.json").is_file());
    let spool = Spool::open(&sandbox.spool).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(rt.block_on(spool.status()).unwrap().queued, 0);
}
