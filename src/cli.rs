//! What squall's programs (`spool-drain`, `static-bundle`) share: their log set-up.

use std::io::IsTerminal;

/// Sends `tracing` output to stderr (coloured only on a terminal), filtered by the
/// `SQUALL_LOG` environment variable in `tracing-subscriber`'s `EnvFilter` syntax
/// (`SQUALL_LOG=debug`, `SQUALL_LOG=squall=info`); `warn` when it is unset or invalid.
///
/// Call it once, first thing in `main`; a second call changes nothing.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SQUALL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}
