//! spool-drain: sends a mail queue over SMTP, from cron (`--single`) or as a service
//! (`--watch`). Every decision lives in `squall::mail::drain`; this file parses flags,
//! sets up logging, and maps the report to an exit status.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use squall::mail::{ConsoleMailer, DrainOptions, Drainer, RetryPolicy, transport_from_url};

/// Exit statuses (sysexits): 75 means "try again later".
const EXIT_USAGE: u8 = 2;
/// `retry --deferred --id ID` named no deferred message (sysexits EX_NOINPUT).
const EXIT_NO_SUCH_MESSAGE: u8 = 66;
const EXIT_TEMPFAIL: u8 = 75;

/// Sends the mail queued by a web application over SMTP, with retries, backoff and a
/// dead-letter place.
///
/// Exit status: 0 nothing left undone (the queue holds only dead letters, if anything);
/// 1 some mail failed permanently; 2 bad usage or configuration; 3 mail is left that is
/// not due yet or is in flight under another drainer; 66 `retry --deferred --id` named no
/// deferred message; 75 some mail deferred or the SMTP server unreachable (try later). `--watch` rides out outages and exits 0 on SIGTERM or
/// SIGINT unless something failed permanently.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The queue: spool:///var/spool/app, spool:relative/dir or redis://host:6379/0?queue=app
    #[arg(long, env = "SQUALL_QUEUE_URL", global = true)]
    queue: Option<String>,
    /// Where to send: smtp://user:pass@host:587?tls=required, smtps://host:465, console://,
    /// or several servers as one: 'failover(smtp://a smtp://b)', 'roundrobin(smtp://a smtp://b)'
    #[arg(long, env = "SQUALL_MAIL_URL")]
    via: Option<String>,
    /// Handle at most N messages, then stop.
    #[arg(long, value_name = "N")]
    max: Option<u64>,
    /// Keep running and send new mail as it arrives, until SIGTERM or SIGINT.
    #[arg(long)]
    watch: bool,
    /// With --watch: look for mail at least this often (5s, 1m), though new mail and
    /// deferred mail falling due wake the drainer at once.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = squall::parse_duration)]
    poll_interval: Duration,
    /// SMTP connections used at once; each batch claims 32 messages per connection.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Attempts before a message goes to the dead-letter place.
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,
    /// Age after which a failing message goes to the dead-letter place: 90s, 30m, 12h, 2d.
    #[arg(long, value_name = "DUR", default_value = "2d", value_parser = squall::parse_duration)]
    max_age: Duration,
    /// Redis queues: how long a claim may go unrenewed before another drainer takes it
    /// over (a drainer renews its claims while it lives). Same as the URL's `lease=`.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    lease: Option<u64>,
    /// Exit at once (status 0) when another run holds this queue's lock: for cron.
    #[arg(long)]
    single: bool,
    /// Print what would be sent, through the console backend; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as one JSON object.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Counts: queued (waiting, due now), in flight (claimed by a drainer, live or dead),
    /// deferred (waiting for a later attempt, due or not), failed (dead letters).
    Status,
    /// Moves every failed message back to the queue, attempts reset.
    RetryFailed,
    /// Makes deferred messages due now, attempts and last error kept: all of them, or
    /// the one named by --id. For mail dated in the future (clock skew), which neither
    /// retry-failed nor --max-age reaches. Exits 66 when --id names no deferred message.
    Retry {
        /// Move deferred messages (the only kind this command moves; dead letters go
        /// back with `retry-failed`).
        #[arg(long, required = true)]
        deferred: bool,
        /// Only the message with this queue id or Message-ID (angle brackets optional).
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
}

fn main() -> ExitCode {
    squall::cli::init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("spool-drain: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_TEMPFAIL);
        }
    };
    ExitCode::from(runtime.block_on(run(cli)))
}

fn usage(message: impl std::fmt::Display) -> u8 {
    eprintln!("spool-drain: {message}");
    EXIT_USAGE
}

