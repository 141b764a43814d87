//! Running a suite: its lanes started, one proptest runner per lane on a thread of its own,
//! every case compiled, checked in the simulator, played and judged, a failure shrunk and saved
//! — and the labs removed however the suite ends (pass, failure, error, Ctrl-C, panic).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::FutureExt;
use halab_model::{Mutant, Reference};
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};

use super::lane::{Lane, sim_options};
use super::outcome::{CaseRecord, Failure, SuiteReport};
use super::{Options, Runtime, Suite};
use crate::checks::Verdict;
use crate::machine::{Case, CaseStrategy, compile, compile_paced};
use crate::report::Report;
use crate::report_dir::ReportDir;
use crate::runner::RunError;
use crate::scenario::{Found, Scenario, render};
use crate::view::Silent;

/// Why a suite could not be carried out (as opposed to a suite that found a failure).
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("starting lane {lane}: {source}")]
    Lane {
        lane: &'static str,
        #[source]
        source: RunError,
    },
    #[error("a case could not be played on lane {lane}: {error}")]
    Case { lane: &'static str, error: String },
    #[error("the report directory {path}: {source}", path = .path.display())]
    ReportDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted: every lab the suite started has been removed")]
    Interrupted,
}

/// Runs `suite` and returns what it found. `say` gets one line per case as it ends.
pub async fn run(
    suite: &Suite,
    options: &Options,
    say: &(dyn Fn(&str) + Sync),
) -> Result<SuiteReport, SuiteError> {
    let report_dir = &options.report_dir;
    std::fs::create_dir_all(report_dir.join("cases")).map_err(|source| SuiteError::ReportDir {
        path: report_dir.clone(),
        source,
    })?;
    let began = Instant::now();
    let starts = suite
        .lanes
        .iter()
        .enumerate()
        .map(|(i, config)| Lane::start(i, *config, options));
    let started = futures_util::future::join_all(starts).await;
    let mut lanes = Vec::new();
    let mut failed = None;
    for (result, config) in started.into_iter().zip(suite.lanes) {
        match result {
            Ok(lane) => lanes.push(lane),
            Err(source) => {
                failed.get_or_insert(SuiteError::Lane {
                    lane: config.name(),
                    source,
                });
            }
        }
    }
    if let Some(error) = failed {
        teardown(lanes).await;
        return Err(error);
    }
    for lane in &lanes {
        if let Some(lab) = lane.lab_name() {
            say(&format!("lane {}: lab {lab} is up", lane.config.name()));
        }
    }

    let abort = AtomicBool::new(false);
    let interrupted = AtomicBool::new(false);
    let handle = tokio::runtime::Handle::current();
    // Ctrl-C, SIGTERM, SIGHUP: every lane stops drawing (a case being played is interrupted
    // by its own run, which removes its containers), then the labs are removed.
    let signalled = std::sync::Arc::new(AtomicBool::new(false));
    let listener = {
        let seen = signalled.clone();
        tokio::spawn(async move {
            interrupt_signal().await;
            seen.store(true, Ordering::SeqCst);
        })
    };
    let played = std::panic::AssertUnwindSafe(async {
        tokio::task::block_in_place(|| {
            let context = |lane| LaneContext {
                suite,
                options,
                lane,
                handle: handle.clone(),
                abort: &abort,
                interrupted: &interrupted,
                signalled: &signalled,
                say,
                lanes: suite.lanes.len(),
            };
            // Simulated lanes take milliseconds: one after the other, they print in one order.
            if options.runtime == Runtime::Sim {
                return lanes.iter().map(|lane| context(lane).run()).collect();
            }
            std::thread::scope(|scope| {
                let threads: Vec<_> = lanes
                    .iter()
                    .map(|lane| {
                        let ctx = context(lane);
                        scope.spawn(move || ctx.run())
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect::<Vec<LaneResult>>()
            })
        })
    })
    .catch_unwind()
    .await;
    listener.abort();
    teardown(lanes).await;
    let results = match played {
        Ok(results) => results,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    if interrupted.load(Ordering::SeqCst) || signalled.load(Ordering::SeqCst) {
        return Err(SuiteError::Interrupted);
    }
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    let mut aborted = Vec::new();
    for result in results {
        if let Some(error) = result.error {
            return Err(error);
        }
        cases.extend(result.records);
        failures.extend(result.failure);
        aborted.extend(result.aborted);
    }
    let verdict = SuiteReport::verdict_of(&cases, failures.len(), aborted.len());
    let report = SuiteReport {
        suite: suite.name.to_owned(),
        seed: options.seed,
        reference: options.reference,
        runtime: match options.runtime {
            Runtime::Lab => "lab",
            Runtime::Sim => "sim",
        },
        lanes: suite.lanes.iter().map(|l| l.name()).collect(),
        elapsed_seconds: began.elapsed().as_secs_f64(),
        cases,
        failures,
        aborted,
        interrupted: false,
        verdict,
        report_dir: report_dir.clone(),
    };
    let summary = serde_json::to_string_pretty(&report).unwrap_or_default();
    let path = report_dir.join("suite.json");
    std::fs::write(&path, summary).map_err(|source| SuiteError::ReportDir { path, source })?;
    Ok(report)
}

async fn teardown(lanes: Vec<Lane>) {
    futures_util::future::join_all(lanes.into_iter().map(Lane::teardown)).await;
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP.
async fn interrupt_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}

/// What one lane found.
struct LaneResult {
    records: Vec<CaseRecord>,
    failure: Option<Failure>,
    aborted: Option<String>,
    error: Option<SuiteError>,
}

/// Everything a lane's thread needs.
struct LaneContext<'a> {
    suite: &'a Suite,
    options: &'a Options,
    lane: &'a Lane,
    handle: tokio::runtime::Handle,
    /// Set when a case could not be played: every lane stops drawing.
    abort: &'a AtomicBool,
    /// Set when a run was interrupted.
    interrupted: &'a AtomicBool,
    signalled: &'a AtomicBool,
    say: &'a (dyn Fn(&str) + Sync),
    lanes: usize,
}

/// A lane's state while proptest runs it.
#[derive(Default)]
struct LaneState {
    records: Vec<CaseRecord>,
    runs: u32,
    /// Shrinking began: every later run is a candidate.
    shrinking_since: Option<Instant>,
    shrink_runs: u32,
    shrink_lab_runs: u32,
    /// The last failing case and its failed properties.
    last_failure: Option<(Case, Vec<String>)>,
    error: Option<SuiteError>,
}

impl LaneContext<'_> {
    fn stopped(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
            || self.interrupted.load(Ordering::SeqCst)
            || self.signalled.load(Ordering::SeqCst)
    }

    fn run(self) -> LaneResult {
        let name = self.lane.config.name();
        let total = self.options.cases.unwrap_or(self.suite.cases);
        // The lanes share the cases; the first ones take what does not divide.
        let share = total / self.lanes as u32
            + u32::from((self.lane.index as u32) < total % self.lanes as u32);
        let persistence = self
            .options
            .regressions
            .as_ref()
            // A failure is the daemon's (or the harness's) only when the engine's own model
            // judges: a wrong model's failures are not regressions.
            .filter(|_| self.options.reference == Reference::Engine)
            .map(|dir| {
                let path = dir.join(format!("{}-{name}.txt", self.suite.name));
                let path: &'static str = Box::leak(path.display().to_string().into_boxed_str());
                Box::new(FileFailurePersistence::Direct(path))
                    as Box<dyn proptest::test_runner::FailurePersistence>
            });
        let shrink_time = self.options.shrink_time.unwrap_or(self.suite.shrink_time);
        let config = Config {
            cases: share,
            max_shrink_iters: self
                .options
                .shrink_iterations
                .unwrap_or(self.suite.shrink_iterations),
            max_shrink_time: u32::try_from(shrink_time.as_millis()).unwrap_or(u32::MAX),
            max_global_rejects: share / 2 + 4,
            failure_persistence: persistence,
            source_file: None,
            verbose: 0,
            ..Config::default()
        };
        let mut runner =
            TestRunner::new_with_rng(config, lane_rng(self.options.seed, self.lane.index));
        let strategy = CaseStrategy {
            shape: self.suite.shape,
            live_restore: self.lane.config.live_restore,
        };
        let state = Mutex::new(LaneState::default());
        let outcome = if share == 0 {
            Ok(())
        } else {
            runner.run(&strategy, |case| self.test(case, &state))
        };
        let mut state = state.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut result = LaneResult {
            records: std::mem::take(&mut state.records),
            failure: None,
            aborted: None,
            error: state.error.take(),
        };
        match outcome {
            Ok(()) => {}
            Err(TestError::Abort(why)) => {
                result.aborted = Some(format!("{name}: {why}"));
            }
            Err(TestError::Fail(why, minimal)) => {
                let original = result
                    .records
                    .iter()
                    .find(|r| r.kind == "case" && r.verdict == Verdict::Fail)
                    .map(|r| r.case.clone())
                    .unwrap_or_else(|| minimal.clone());
                match self.save_minimal(&minimal, &why.to_string(), &state) {
                    Ok((scenario, scenario_file)) => {
                        result.failure = Some(Failure {
                            lane: self.lane.index,
                            lane_name: name,
                            reason: why.to_string(),
                            original,
                            minimal,
                            shrink_runs: state.shrink_runs,
                            shrink_lab_runs: state.shrink_lab_runs,
                            shrink_seconds: state
                                .shrinking_since
                                .map_or(0.0, |t| t.elapsed().as_secs_f64()),
                            scenario,
                            scenario_file,
                        })
                    }
                    Err(error) => result.error = Some(error),
                }
            }
        }
        result
    }

    /// The minimal case as a scenario file under the report directory, with how it was found.
    fn save_minimal(
        &self,
        minimal: &Case,
        reason: &str,
        state: &LaneState,
    ) -> Result<(String, PathBuf), SuiteError> {
        let name = format!("{}-{}-minimal", self.suite.name, self.lane.config.name());
        let mut scenario = compile(minimal, &name, &summary(minimal));
        let failed = state
            .last_failure
            .as_ref()
            .filter(|(case, _)| case == minimal)
            .map(|(_, failed)| failed.clone())
            .unwrap_or_default();
        scenario.found = Some(Found {
            by: Some(format!(
                "halab chaos suite {} --seed {} --reference {} (lane {})",
                self.suite.name,
                self.options.seed,
                self.options.reference,
                self.lane.config.name()
            )),
            reference: self.options.reference,
            verdict: Verdict::Fail,
            failed,
        });
        let text = render::scenario(
            &scenario,
            &format!(
                "The smallest schedule of suite `{}` (seed {}) that still fails: {reason}\n\
                 Run it again: halab chaos replay FILE (judged by the reference in [found]).",
                self.suite.name, self.options.seed
            ),
        );
        let path = self.options.report_dir.join(format!("{name}.toml"));
        std::fs::write(&path, &text).map_err(|source| SuiteError::ReportDir {
            path: path.clone(),
            source,
        })?;
        Ok((text, path))
    }

    /// One case: compiled, checked in the simulator, played on the lane, judged.
    fn test(&self, case: Case, state: &Mutex<LaneState>) -> Result<(), TestCaseError> {
        if self.stopped() {
            return Ok(());
        }
        let lane = self.lane.config.name();
        let (run, shrinking) = {
            let mut st = lock(state);
            st.runs += 1;
            if st.shrinking_since.is_some() {
                st.shrink_runs += 1;
            }
            (st.runs, st.shrinking_since.is_some())
        };
        let kind = if shrinking { "shrink" } else { "case" };
        let name = format!("{}-{lane}-{run:03}", self.suite.name);
        let scenario = compile(&case, &name, &summary(&case));
        let simulated_scenario = if self.options.sim_pace_ms > 0 {
            compile_paced(&case, &name, &summary(&case), self.options.sim_pace_ms)
        } else {
            scenario.clone()
        };
        let began = Instant::now();
        let reference = self.options.reference;
        // The simulator judges as a lab would, if the reference differs from the engine's: only
        // a difference larger than a lab's slack shows on a lab.
        let floor = if reference == Reference::Engine || self.options.runtime == Runtime::Sim {
            self.options.sim_late_floor_ms
        } else {
            self.options.sim_late_floor_ms.max(super::LAB_LIKE_LATE_MS)
        };
        let sim_options = sim_options(
            self.lane.config.live_restore,
            reference,
            floor,
            &self.options.state_root,
        );
        let simulated =
            match self
                .handle
                .block_on(crate::run(&simulated_scenario, &sim_options, &mut Silent))
            {
                Ok(report) => report,
                Err(e) => {
                    return self.cannot_play(
                        state,
                        format!("the simulator could not play case {run}: {e}"),
                    );
                }
            };
        let by_engine = if reference == Reference::Engine {
            simulated.clone()
        } else {
            crate::rejudge(&simulated_scenario, &simulated, Reference::Engine)
        };
        let (report, screened) = if by_engine.verdict == Verdict::Fail {
            // The harness disagrees with its own model: halab's failure, found without a lab.
            (by_engine, false)
        } else if self.options.runtime == Runtime::Sim {
            (simulated, false)
        } else if shrinking
            && self.options.screen
            && reference != Reference::Engine
            && simulated.verdict != Verdict::Fail
        {
            (simulated, true)
        } else {
            let dir = self
                .options
                .report_dir
                .join("cases")
                .join(format!("{lane}-{run:03}"));
            match self.play(&scenario, &dir) {
                Ok(report) => (report, false),
                Err(RunError::Interrupted) => {
                    self.interrupted.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) => return self.cannot_play(state, format!("case {run}: {e}")),
            }
        };
        if shrinking && !screened && self.options.runtime == Runtime::Lab {
            lock(state).shrink_lab_runs += 1;
        }
        let failed = failed_properties(&report);
        // A real history judged by every wrong model (pure, no new run): how many of them this
        // suite's own cases would catch. (A simulated history is the engine's model's by
        // construction: `halab chaos mutants` searches those.)
        let caught =
            if reference == Reference::Engine && !shrinking && self.options.runtime == Runtime::Lab
            {
                Mutant::ALL
                    .into_iter()
                    .filter(|m| {
                        crate::rejudge(&scenario, &report, Reference::Mutant(*m)).verdict
                            == Verdict::Fail
                    })
                    .collect()
            } else {
                Vec::new()
            };
        let seconds = began.elapsed().as_secs_f64();
        (self.say)(&format!(
            "lane {lane} {kind} {run}: {} on {} services, {} daemon fault(s): {}{} ({seconds:.1} s)",
            plural(case.transitions.len(), "transition"),
            case.services.len(),
            case.daemon_faults(),
            report.verdict.label().to_lowercase(),
            if screened {
                " in the simulator, not played on the lab"
            } else {
                ""
            }
        ));
        let verdict = report.verdict;
        let record = CaseRecord {
            lane: self.lane.index,
            lane_name: lane,
            run,
            kind,
            case: case.clone(),
            verdict,
            failed: failed.clone(),
            seconds,
            screened,
            caught,
            report: (self.options.runtime == Runtime::Lab && !screened).then(|| {
                self.options
                    .report_dir
                    .join("cases")
                    .join(format!("{lane}-{run:03}"))
            }),
        };
        let mut st = lock(state);
        st.records.push(record);
        match verdict {
            Verdict::Pass => Ok(()),
            Verdict::Fail => {
                st.shrinking_since.get_or_insert_with(Instant::now);
                st.last_failure = Some((case, failed.clone()));
                Err(TestCaseError::fail(failed.join(", ")))
            }
            Verdict::Unknown | Verdict::NotRun => Err(TestCaseError::reject(
                "the history could not decide (unknown)",
            )),
        }
    }

    /// Plays a compiled case on the lane's lab, its history streamed to `dir`.
    fn play(&self, scenario: &Scenario, dir: &Path) -> Result<Report, RunError> {
        let report_dir = ReportDir::create(dir).map_err(|e| RunError::WorkDir {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let _ = report_dir.write_plan(scenario, None);
        let mut view: Box<dyn crate::view::View> = match report_dir.stream(Box::new(Silent)) {
            Ok(stream) => Box::new(stream),
            Err(_) => Box::new(Silent),
        };
        let report = self.handle.block_on(self.lane.play(
            scenario,
            self.options.reference,
            self.options,
            view.as_mut(),
        ))?;
        drop(view);
        let _ = report_dir.finish(&report, None);
        Ok(report)
    }

    /// A case the lane could not play: every lane stops, and the suite reports the error.
    fn cannot_play(&self, state: &Mutex<LaneState>, error: String) -> Result<(), TestCaseError> {
        self.abort.store(true, Ordering::SeqCst);
        lock(state).error.get_or_insert(SuiteError::Case {
            lane: self.lane.config.name(),
            error,
        });
        Ok(())
    }
}

fn lock(state: &Mutex<LaneState>) -> std::sync::MutexGuard<'_, LaneState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The rng a lane draws its cases from: the suite's seed and the lane's index, so `--seed`
/// draws the same cases on every machine.
fn lane_rng(seed: u64, lane: usize) -> TestRng {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..].copy_from_slice(&(lane as u64).to_le_bytes());
    TestRng::from_seed(RngAlgorithm::XorShift, &bytes)
}

/// `SUBJECT NAME` of each failed property, sorted.
pub fn failed_properties(report: &Report) -> Vec<String> {
    let mut failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{} {}", c.subject, c.name))
        .collect();
    failed.sort();
    failed.dedup();
    failed
}

fn summary(case: &Case) -> String {
    let text = case.to_string();
    if text.chars().count() > 190 {
        text.chars().take(189).collect::<String>() + "…"
    } else {
        text
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
