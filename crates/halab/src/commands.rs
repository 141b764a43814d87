//! What each command does: resolve its input, call the library, print.

use std::path::{Path, PathBuf};

use std::io::Write as _;

use anyhow::{Context, Result, bail};
use clap::CommandFactory as _;
use halab_chaos::{RunOptions, RuntimeChoice, Target, Verdict, scenario};
use halab_docker::connect::resolve_host;
use halab_docker::image::LabImage;
use halab_lab::{Lab, LabOptions};
use halab_model::DaemonOp;

use crate::cli::{
    ChaosCommand, Cli, Command, CompareArgs, EngineArg, GcArgs, ImageCommand, LabCommand, ListArgs,
    ModelCommand, RunArgs, RunSetup, RuntimeArg, ScenarioCommand, ScenariosDir, TargetArgs,
};
use crate::exit;

pub async fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Scenario(ScenarioCommand::Run(args)) => {
            let state_root = args.setup.target.state.root();
            run_scenario(args, state_root).await
        }
        Command::Scenario(ScenarioCommand::Compare(args)) => {
            let state_root = args.setup.target.state.root();
            compare_scenario(args, state_root).await
        }
        Command::Scenario(ScenarioCommand::List(args)) => list_scenarios(&args),
        Command::Scenario(ScenarioCommand::Limits) => {
            emit(&scenario::limits::reference_table())?;
            Ok(exit::PASS)
        }
        Command::Chaos(ChaosCommand::Run(args)) => {
            let state_root = args.setup.target.state.root();
            crate::chaos::run(args, state_root).await
        }
        Command::Chaos(ChaosCommand::Suite(args)) => crate::suite::suite(args).await,
        Command::Chaos(ChaosCommand::Replay(args)) => crate::suite::replay(args).await,
        Command::Chaos(ChaosCommand::Mutants(args)) => crate::suite::mutants(args).await,
        Command::Chaos(ChaosCommand::Docs(args)) => crate::suite::docs(args).await,
        Command::Report(args) => crate::chaos::report(&args),
        Command::Image(ImageCommand::Build { target, busybox }) => {
            build_image(&target, busybox.as_deref(), &target.state.root()).await
        }
        Command::Lab(lab) => lab_command(lab.command, &lab.state.root()).await,
        Command::Gc(args) => gc(&args, &args.state.root()).await,
        Command::Model(ModelCommand::Table { engine, json }) => {
            let table = halab_model::TransitionTable::of(engine.into());
            if json {
                let mut text = serde_json::to_string_pretty(&table)
                    .context("writing the transition table as JSON")?;
                text.push('\n');
                emit(&text)?;
            } else {
                emit(&table.to_markdown())?;
            }
            Ok(exit::PASS)
        }
        Command::Bench(bench) => crate::bench::run(bench).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "halab", &mut script);
            emit(&String::from_utf8_lossy(&script))?;
            Ok(exit::PASS)
        }
    }
}

/// Writes to stdout. A failed write (a closed pipe, a full disk) is an error the caller
/// reports, never a panic as `print!` would make it.
pub(crate) fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to standard output")
}

/// [`emit`] of one line.
pub(crate) fn say(line: impl std::fmt::Display) -> Result<()> {
    emit(&format!("{line}\n"))
}

/// The scenarios directory: as given, else ./scenarios, else the repository halab was built from.
/// A ./scenarios that is not the built-in directory hides it, so that choice is said on stderr.
pub(crate) fn scenarios_dir(dir: &ScenariosDir) -> PathBuf {
    if let Some(dir) = &dir.scenarios {
        return dir.clone();
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
        if !same(&here, &built_in) {
            tell(&format!(
                "scenarios from ./scenarios (the current directory's, not the built-in {}; \
                 --scenarios DIR chooses)",
                built_in.display()
            ));
        }
        return here;
    }
    built_in
}

/// A note on stderr, beside the progress; a closed stderr is not an error.
pub(crate) fn tell(note: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "halab: {}",
        halab_chaos::text::one_line(note)
    );
}

