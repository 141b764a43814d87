//! `halab bench`: benchmarks on a lab daemon halab starts itself. The measuring is in
//! `halab_chaos::bench`; here are the flags, the printing and the exit status.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use halab_chaos::bench::{self, BenchError, CostOptions, RecoveryOptions};

use crate::cli::StateDirArg;
use crate::exit;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Crash → running as halab records it, against the daemon's own event stamps and the seed's
    /// bash loop; detection latency; the cost of a chaos run. One run, one lab daemon (root).
    ///
    /// Prints each figure with its target, the ratio and PASS/MISS. Exit status: 0 every target
    /// met, 1 some target missed, 2 it could not measure (not root, no static busybox, …).
    Recovery(RecoveryArgs),
}

#[derive(Debug, Args)]
pub struct RecoveryArgs {
    #[command(flatten)]
    pub state: StateDirArg,

    /// How many containers to crash (restart=always, each running `sleep`).
    #[arg(long, default_value_t = 12, value_name = "N")]
    pub containers: usize,

    /// A short benchmark: the chaos command runs 60 s instead of 600 s.
    #[arg(long)]
    pub quick: bool,

    /// Seconds the chaos command runs (its `{duration}`) [default: 600, 60 with --quick].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,

    /// The halab command whose cost is measured, as words; `{duration}` and `{lab}` (the
    /// benchmark's lab) are filled in.
    #[arg(long, value_name = "ARGS", default_value = bench::DEFAULT_COST_COMMAND)]
    pub cost_command: String,

    /// Leave out the cost of the chaos command.
    #[arg(long)]
    pub skip_cost: bool,

    /// The static busybox the lab image is built from.
    #[arg(long, value_name = "PATH")]
    pub busybox: Option<PathBuf>,
}

pub async fn run(command: BenchCommand) -> Result<u8> {
    let BenchCommand::Recovery(args) = command;
    let duration = Duration::from_secs(args.duration.unwrap_or(if args.quick { 60 } else { 600 }));
    let cost = if args.skip_cost {
        None
    } else {
        Some(CostOptions {
            halab: std::env::current_exe().context("finding the halab executable")?,
            command: args.cost_command.clone(),
            duration,
        })
    };
    let options = RecoveryOptions {
        state_root: args.state.root(),
        busybox: args.busybox.clone(),
        containers: args.containers,
        cost,
    };
    let note = |line: &str| eprintln_safe(&format!("halab bench: {line}"));
    match bench::recovery(&options, &note).await {
        Ok(report) => {
            crate::commands::emit(&report.render())?;
            Ok(if report.all_met() {
                exit::PASS
            } else {
                exit::FAIL
            })
        }
        // Exit 130, as for an interrupted run.
        Err(BenchError::Interrupted) => Err(halab_chaos::RunError::Interrupted.into()),
        Err(e) => Err(e.into()),
    }
}

/// Progress on stderr; a closed stderr is not an error.
fn eprintln_safe(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        halab_chaos::text::one_line(line)
    );
}
