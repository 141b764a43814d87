//! `halab chaos suite`, `replay`, `mutants` and `docs`: the property-based suites, saved
//! schedules played again, the mutation check and the docs-versus-daemon search.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use halab_chaos::report_dir::ReportDir;
use halab_chaos::scenario;
use halab_chaos::suite::{self, Options, Runtime};
use halab_chaos::{RunOptions, RuntimeChoice, Target, Verdict};
use halab_model::EngineVersion;

use crate::cli::{DocsArgs, MutantsArgs, ReplayArgs, SuiteArgs, SuiteRuntimeArg};
use crate::commands::{emit, say, scenarios_dir, tell};
use crate::exit;

fn runtime(arg: SuiteRuntimeArg) -> Runtime {
    match arg {
        SuiteRuntimeArg::Lab => Runtime::Lab,
        SuiteRuntimeArg::Sim => Runtime::Sim,
    }
}

/// `./halab-reports/NAME-TIME`: where a command's report goes when not told.
pub(crate) fn default_report_dir(name: &str) -> PathBuf {
    PathBuf::from("halab-reports").join(format!(
        "{name}-{}",
        halab_chaos::runner::names::new_run_id()
    ))
}

pub async fn suite(args: SuiteArgs) -> Result<u8> {
    let suite = suite::find(&args.suite).map_err(anyhow::Error::msg)?;
    if args.cases == Some(0) {
        bail!("--cases 0: a suite runs at least one case");
    }
    if args.shrink_time == Some(0) {
        bail!(
            "--shrink-time 0: shrinking needs some time (use --shrink-iterations 0 to turn it off)"
        );
    }
    let seed = args.seed.unwrap_or_else(halab_chaos::chaos::random_seed);
    let runtime = runtime(args.runtime);
    let report_dir = args
        .report
        .clone()
        .unwrap_or_else(|| default_report_dir(&format!("suite-{}-seed{seed}", suite.name)));
    if report_dir.join("suite.json").exists() {
        bail!(
            "{} holds a suite's report already: halab never writes over one",
            report_dir.display()
        );
    }
    let regressions = if args.no_regressions {
        None
    } else {
        Some(
            args.regressions
                .clone()
                .unwrap_or_else(|| scenarios_dir(&args.dir).join("regressions")),
        )
    };
    let options = Options {
        seed,
        cases: args.cases,
        reference: args.reference,
        runtime,
        report_dir: report_dir.clone(),
        regressions,
        screen: !args.no_screen,
        shrink_iterations: args.shrink_iterations,
        shrink_time: args.shrink_time.map(std::time::Duration::from_secs),
        sim_late_floor_ms: 0,
        sim_pace_ms: 0,
        state_root: args.labs.state.root(),
        busybox: args.labs.busybox.clone(),
    };
    tell(&format!(
        "suite {} with seed {seed} (`--seed {seed}` draws the same cases): {} cases on {} lane(s), judged by the {} model",
        suite.name,
        args.cases.unwrap_or(suite.cases),
        suite.lanes.len(),
        args.reference
    ));
    let say_line = |line: &str| tell(line);
    let report = suite::run(suite, &options, &say_line).await?;
    if let Some(junit) = &args.junit {
        std::fs::write(junit, report.junit())
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    if args.json {
        say(serde_json::to_string_pretty(&report)?)?;
    } else {
        emit(&report.summary())?;
    }
    Ok(exit::of(report.verdict))
}

pub async fn replay(args: ReplayArgs) -> Result<u8> {
    let scenario = scenario::load(&args.file, &[])?;
    let Some(found) = scenario.found.clone() else {
        bail!(
            "{} has no `[found]` table: it is not a saved schedule (`halab scenario run` plays any scenario)",
            args.file.display()
        );
    };
    let reference = args.reference.unwrap_or(found.reference);
    let runtime = match args.runtime {
        SuiteRuntimeArg::Lab => RuntimeChoice::Docker(Target::NewLab {
            live_restore: scenario.live_restore,
        }),
        SuiteRuntimeArg::Sim => RuntimeChoice::Sim {
            seed: 0,
            live_restore: scenario.live_restore,
            engine: EngineVersion::V20_10,
        },
    };
    let options = RunOptions {
        runtime,
        skip_daemon_phases: false,
        busybox: args.labs.busybox.clone(),
        state_root: args.labs.state.root(),
        reference,
        min_late_ms: 0,
    };
    let report_dir = args
        .report
        .clone()
        .unwrap_or_else(|| default_report_dir(&format!("replay-{}", scenario.name)));
    let dir = ReportDir::create(&report_dir)?;
    dir.write_plan(&scenario, None)?;
    let mut stream = dir.stream(halab_chaos::view::for_stderr())?;
    let report = halab_chaos::run(&scenario, &options, &mut stream).await?;
    drop(stream);
    dir.finish(&report, None)?;
    let failed = suite::failed_properties(&report);
    // The same verdict; for a failure, one of the properties that failed then fails again (a
    // run on a real daemon may differ by one: an inspection landing a moment earlier, an event
    // the model predicts just as the run ends).
    let same = report.verdict == found.verdict
        && (found.failed.is_empty() || found.failed.iter().any(|f| failed.contains(f)));
    let also: Vec<&String> = failed
        .iter()
        .filter(|f| !found.failed.contains(f))
        .collect();
    if args.json {
        say(serde_json::to_string_pretty(&serde_json::json!({
            "reproduced": same,
            "recorded": found,
            "reference": reference,
            "failed": failed,
            "report": report,
        }))?)?;
    } else {
        emit(&report.summary())?;
        let shown = |v: Verdict, failed: &[String]| {
            if failed.is_empty() {
                v.label().to_lowercase()
            } else {
                format!("{} ({})", v.label().to_lowercase(), failed.join(", "))
            }
        };
        let judged = if reference == found.reference {
            String::new()
        } else {
            format!(" (judged by {reference}, not {})", found.reference)
        };
        say(if same {
            format!(
                "reproduced{judged}: {}, as recorded{}; report: {}",
                shown(report.verdict, &failed),
                if also.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} more than recorded)",
                        also.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                report_dir.display()
            )
        } else {
            format!(
                "NOT reproduced{judged}: recorded {}, now {}; report: {}",
                shown(found.verdict, &found.failed),
                shown(report.verdict, &failed),
                report_dir.display()
            )
        })?;
    }
    Ok(exit::of(report.verdict))
}