async fn run_scenario(args: RunArgs, state_root: PathBuf) -> Result<u8> {
    let dir = scenarios_dir(&args.dir);
    let paths = scenario::locate_all(&args.scenario, &dir)?;
    let sets = scenario::parse_sets(&args.sets)?;
    // Every file of a suite is read and checked before anything runs: bad input loses nothing.
    let scenarios = paths
        .iter()
        .map(|path| scenario::load(path, &sets))
        .collect::<Result<Vec<_>, _>>()?;
    let setup = &args.setup;
    // A scenario with a `[chaos]` table has its schedule drawn from the seed, on any runtime.
    let drawn = scenarios.iter().any(|s| s.chaos.is_some());
    let seed = args.seed.unwrap_or(0);
    let runtime = match (args.runtime, &setup.target.docker_host, &setup.target.lab) {
        (RuntimeArg::Sim, None, None) => RuntimeChoice::Sim {
            seed,
            live_restore: setup.live_restore,
            engine: args.engine.unwrap_or(EngineArg::V20_10).into(),
        },
        (RuntimeArg::Docker, ..) if (args.seed.is_some() && !drawn) || args.engine.is_some() => {
            bail!(
                "--{} is the simulator's (with --runtime sim): a real daemon is neither seeded nor \
             told its engine",
                if args.seed.is_some() {
                    "seed"
                } else {
                    "engine"
                }
            )
        }
        (RuntimeArg::Sim, _, _) => {
            bail!("--runtime sim simulates its own daemon: it takes no --docker-host or --lab")
        }
        (RuntimeArg::Docker, ..) => RuntimeChoice::Docker(docker_target(setup)),
    };
    let options = run_options(setup, runtime, state_root, args.reference);
    let mut view = halab_chaos::view::for_stderr();
    let mut reports = Vec::new();
    let daemon_faults = setup.target.docker_host.is_none() && !setup.skip_daemon_phases;
    for scenario in &scenarios {
        let (scenario, schedule) = halab_chaos::chaos::expand(scenario, seed, None, daemon_faults);
        if let Some(schedule) = schedule {
            tell(&format!(
                "{}: seed {seed}, {} faults drawn in {} s (`halab chaos run --dry-run` shows them)",
                scenario.name,
                schedule.faults(),
                schedule.duration_ms as f64 / 1000.0
            ));
        }
        let report = halab_chaos::run(&scenario, &options, view.as_mut()).await?;
        if !args.json {
            emit(&report.summary())?;
        }
        reports.push(report);
    }
    if let Some(file) = &args.json_file {
        let json = if reports.len() == 1 {
            serde_json::to_string_pretty(&reports[0])?
        } else {
            serde_json::to_string_pretty(&reports)?
        };
        std::fs::write(file, json).with_context(|| format!("writing {}", file.display()))?;
    }
    let verdict = reports.iter().fold(Verdict::Pass, |v, r| v.and(r.verdict));
    let suite =
        paths.len() > 1 || Path::new(&args.scenario).is_dir() || dir.join(&args.scenario).is_dir();
    if args.json {
        if suite {
            say(serde_json::to_string_pretty(&serde_json::json!({
                "suite": args.scenario,
                "verdict": verdict,
                "runs": reports,
            }))?)?;
        } else {
            say(serde_json::to_string_pretty(&reports[0])?)?;
        }
    } else if suite {
        let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
        say(format!(
            "{}  suite {}: {} scenario(s), {} passed, {} failed, {} undecided",
            verdict.label(),
            halab_chaos::text::one_line(&args.scenario),
            reports.len(),
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Unknown) + count(Verdict::NotRun),
        ))?;
    }
    Ok(exit::of(verdict))
}

/// The real daemon a run goes to: --docker-host, --lab, or a lab started for the run.
pub(crate) fn docker_target(setup: &RunSetup) -> Target {
    match (&setup.target.docker_host, &setup.target.lab) {
        (Some(host), _) => Target::Host {
            docker_host: host.clone(),
        },
        (None, Some(name)) => Target::Lab { name: name.clone() },
        (None, None) => Target::NewLab {
            live_restore: setup.live_restore,
        },
    }
}

pub(crate) fn run_options(
    setup: &RunSetup,
    runtime: RuntimeChoice,
    state_root: PathBuf,
    reference: halab_model::Reference,
) -> RunOptions {
    RunOptions {
        runtime,
        skip_daemon_phases: setup.skip_daemon_phases,
        busybox: setup.busybox.clone(),
        state_root,
        reference,
        min_late_ms: 0,
    }
}

/// The simulator's prediction, then the real run, then both side by side. Exit status 1 when
/// they differ by an event, else the real run's verdict.
async fn compare_scenario(args: CompareArgs, state_root: PathBuf) -> Result<u8> {
    let dir = scenarios_dir(&args.dir);
    let path = scenario::locate(&args.scenario, &dir)?;
    let sets = scenario::parse_sets(&args.sets)?;
    let scenario = scenario::load(&path, &sets)?;
    let options = |runtime| {
        run_options(
            &args.setup,
            runtime,
            state_root.clone(),
            halab_model::Reference::Engine,
        )
    };
    let mut view = halab_chaos::view::for_stderr();
    let predicted = halab_chaos::run(
        &scenario,
        &options(RuntimeChoice::Sim {
            seed: args.seed,
            live_restore: args.setup.live_restore,
            engine: halab_model::EngineVersion::V20_10,
        }),
        view.as_mut(),
    )
    .await?;
    let real = halab_chaos::run(
        &scenario,
        &options(RuntimeChoice::Docker(docker_target(&args.setup))),
        view.as_mut(),
    )
    .await?;
    emit(&real.summary())?;
    let table =
        halab_chaos::side_by_side::side_by_side(&scenario.service_names(), &predicted, &real);
    emit(&table.render())?;
    Ok(if table.differences() > 0 {
        exit::FAIL
    } else {
        exit::of(real.verdict)
    })
}