async fn run(cli: Cli) -> u8 {
    let Some(queue_url) = &cli.queue else {
        return usage(
            "--queue (or SQUALL_QUEUE_URL) is required, e.g. --queue spool:///var/spool/app",
        );
    };
    let options = DrainOptions::default()
        .max(cli.max)
        .concurrency(usize::from(cli.concurrency))
        .watch(cli.watch)
        .poll_interval(cli.poll_interval)
        .lease(cli.lease.map(Duration::from_secs))
        .single(cli.single)
        .policy(RetryPolicy {
            max_attempts: cli.max_attempts,
            max_age: cli.max_age,
            ..RetryPolicy::default()
        });
    let queue = match options.open_queue(queue_url) {
        Ok(q) => q,
        Err(e) => return usage(format_args!("--queue: {e}")),
    };
    match cli.command {
        Some(Command::Status) => {
            return match queue.status().await {
                Ok(s) if cli.json => {
                    println!("{}", serde_json::to_string(&s).unwrap_or_default());
                    0
                }
                Ok(s) => {
                    println!(
                        "queued {} · in flight {} · deferred {} · failed {}",
                        s.queued, s.in_flight, s.deferred, s.failed
                    );
                    for w in &s.warnings {
                        println!("warning: {w}");
                    }
                    0
                }
                Err(e) => {
                    eprintln!("spool-drain: {e}");
                    EXIT_TEMPFAIL
                }
            };
        }
        Some(Command::RetryFailed) => {
            return match queue.retry_failed().await {
                Ok(n) => {
                    if cli.json {
                        println!("{{\"moved\":{n}}}");
                    } else {
                        println!("moved {n} failed message(s) back to the queue");
                    }
                    0
                }
                Err(e) => {
                    eprintln!("spool-drain: {e}");
                    EXIT_TEMPFAIL
                }
            };
        }
        Some(Command::Retry { deferred: _, id }) => {
            return match (queue.retry_deferred(id.as_deref()).await, id) {
                (Ok(0), Some(id)) => {
                    eprintln!(
                        "spool-drain: no deferred message has the queue id or Message-ID {id:?}"
                    );
                    EXIT_NO_SUCH_MESSAGE
                }
                (Ok(n), _) => {
                    if cli.json {
                        println!("{{\"moved\":{n}}}");
                    } else {
                        println!("moved {n} deferred message(s) back to the queue, due now");
                    }
                    0
                }
                (Err(e), _) => {
                    eprintln!("spool-drain: {e}");
                    EXIT_TEMPFAIL
                }
            };
        }
        None => {}
    }

    if cli.dry_run {
        // Read, never claim: the queue stays byte for byte as it was.
        let console = ConsoleMailer::stdout();
        return match Drainer::new(&*queue, &console, options).dry_run().await {
            Ok(n) => {
                eprintln!("dry run: {n} message(s) due; nothing was sent or changed");
                0
            }
            Err(e) => {
                eprintln!("spool-drain: {e}");
                e.exit_code()
            }
        };
    }

    let Some(via) = &cli.via else {
        return usage("--via (or SQUALL_MAIL_URL) is required, e.g. --via smtp://localhost:25");
    };
    let transport = match transport_from_url(via, usize::from(cli.concurrency)) {
        Ok(t) => t,
        Err(e) => return usage(format_args!("--via: {e}")),
    };
    let mut drainer = Drainer::new(&*queue, &*transport, options);
    if std::io::stderr().is_terminal() {
        let mut last = Instant::now();
        drainer = drainer.on_progress(move |r| {
            if last.elapsed() >= Duration::from_millis(200) {
                last = Instant::now();
                eprint!("\r{}   ", r.summary());
            }
        });
    }
    let report = match drainer.run(shutdown_signal()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("spool-drain: {e}");
            return e.exit_code();
        }
    };
    if std::io::stderr().is_terminal() {
        eprint!("\r");
    }
    if report.locked_out && !cli.json {
        eprintln!("spool-drain: {queue_url}: {}", report.summary());
    } else if cli.json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        value["exit_code"] = report.exit_code().into();
        println!("{value}");
    } else {
        println!("{}", report.summary());
    }
    report.exit_code()
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: finishing the batch in flight");
}
