//! Running `spool-drain` as users do, and killing it at a failpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

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
    show(cmd.output().unwrap())
}

/// Prints what a finished `spool-drain` said, and passes it on.
fn show(out: Output) -> Output {
    eprintln!(
        "spool-drain exited {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `cmd` with `SQUALL_FAILPOINT=name` and returns once the child says, on stderr,
/// that it has stopped there (ready for `kill9`). Needs the `failpoints` feature, which
/// `--all-features` turns on.
pub fn stop_at(cmd: &mut Command, name: &str) -> Child {
    if !cfg!(feature = "failpoints") {
        panic!("stop_at needs spool-drain built with the failpoints feature");
    }
    let mut child = cmd
        .env("SQUALL_FAILPOINT", name)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let marker = format!("failpoint {name} reached");
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(&marker) => return child,
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

/// Waits for `child` to end and returns what it printed; a child still running after two
/// minutes is killed and fails the test (so a hang fails instead of blocking the suite).
pub fn wait_exit(mut child: Child, what: &str) -> Output {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(120) {
            kill9(&mut child);
            panic!("spool-drain still running: {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    show(child.wait_with_output().unwrap())
}

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}
