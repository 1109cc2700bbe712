//! Launchers for the real peers that the integration tests talk to.
#![allow(dead_code)]

pub mod aiosmtpd;
pub mod scripted_smtp;

use std::path::PathBuf;

/// The Python that has the test peers (aiosmtpd, tornado) installed: `SQUALL_TEST_PYTHON`
/// as `tests/run.sh` sets it, else the virtualenv it makes, else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SQUALL_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}