/// Simulated cases a search plays per attempt (each attempt a seed).
const SEARCH_CASES: u32 = 2_000;

pub async fn mutants(args: MutantsArgs) -> Result<u8> {
    let suite = suite::find("quick").map_err(anyhow::Error::msg)?;
    let seed = args.seed.unwrap_or_else(halab_chaos::chaos::random_seed);
    let confirm = !args.sim_only;
    if confirm {
        halab_lab::require_root()?;
    }
    let report_dir = args
        .report
        .clone()
        .unwrap_or_else(|| default_report_dir(&format!("mutants-seed{seed}")));
    tell(&format!(
        "mutation check with seed {seed}: each wrong model searched in the quick suite's cases{}",
        if confirm {
            ", its shrunk schedule confirmed on a lab"
        } else {
            " (simulator only)"
        }
    ));
    let say_line = |line: &str| tell(line);
    let report = halab_chaos::search::mutants::check(
        suite,
        seed,
        SEARCH_CASES,
        confirm,
        report_dir,
        args.labs.state.root(),
        args.labs.busybox.clone(),
        &say_line,
    )
    .await?;
    if let Some(junit) = &args.junit {
        std::fs::write(junit, report.junit())
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    emit(&report.summary())?;
    Ok(if report.passed() {
        exit::PASS
    } else {
        exit::FAIL
    })
}

pub async fn docs(args: DocsArgs) -> Result<u8> {
    let suite = suite::find("deep").map_err(anyhow::Error::msg)?;
    let confirm = !args.sim_only;
    if confirm {
        halab_lab::require_root()?;
    }
    let work = args
        .report
        .clone()
        .unwrap_or_else(|| default_report_dir(&format!("docs-seed{}", args.seed)));
    let schedules = if confirm {
        args.schedules.clone()
    } else {
        work.join("schedules")
    };
    if confirm {
        // A fresh set of rows: the schedules of an earlier search are replaced.
        if let Ok(entries) = std::fs::read_dir(&schedules) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|e| e == "toml") {
                    std::fs::remove_file(entry.path())
                        .with_context(|| format!("removing {}", entry.path().display()))?;
                }
            }
        }
    }
    tell(&format!(
        "docs versus daemon with seed {}: the deep suite's cases searched for what the documentation gets wrong{}",
        args.seed,
        if confirm {
            ", each finding confirmed on a lab"
        } else {
            " (simulator only)"
        }
    ));
    let say_line = |line: &str| tell(line);
    let out = halab_chaos::search::docs::Output {
        scenarios: &schedules,
        work: &work,
    };
    let report = halab_chaos::search::docs::search(
        suite,
        args.seed,
        SEARCH_CASES,
        confirm,
        &out,
        args.labs.state.root(),
        args.labs.busybox.clone(),
        &say_line,
    )
    .await?;
    std::fs::write(
        work.join("docs.json"),
        serde_json::to_string_pretty(&report)?,
    )
    .with_context(|| format!("writing {}", work.join("docs.json").display()))?;
    if confirm {
        let engine = engine_release(&args).await;
        let markdown = report.markdown(&engine, &schedules.display().to_string());
        if let Some(parent) = args.markdown.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&args.markdown, markdown)
            .with_context(|| format!("writing {}", args.markdown.display()))?;
        tell(&format!("wrote {}", args.markdown.display()));
    }
    emit(&report.summary())?;
    Ok(exit::PASS)
}

/// The engine the labs ran, as the machine's `dockerd --version` says it.
async fn engine_release(_args: &DocsArgs) -> String {
    let output = tokio::process::Command::new("dockerd")
        .arg("--version")
        .output()
        .await;
    match output {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            text.split_whitespace()
                .nth(2)
                .map(|v| v.trim_end_matches(',').to_owned())
                .unwrap_or_else(|| "20.10".into())
        }
        _ => "20.10".into(),
    }
}
