//! spool-drain: sends a mail queue over SMTP, from cron (`--single`) or as a service
//! (`--watch`).
//!
//! The queue backends it drains (the disk spool and Redis) are not built yet; for now it
//! parses its arguments, prints `--help`, and says so when asked to drain.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sends the mail queued by a web application over SMTP, with retries, backoff and a
/// dead-letter place.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The queue to drain: spool:///var/spool/app or redis://host:6379/0?queue=app
    #[arg(long, env = "SQUALL_QUEUE_URL", global = true)]
    queue: Option<String>,
    /// Where to send: smtp://user:pass@host:587?tls=required, smtps://host:465, console://
    #[arg(long, env = "SQUALL_MAIL_URL")]
    via: Option<String>,
    /// Send at most N messages, then stop.
    #[arg(long, value_name = "N")]
    max: Option<usize>,
    /// Keep running and send new mail as it arrives, until SIGTERM or SIGINT.
    #[arg(long)]
    watch: bool,
    /// SMTP connections used at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    concurrency: usize,
    /// Attempts before a message goes to the dead-letter place.
    #[arg(long, value_name = "N", default_value_t = 12)]
    max_attempts: u32,
    /// Exit at once when another drainer already runs on this queue (for cron).
    #[arg(long)]
    single: bool,
    /// Print what would be sent, through the console backend; leave the queue as it is.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Counts: queued, in flight, deferred, failed.
    Status,
    /// Moves every failed message back to the queue.
    RetryFailed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let queue = cli.queue.as_deref().unwrap_or("(none given)");
    eprintln!(
        "spool-drain: cannot drain {queue}: the queue backends (spool://, redis://) are not built yet"
    );
    ExitCode::from(2)
}
