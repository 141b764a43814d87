//! Search in the simulator, confirm on the daemon: for a reference other than the engine's (a
//! wrong model, the documentation), find a schedule on which it and the engine disagree in a
//! way a lab can show.
//!
//! The simulator plays the engine's model, so a simulated run judged by another reference
//! fails exactly where the two disagree; judged with a lab's slack
//! ([`suite::LAB_LIKE_LATE_MS`]), only where the disagreement is large enough to show on a lab.
//! A suite's cases are searched there at thousands a second and the first failure is shrunk
//! there too; the smallest schedule is then played once on a lab daemon: it is confirmed when
//! the daemon's history fails the reference and passes the engine's model — the daemon did what
//! the engine's model says and the other reference does not.

use std::path::{Path, PathBuf};
use std::time::Instant;

use halab_model::Reference;
use serde::Serialize;

use crate::checks::Verdict;
use crate::machine::{Case, compile};
use crate::report::Report;
use crate::report_dir::ReportDir;
use crate::runner::{RunError, RunOptions, RuntimeChoice, Target};
use crate::scenario::{Found, Scenario, render};
use crate::suite::{self, Options, Runtime, Suite, SuiteError, failed_properties};
use crate::view::Silent;

pub mod docs;
pub mod mutants;

/// How many seeds a search tries before it gives up on confirming a difference on a lab.
pub const ATTEMPTS: u64 = 4;

/// What a search is told.
#[derive(Debug, Clone)]
pub struct Search<'a> {
    pub suite: &'a Suite,
    pub reference: Reference,
    pub seed: u64,
    /// Simulated cases per attempt.
    pub cases: u32,
    /// Where each attempt's simulated suite and the lab run go.
    pub report_dir: PathBuf,
    /// Confirm on a lab (root); without, the simulator's finding is the result.
    pub confirm: bool,
    pub state_root: PathBuf,
    pub busybox: Option<PathBuf>,
}

/// A schedule on which the reference and the engine disagree.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub reference: Reference,
    /// The seed of the simulated suite that found it.
    pub seed: u64,
    /// Simulated cases played before it (over every attempt), and candidates tried shrinking it.
    pub cases_searched: usize,
    pub shrink_runs: u32,
    pub minimal: Case,
    /// What the simulated run of the minimal schedule failed.
    pub sim_failed: Vec<String>,
    /// The schedule as a scenario file (with its `[found]` table).
    pub scenario_text: String,
    /// The lab run, when it was played there.
    pub lab: Option<Confirmation>,
    pub seconds: f64,
}

/// The minimal schedule played on a lab and judged twice.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    /// By the reference searched for: it must fail…
    pub by_reference: Verdict,
    pub failed: Vec<String>,
    /// …the failing properties' details: what the daemon did, against what the reference says.
    pub details: Vec<String>,
    /// …and by the engine's model: it must pass.
    pub by_engine: Verdict,
    pub engine_failed: Vec<String>,
    pub report_dir: PathBuf,
    /// The late slack the lab run was judged with (ms): what its own starts allowed.
    pub lab_late_ms: i64,
}

impl Confirmation {
    pub fn confirms(&self) -> bool {
        self.by_reference == Verdict::Fail && self.by_engine == Verdict::Pass
    }
}

impl Finding {
    pub fn confirmed(&self) -> bool {
        self.lab.as_ref().is_some_and(Confirmation::confirms)
    }
}

/// What a search ended with.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// A difference, confirmed on a lab (or found in the simulator, without `confirm`).
    Found(Box<Finding>),
    /// Differences in the simulator that no lab run confirmed.
    Unconfirmed { tried: Vec<Finding> },
    /// No difference in this many simulated cases.
    NotFound { cases: usize },
}

