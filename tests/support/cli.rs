//! Running `spool-drain` as users do, and killing it at a failpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output};

/// `spool-drain`, with none of the environment that would change what it does.
pub fn spool_drain() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spool-drain"));
    cmd.env_remove("SQUALL_QUEUE_URL")
        .env_remove("SQUALL_MAIL_URL")
        .env_remove("SQUALL_FAILPOINT");
    cmd
}

/// Runs `cmd` to the end and prints what it said, for a failing test to show.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    eprintln!(
        "spool-drain exited {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits until the child's stderr says it reached the failpoint.
pub fn wait_for_failpoint(child: &mut Child, name: &str) {
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let marker = format!("failpoint {name} reached");
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(&marker) => return,
            Some(Ok(_)) => {}
            _ => panic!("spool-drain ended before failpoint {name}"),
        }
    }
}

/// SIGKILL, and reap.
pub fn kill9(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}