fn list_scenarios(args: &ListArgs) -> Result<u8> {
    let dir = scenarios_dir(&args.dir);
    let rows = all_scenarios(&dir);
    if rows.is_empty() {
        bail!("no scenarios (*.toml) in {}", dir.display());
    }
    if args.markdown {
        emit(&scenarios_page(&rows))?;
        return Ok(exit::PASS);
    }
    let rows: Vec<(String, String)> = rows
        .into_iter()
        .map(|(name, path)| {
            (
                halab_chaos::text::one_line(&name).into_owned(),
                describe(&path),
            )
        })
        .collect();
    let width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    for (name, summary) in rows {
        say(format!("{name:<width$}  {summary}"))?;
    }
    Ok(exit::PASS)
}

/// Every scenario `scenario run` takes by name: the directory's files, then each suite's.
fn all_scenarios(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut rows = scenario::list(dir);
    for (suite, suite_dir) in scenario::suites(dir) {
        rows.extend(
            scenario::list(&suite_dir)
                .into_iter()
                .map(|(name, path)| (format!("{suite}/{name}"), path)),
        );
    }
    rows
}

/// The book's page of scenarios (`book/src/reference/scenarios.md`): chapters link to a
/// scenario as `reference/scenarios.md#ANCHOR`, the anchor being its name with `/` as `-`.
fn scenarios_page(rows: &[(String, PathBuf)]) -> String {
    let mut page = String::from(
        "# Scenarios\n\n\
         Generated by `halab scenario list --markdown`; do not edit (`just reference`).\n\n\
         Every scenario the book cites, and every suite's members, with what each shows (its \
         header comment) and its file. Run one in the simulator with \
         `halab scenario run NAME --runtime sim`, on a lab (root) with `halab scenario run NAME`, \
         or both side by side with `halab scenario compare NAME`; a suite (`differential`, \
         `chaos`, …) runs all its members. The format is on [Scenario files](scenario-format.md).\n",
    );
    let mut suite = "";
    for (name, path) in rows {
        let (group, _) = name.split_once('/').unwrap_or(("", name));
        if group != suite {
            suite = group;
            page.push_str(&format!(
                "\n## The `{group}` suite\n\n`halab scenario run {group}` runs them all.\n"
            ));
        }
        let level = if group.is_empty() { "##" } else { "###" };
        let anchor = name.replace('/', "-");
        page.push_str(&format!("\n{level} `{name}` {{#{anchor}}}\n\n"));
        let comment = header_comment(path);
        if comment.is_empty() {
            page.push_str(&format!("{}\n", describe(path)));
        } else {
            page.push_str(&format!("{comment}\n"));
        }
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = if group.is_empty() {
            file.clone()
        } else {
            format!("{group}/{file}")
        };
        page.push_str(&format!(
            "\n<details><summary><code>scenarios/{rel}</code></summary>\n\n\
             ```toml\n{{{{#include ../../../scenarios/{rel}}}}}\n```\n\n</details>\n"
        ));
    }
    page
}

