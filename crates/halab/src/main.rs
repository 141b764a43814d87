//! The `halab` command line. Parsing and printing live here; the work is in the library crates.

mod cli;
mod commands;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Exit statuses, as documented in `halab --help`.
pub mod exit {
    /// The scenario passed / the command did what it was asked.
    pub const PASS: u8 = 0;
    /// The scenario ran and a check failed.
    pub const FAIL: u8 = 1;
    /// Bad input or an environment halab cannot work in; nothing was left behind.
    pub const ERROR: u8 = 2;
    /// Interrupted (Ctrl-C, SIGTERM); everything the run created was removed.
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Not eprintln!: a closed stderr must not turn exit status 2 into a panic.
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {e}");
            for cause in e.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            let interrupted = e
                .downcast_ref::<halab_chaos::RunError>()
                .is_some_and(|e| matches!(e, halab_chaos::RunError::Interrupted));
            ExitCode::from(if interrupted {
                exit::INTERRUPTED
            } else {
                exit::ERROR
            })
        }
    }
}

/// Logs go to stderr; `HALAB_LOG` (a tracing filter) wins over `-v`.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,halab=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HALAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
