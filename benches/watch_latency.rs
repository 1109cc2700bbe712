//! The enqueuing side of `watch_latency_ms` in `benches/compare.sh mail`: a web process
//! that sends one message at a time into a durable spool.
//!
//! `watch_latency DIR` reads a number per line on stdin, enqueues benchmark message
//! number N into the spool in DIR, and prints `N SECONDS`: the wall-clock time (Unix
//! seconds) at which the enqueue returned, where a web handler's `send` returns. The
//! caller takes it, not the time it reads the line, since a watching drainer may have
//! sent the message before then.
#![allow(missing_docs)]

mod support;

use std::io::{BufRead, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use squall::mail::{Queue, Spool};
use support::message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let dir = args.first().ok_or("usage: watch_latency DIR")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let spool = Spool::open(dir.as_str())?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let n: usize = line?.trim().parse()?;
        rt.block_on(spool.enqueue(&message(n)?))?;
        let returned = SystemTime::now().duration_since(UNIX_EPOCH)?;
        writeln!(out, "{n} {:.6}", returned.as_secs_f64())?;
        out.flush()?;
    }
    Ok(())
}