/// The comment lines a scenario file starts with, as one paragraph.
fn header_comment(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map_while(|l| l.strip_prefix('#'))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// A scenario's one-line summary, or why it cannot be loaded.
fn describe(path: &Path) -> String {
    match scenario::load(path, &[]) {
        Ok(s) => halab_chaos::text::one_line(&s.summary).into_owned(),
        Err(e) => format!("(invalid: {})", halab_chaos::text::one_line(&e.to_string())),
    }
}

/// The daemon address for a command that takes --docker-host / --lab.
fn target_host(target: &TargetArgs, state_root: &Path) -> Result<String> {
    Ok(match (&target.docker_host, &target.lab) {
        (Some(host), _) => host.clone(),
        (None, Some(name)) => Lab::open(state_root, name)?.docker_host(),
        (None, None) => resolve_host(None),
    })
}

async fn build_image(target: &TargetArgs, busybox: Option<&Path>, state_root: &Path) -> Result<u8> {
    let image = LabImage::from_busybox(busybox)?;
    let host = target_host(target, state_root)?;
    let (docker, _) = halab_docker::connect(&host).await?;
    let tag = image.ensure(&docker).await?;
    say(tag)?;
    Ok(exit::PASS)
}

async fn lab_command(command: LabCommand, state_root: &Path) -> Result<u8> {
    match command {
        LabCommand::Up {
            name,
            live_restore,
            busybox,
        } => {
            let image = LabImage::from_busybox(busybox.as_deref())?;
            let lab = Lab::up(
                state_root,
                &name,
                &LabOptions {
                    live_restore,
                    labels: vec![],
                },
            )
            .await?;
            let loaded = async {
                let (docker, info) = halab_docker::connect(&lab.docker_host()).await?;
                let tag = image.ensure(&docker).await?.to_owned();
                anyhow::Ok((info, tag))
            }
            .await;
            match loaded {
                Ok((info, tag)) => {
                    say(format!(
                        "lab {name} is up: engine {}, image {tag}",
                        info.engine_version
                    ))?;
                    say(format!("  export DOCKER_HOST={}", lab.docker_host()))?;
                    Ok(exit::PASS)
                }
                Err(e) => {
                    // Leave nothing half-made behind.
                    let _ = lab.down().await;
                    Err(e.context(format!(
                        "lab {name} started but the lab image could not be loaded; removed it"
                    )))
                }
            }
        }
        LabCommand::Down { names, all } => {
            let names = if all {
                Lab::list(state_root)?.into_iter().map(|s| s.name).collect()
            } else {
                names
            };
            // Idempotent, like `rm -f`: a lab that is not there is already down.
            for name in names {
                if Lab::down_by_name(state_root, &name).await? {
                    say(format!("lab {name} removed"))?;
                } else {
                    say(format!(
                        "lab {name}: nothing of it under {}, nothing to remove",
                        state_root.display()
                    ))?;
                }
            }
            Ok(exit::PASS)
        }
        LabCommand::Status { name } => {
            let labs = Lab::list(state_root)?;
            let labs: Vec<_> = labs
                .into_iter()
                .filter(|l| name.as_ref().is_none_or(|n| *n == l.name))
                .collect();
            if let (Some(name), true) = (&name, labs.is_empty()) {
                Lab::open(state_root, name)?; // says which labs exist
            }
            if labs.is_empty() {
                say(format!("no labs under {}", state_root.display()))?;
            }
            for lab in labs {
                let state = match lab.pid {
                    Some(pid) if lab.running => format!("running (dockerd pid {pid})"),
                    _ => "down".to_owned(),
                };
                let restore = if lab.live_restore {
                    ", live-restore"
                } else {
                    ""
                };
                say(format!(
                    "{:<24} {state}{restore}  {}",
                    lab.name, lab.docker_host
                ))?;
            }
            Ok(exit::PASS)
        }
        LabCommand::Restart { name, crash } => {
            let lab = Lab::open(state_root, &name)?;
            let started = std::time::Instant::now();
            lab.restart(if crash {
                DaemonOp::Crash
            } else {
                DaemonOp::Stop
            })
            .await?;
            let how = if crash {
                "killed (SIGKILL)"
            } else {
                "stopped (SIGTERM)"
            };
            say(format!(
                "lab {name}: dockerd {how} and started again in {:.1} s",
                started.elapsed().as_secs_f64()
            ))?;
            Ok(exit::PASS)
        }
    }
}

async fn gc(args: &GcArgs, state_root: &Path) -> Result<u8> {
    let options = halab_chaos::gc::GcOptions {
        run: args.run.clone(),
        docker_host: resolve_host(args.docker_host.as_deref()),
        state_root: state_root.to_path_buf(),
        tmp: std::env::temp_dir(),
        force: args.force,
    };
    let report = halab_chaos::gc::gc(&options).await;
    say(format!(
        "removed {} container(s) labelled {} on {}{}",
        report.containers.len(),
        args.run.as_deref().map_or(
            halab_docker::labels::RUN.to_owned(),
            halab_docker::labels::run_filter
        ),
        options.docker_host,
        list_suffix(&report.containers)
    ))?;
    say(format!(
        "removed {} lab(s){}",
        report.labs.len(),
        list_suffix(&report.labs)
    ))?;
    let dirs: Vec<String> = report
        .work_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    say(format!(
        "removed {} work director(ies){}",
        dirs.len(),
        list_suffix(&dirs)
    ))?;
    for (run, pid) in &report.spared {
        say(format!(
            "left alone: run {run} is live (its halab process, pid {pid}, still runs); --force removes it anyway"
        ))?;
    }
    if report.failures.is_empty() {
        Ok(exit::PASS)
    } else {
        bail!("gc did not finish:\n  {}", report.failures.join("\n  "))
    }
}

fn list_suffix(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    }
}
