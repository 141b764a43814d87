//! `halab chaos run` and `halab report`: a chaos run with its report directory, and judging
//! one again.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use halab_chaos::chaos::{self, Schedule};
use halab_chaos::report_dir::{self, ReportDir};
use halab_chaos::scenario::{self, limits::MAX_SECONDS};
use halab_chaos::{RuntimeChoice, Target};

use crate::cli::{ChaosRunArgs, EngineArg, ReportArgs, RuntimeArg};
use crate::commands::{docker_target, emit, run_options, say, scenarios_dir, tell};
use crate::exit;

pub async fn run(args: ChaosRunArgs, state_root: PathBuf) -> Result<u8> {
    let dir = scenarios_dir(&args.dir);
    let path = scenario::locate(&args.scenario, &dir)?;
    let sets = scenario::parse_sets(&args.sets)?;
    let scenario = scenario::load(&path, &sets)?;
    let setup = &args.setup;
    let seed = args.seed.unwrap_or_else(chaos::random_seed);
    let runtime = match (args.runtime, &setup.target.docker_host, &setup.target.lab) {
        (RuntimeArg::Sim, None, None) => RuntimeChoice::Sim {
            seed,
            live_restore: setup.live_restore,
            engine: args.engine.unwrap_or(EngineArg::V20_10).into(),
        },
        (RuntimeArg::Sim, _, _) => {
            bail!("--runtime sim simulates its own daemon: it takes no --docker-host or --lab")
        }
        (RuntimeArg::Docker, ..) if args.engine.is_some() => {
            bail!(
                "--engine is the simulator's (with --runtime sim): a real daemon is judged by the model of its own engine"
            )
        }
        (RuntimeArg::Docker, ..) => RuntimeChoice::Docker(docker_target(setup)),
    };
    let duration_ms = duration(&args, &scenario)?;
    // A daemon halab does not own gets container faults only.
    let daemon_faults =
        !matches!(runtime, RuntimeChoice::Docker(Target::Host { .. })) && !setup.skip_daemon_phases;
    let (scenario, schedule) = chaos::expand(&scenario, seed, duration_ms, daemon_faults);
    if args.dry_run {
        emit(&dry_run(&scenario, schedule.as_ref(), seed))?;
        return Ok(exit::PASS);
    }
    let report_path = args.report.clone().unwrap_or_else(|| {
        PathBuf::from("halab-reports").join(format!(
            "{}-seed{seed}-{}",
            scenario.name.replace('/', "-"),
            halab_chaos::runner::names::new_run_id()
        ))
    });
    let report_dir = ReportDir::create(&report_path)?;
    report_dir.write_plan(&scenario, schedule.as_ref())?;
    match &schedule {
        Some(s) => tell(&format!(
            "seed {seed}: {} faults in {} s; the history streams to {}",
            s.faults(),
            s.duration_ms as f64 / 1000.0,
            report_path.join(report_dir::HISTORY).display()
        )),
        None => tell(&format!(
            "seed {seed} (the scenario's schedule is its own); the history streams to {}",
            report_path.join(report_dir::HISTORY).display()
        )),
    }
    let options = run_options(setup, runtime, state_root, args.reference);
    let mut stream = report_dir.stream(halab_chaos::view::for_stderr())?;
    let report = halab_chaos::run(&scenario, &options, &mut stream).await?;
    let streamed = stream.into_result();
    report_dir.finish(&report, args.junit.as_deref())?;
    emit(&report.summary())?;
    say(format!(
        "seed {seed}; report: {}",
        report_path.join(report_dir::HTML).display()
    ))?;
    streamed.context("the history could not be streamed whole (the report holds all of it)")?;
    Ok(exit::of(report.verdict))
}

/// `--duration`, checked: only for a drawn schedule, in range, and not too many faults.
fn duration(args: &ChaosRunArgs, scenario: &halab_chaos::Scenario) -> Result<Option<u64>> {
    let Some(secs) = args.duration else {
        return Ok(None);
    };
    let Some(generator) = &scenario.chaos else {
        bail!(
            "--duration is for a schedule drawn from a `[chaos]` table, and {} has none: its own \
             phases say how long it runs",
            scenario.path.display()
        );
    };
    if !(secs.is_finite() && secs > 0.0 && secs <= MAX_SECONDS) {
        bail!("--duration {secs}: seconds, more than 0 and at most {MAX_SECONDS} (a day)");
    }
    let ms = (secs * 1000.0).round() as u64;
    if let Err(problem) = scenario::generator::check_fault_count(ms, generator.every_ms) {
        bail!("--duration {secs}: {problem}");
    }
    Ok(Some(ms))
}

/// What `--dry-run` prints: the seed and the schedule, as a scenario file would hold it.
fn dry_run(scenario: &halab_chaos::Scenario, schedule: Option<&Schedule>, seed: u64) -> String {
    match schedule {
        Some(s) => format!(
            "# {}: seed {seed}, {} faults in {} s (then {} s to settle)\n{}",
            scenario.name,
            s.faults(),
            s.duration_ms as f64 / 1000.0,
            s.settle_ms as f64 / 1000.0,
            s.to_toml()
        ),
        None => {
            let phases: Vec<String> = scenario.phases.iter().map(chaos::render_phase).collect();
            format!(
                "# {}: no `[chaos]` table; its own phases, as written\n{}",
                scenario.name,
                phases.join("\n")
            )
        }
    }
}

pub fn report(args: &ReportArgs) -> Result<u8> {
    let loaded = ReportDir::load(&args.dir)?;
    let finished = loaded.finished;
    let report = halab_chaos::judge_again(loaded);
    let dir = ReportDir::existing(&args.dir);
    if finished {
        dir.finish(&report, args.junit.as_deref())?;
    } else {
        // A killed run's prefix: rendered, but left a prefix (no result.json that would make
        // it look finished).
        dir.render(&report, args.junit.as_deref())?;
    }
    emit(&report.summary())?;
    say(format!(
        "report: {}",
        args.dir.join(report_dir::HTML).display()
    ))?;
    Ok(exit::of(report.verdict))
}
