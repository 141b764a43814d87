//! `halab-figures`: draws the book's figures on stdout.
//!
//! ```text
//! halab-figures timeline RUN.json            a run's history over time (SVG)
//! halab-figures backoff RUN.json [PHASE]     die → start delays beside the model's (SVG)
//! halab-figures states                       the restart-policy state machine (Graphviz DOT)
//! halab-figures transitions                  the same, as a plain list
//! ```
//!
//! RUN.json is what `halab scenario run … --json` prints. `just book-refresh` runs these.

use std::process::ExitCode;

use halab_figures::{Run, backoff, states, timeline};

const USAGE: &str =
    "usage: halab-figures timeline RUN.json | backoff RUN.json [PHASE] | states | transitions";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("halab-figures: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn read_run(path: Option<&String>) -> anyhow::Result<Run> {
    let path = path.ok_or_else(|| anyhow::anyhow!("{USAGE}"))?;
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {path}: {e}"))?;
    Run::from_json(&text).map_err(|e| anyhow::anyhow!("{path}: not a halab run report: {e}"))
}

fn run(args: &[String]) -> anyhow::Result<String> {
    match args.first().map(String::as_str) {
        Some("timeline") if args.len() == 2 => timeline(&read_run(args.get(1))?),
        Some("backoff") if (2..=3).contains(&args.len()) => {
            backoff(&read_run(args.get(1))?, args.get(2).map(String::as_str))
        }
        Some("states") if args.len() == 1 => Ok(states()),
        Some("transitions") if args.len() == 1 => Ok(halab_figures::states::transitions()
            .iter()
            .map(|t| {
                format!(
                    "{:?} --{:?}--> {:?}  {:?}\n",
                    t.from, t.event, t.to, t.policies
                )
            })
            .collect()),
        _ => anyhow::bail!("{USAGE}"),
    }
}
