//! The `halab` command line. Parsing and printing live here; the work is in the library crates.

mod bench;
mod chaos;
mod cli;
mod commands;
mod suite;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Exit statuses, as documented in `halab --help`.
pub mod exit {
    use halab_chaos::Verdict;

    /// The scenario passed / the command did what it was asked.
    pub const PASS: u8 = 0;
    /// The scenario ran and a check failed.
    pub const FAIL: u8 = 1;
    /// Bad input or an environment halab cannot work in; nothing was left behind.
    pub const ERROR: u8 = 2;
    /// The scenario ran but its history cannot decide (the daemon was lost under it, say).
    pub const UNKNOWN: u8 = 3;
    /// Interrupted (Ctrl-C, SIGTERM, SIGHUP); everything the run created was removed.
    pub const INTERRUPTED: u8 = 130;

    /// The exit status of a run with this verdict.
    pub fn of(verdict: Verdict) -> u8 {
        match verdict {
            Verdict::Pass => PASS,
            Verdict::Fail => FAIL,
            Verdict::Unknown | Verdict::NotRun => UNKNOWN,
        }
    }
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
            // Not eprintln!: a closed stderr must not turn exit status 2 into a panic. The
            // message may quote input (a file's text, a flag's value): its control characters
            // are shown escaped, never sent to the terminal.
            let mut stderr = std::io::stderr().lock();
            let mut said = e.to_string();
            let _ = writeln!(stderr, "error: {}", halab_chaos::text::lines(&said));
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                // Errors that quote their source already need not say it twice.
                if said.contains(&cause) {
                    continue;
                }
                let _ = writeln!(stderr, "  caused by: {}", halab_chaos::text::lines(&cause));
                said.push_str(&cause);
            }
            let interrupted = e
                .downcast_ref::<halab_chaos::RunError>()
                .is_some_and(|e| matches!(e, halab_chaos::RunError::Interrupted))
                || e.downcast_ref::<halab_chaos::suite::SuiteError>()
                    .is_some_and(|e| matches!(e, halab_chaos::suite::SuiteError::Interrupted));
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
