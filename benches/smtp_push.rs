//! Pushes N messages of about 2 KB through squall's SMTP backend and prints msgs/s.
//!
//! `benches/compare.sh mail` runs it against Postfix's `smtp-sink`, beside `smtp-source`:
//! `cargo bench --bench smtp_push -- --addr 127.0.0.1:2525 --messages 20000 --connections 4`
#![allow(missing_docs)]

mod support;

use std::time::{Duration, Instant};

use squall::mail::{Email, Mailer, SmtpConfig, SmtpMailer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = String::from("127.0.0.1:2525");
    let mut messages = 20_000usize;
    let mut connections = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs host:port")?,
            "--messages" => messages = args.next().ok_or("--messages needs N")?.parse()?,
            "--connections" => connections = args.next().ok_or("--connections needs N")?.parse()?,
            _ => {} // cargo bench passes --bench
        }
    }
    let (host, port) = addr.rsplit_once(':').ok_or("--addr must be host:port")?;
    let port: u16 = port.parse()?;

    let batch: Vec<Email> = (0..messages)
        .map(support::email)
        .collect::<Result<_, _>>()?;
    let size = batch[0].render()?.bytes.len();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mailer = SmtpMailer::new(
        SmtpConfig::new(host, port)
            .max_connections(connections)
            .timeout(Duration::from_secs(30)),
    )?;
    let started = Instant::now();
    let report = runtime.block_on(mailer.send_messages(&batch))?;
    let elapsed = started.elapsed();
    if report.failed() > 0 {
        return Err(format!("{} of {messages} messages failed", report.failed()).into());
    }
    eprintln!(
        "squall: {messages} messages of {size} bytes over {connections} connection(s) in {elapsed:.2?}"
    );
    println!("{:.1}", messages as f64 / elapsed.as_secs_f64());
    Ok(())
}
