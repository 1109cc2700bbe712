//! Starts the Tornado app of `tornado_app.py` on a free port, for interop tests.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running Tornado app; killed when dropped.
pub struct Tornado {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Tornado {
    /// Starts the app with `python` and waits for the port it prints.
    pub fn start(python: PathBuf) -> Tornado {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/tornado_app.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start {} {}: {e}",
                    python.display(),
                    script.display()
                )
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "the Tornado app printed {line:?} instead of a port; is tornado installed for {}? (tests/run.sh installs it)",
                python.display()
            )
        });
        Tornado {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Tornado {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