/// Searches for a schedule on which `search.reference` and the engine disagree.
pub async fn find(search: &Search<'_>, say: &(dyn Fn(&str) + Sync)) -> Result<Outcome, SuiteError> {
    let began = Instant::now();
    let mut cases_searched = 0;
    let mut tried = Vec::new();
    // The least difference the simulator looks for: at first what a quiet lab can show; raised
    // to a lab's own slack when a lab could not tell a difference apart (a loaded machine).
    let mut late_floor_ms = suite::LAB_LIKE_LATE_MS;
    for attempt in 0..ATTEMPTS {
        let seed = search.seed.wrapping_add(attempt);
        let options = Options {
            seed,
            cases: Some(search.cases),
            reference: search.reference,
            runtime: Runtime::Sim,
            report_dir: search.report_dir.join(format!("sim-seed{seed}")),
            regressions: None,
            screen: false,
            shrink_iterations: None,
            shrink_time: None,
            sim_late_floor_ms: late_floor_ms,
            sim_pace_ms: suite::LAB_LIKE_PACE_MS,
            state_root: search.state_root.clone(),
            busybox: search.busybox.clone(),
        };
        let report = suite::run(search.suite, &options, &|_| {}).await?;
        cases_searched += report.drawn().count();
        let mut failures = report.failures.clone();
        if failures.is_empty() {
            continue;
        }
        failures.sort_by_key(|f| (f.minimal.transitions.len(), f.minimal.services.len()));
        for failure in failures {
            let name = format!("{}-{}", slug(&search.reference), failure.lane_name);
            let mut scenario = compile(&failure.minimal, &name, &summary(&search.reference));
            let sim_failed = report
                .cases
                .iter()
                .rev()
                .find(|c| c.lane == failure.lane && c.case == failure.minimal)
                .map(|c| c.failed.clone())
                .unwrap_or_default();
            scenario.found = Some(Found {
                by: Some(format!(
                    "halab chaos search for {} (simulated suite {}, seed {seed}), then a lab",
                    search.reference, search.suite.name
                )),
                reference: search.reference,
                verdict: Verdict::Fail,
                failed: sim_failed.clone(),
            });
            say(&format!(
                "{}: the simulator found {} after {cases_searched} cases, shrunk in {} runs",
                search.reference, failure.minimal, failure.shrink_runs
            ));
            let mut finding = Finding {
                reference: search.reference,
                seed,
                cases_searched,
                shrink_runs: failure.shrink_runs,
                minimal: failure.minimal.clone(),
                sim_failed,
                scenario_text: String::new(),
                lab: None,
                seconds: 0.0,
            };
            if search.confirm {
                let dir = search.report_dir.join(format!("lab-{name}-seed{seed}"));
                let confirmation =
                    confirm(search, &scenario, &dir)
                        .await
                        .map_err(|e| SuiteError::Case {
                            lane: failure.lane_name,
                            error: e.to_string(),
                        })?;
                say(&format!(
                    "{}: on a lab, judged by it {}, by the engine's model {}",
                    search.reference,
                    confirmation.by_reference.label().to_lowercase(),
                    confirmation.by_engine.label().to_lowercase()
                ));
                // The file records what the lab showed.
                if let Some(found) = &mut scenario.found {
                    found.failed = confirmation.failed.clone();
                    found.verdict = confirmation.by_reference;
                }
                finding.lab = Some(confirmation);
            }
            finding.scenario_text = render::scenario(
                &scenario,
                &format!(
                    "Where {} and the engine's model disagree, found by halab's search:\n{}\n\
                     Run it again: halab chaos replay FILE",
                    search.reference, finding.minimal
                ),
            );
            finding.seconds = began.elapsed().as_secs_f64();
            if !search.confirm || finding.confirmed() {
                return Ok(Outcome::Found(Box::new(finding)));
            }
            let lab_late_ms = finding.lab.as_ref().map_or(0, |lab| lab.lab_late_ms);
            tried.push(finding);
            if lab_late_ms > late_floor_ms {
                // This lab allows more than the search assumed: the other candidates were
                // found with the same floor; search again for differences larger than it.
                late_floor_ms = lab_late_ms;
                say(&format!(
                    "{}: the lab's own slack was {lab_late_ms} ms; searching again for larger differences",
                    search.reference
                ));
                break;
            }
        }
    }
    Ok(if tried.is_empty() {
        Outcome::NotFound {
            cases: cases_searched,
        }
    } else {
        Outcome::Unconfirmed { tried }
    })
}

/// Plays `scenario` on a lab started for it, judged by the search's reference, then judges the
/// same history by the engine's model.
async fn confirm(
    search: &Search<'_>,
    scenario: &Scenario,
    dir: &Path,
) -> Result<Confirmation, RunError> {
    let options = RunOptions {
        runtime: RuntimeChoice::Docker(Target::NewLab {
            live_restore: scenario.live_restore,
        }),
        skip_daemon_phases: false,
        busybox: search.busybox.clone(),
        state_root: search.state_root.clone(),
        reference: search.reference,
        min_late_ms: 0,
    };
    let report_dir = ReportDir::create(dir).ok();
    let report: Report = match &report_dir {
        Some(rd) => {
            let _ = rd.write_plan(scenario, None);
            match rd.stream(Box::new(Silent)) {
                Ok(mut stream) => crate::run(scenario, &options, &mut stream).await?,
                Err(_) => crate::run(scenario, &options, &mut Silent).await?,
            }
        }
        None => crate::run(scenario, &options, &mut Silent).await?,
    };
    if let Some(rd) = &report_dir {
        let _ = rd.finish(&report, None);
    }
    let by_engine = crate::rejudge(scenario, &report, Reference::Engine);
    let details = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{} {}: {}", c.subject, c.name, c.detail))
        .collect();
    Ok(Confirmation {
        by_reference: report.verdict,
        failed: failed_properties(&report),
        details,
        by_engine: by_engine.verdict,
        engine_failed: failed_properties(&by_engine),
        report_dir: dir.to_path_buf(),
        lab_late_ms: report.slack.late_ms,
    })
}

/// The error of a report file that could not be written, naming it.
pub(crate) fn at(path: &Path) -> impl FnOnce(std::io::Error) -> SuiteError + use<> {
    let path = path.to_path_buf();
    move |source| SuiteError::ReportDir { path, source }
}

/// A reference as part of a file name: `mutant-api-kill-as-crash`, `docs-ten-seconds`.
pub fn slug(reference: &Reference) -> String {
    reference.to_string().replace([':', '+'], "-")
}

fn summary(reference: &Reference) -> String {
    format!("a schedule on which {reference} and the engine's model disagree")
}
