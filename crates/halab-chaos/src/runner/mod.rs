//! Running a scenario: the phases and the verdict, on a runtime.
//!
//! A [`Runtime`] is what a run plays against: a real daemon ([`docker`]) or the model in virtual
//! time ([`sim`]). The phase engine ([`play`]) and the judgement ([`judge`]) are written once,
//! against the trait, so a simulated run and a real one record the same history and are judged
//! by the same checks into the same report.

mod docker;
mod sim;

use std::path::PathBuf;
use std::time::Duration;

use halab_model::{DaemonAction, Happening, History, Nanos};

use crate::checks::{self, Subject, Verdict};
use crate::report::{PhaseReport, Report, TargetInfo, measure};
use crate::scenario::{Phase, PhaseAction, Scenario};
use crate::view::View;

/// Which daemon a real run uses.
#[derive(Debug, Clone)]
pub enum Target {
    /// A lab daemon started for this run and removed after it (the default).
    NewLab { live_restore: bool },
    /// A lab started earlier with `halab lab up NAME`; halab may stop and start it.
    Lab { name: String },
    /// Any daemon by address (`--docker-host`): halab never stops it, so daemon phases are
    /// refused unless they are skipped.
    Host { docker_host: String },
}

/// What a run plays against.
#[derive(Debug, Clone)]
pub enum RuntimeChoice {
    /// A real Docker daemon.
    Docker(Target),
    /// The reference model in virtual time: deterministic for a seed, in milliseconds.
    Sim { seed: u64, live_restore: bool },
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub runtime: RuntimeChoice,
    /// Leave out the phases that stop or start the daemon (and the checks that need them).
    pub skip_daemon_phases: bool,
    /// The static busybox the lab image is built from (default /bin/busybox).
    pub busybox: Option<PathBuf>,
    /// Where labs keep their state.
    pub state_root: PathBuf,
}

/// Why a run could not be carried out (as opposed to a run whose checks failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Docker(#[from] halab_docker::DockerError),
    #[error(transparent)]
    Lab(#[from] halab_lab::LabError),
    #[error(
        "scenario `{scenario}` has daemon phases ({phases}) but the target {host} is not a daemon halab owns, \
         and halab never stops a daemon it does not own.\n  \
         Run on a lab (the default, or --lab NAME), or leave them out with --skip-daemon-phases"
    )]
    DaemonPhasesRefused {
        scenario: String,
        phases: String,
        host: String,
    },
    #[error(
        "scenario `{scenario}` ({path}) has no [service.sim] table saying how its script behaves, \
         so it cannot run with --runtime sim",
        path = .path.display()
    )]
    NotSimulable { scenario: String, path: PathBuf },
    #[error(
        "scenario `{scenario}` needs a daemon with live-restore, but lab {lab} runs without it: \
         start one with `halab lab up NAME --live-restore`, or let the run start its own lab"
    )]
    LiveRestoreMissing { scenario: String, lab: String },
    #[error("preparing the work directory {path}: {source}", path = .path.display())]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the service container {container} was started but no `start` event arrived within {waited_secs} s"
    )]
    NeverStarted { container: String, waited_secs: u64 },
    #[error(
        "scenario `{scenario}` asks the simulator for more than it simulates in one run: it stopped at \
         {limit} history entries, {virtual_secs} s of virtual time in (a service restarting without end \
         for a long wait, say); shorten its waits or its `until_starts`"
    )]
    SimulationTooLong {
        scenario: String,
        limit: usize,
        virtual_secs: i64,
    },
    #[error("the run's work directory {path} exists already: halab never takes over a directory it did not just make", path = .path.display())]
    WorkDirTaken { path: PathBuf },
    #[error("interrupted: everything the run created has been removed")]
    Interrupted,
}

/// Runs `scenario` and returns its report. Errors are for runs that could not be carried out;
/// a run whose checks fail returns a report with [`Verdict::Fail`].
pub async fn run(
    scenario: &Scenario,
    options: &RunOptions,
    view: &mut dyn View,
) -> Result<Report, RunError> {
    match &options.runtime {
        RuntimeChoice::Docker(target) => docker::run(scenario, options, target, view).await,
        RuntimeChoice::Sim { seed, live_restore } => {
            sim::run(
                scenario,
                *seed,
                *live_restore || scenario.live_restore,
                view,
            )
            .await
        }
    }
}

/// What the phase engine needs of a runtime. Times are the runtime's own: the host clock for a
/// real daemon, virtual time for the simulator.
///
/// An operation that cannot be done (the daemon refuses a call, or is not there) is not an
/// error of the run: it returns `Err(why)`, the phase records it as its problem, and the run
/// goes on to a report. Only what stops a run from starting at all is a [`RunError`].
pub(crate) trait Runtime {
    fn now(&self) -> Nanos;
    /// Records something the harness did or saw, now.
    fn record(&mut self, what: Happening);
    /// Records the counter's value now.
    fn read_counter(&mut self);
    /// Waits (in the runtime's time) until `done` holds for the history, at most `timeout`.
    async fn wait_for(&mut self, timeout: Duration, done: impl FnMut(&History) -> bool) -> bool;
    /// Stops (SIGTERM) or kills (SIGKILL) the daemon; returns when its process has exited.
    async fn stop_daemon(&mut self, crash: bool) -> Result<(), String>;
    /// Starts the daemon; returns when it answers. `Ok(Some(problem))` when it answers but the
    /// run cannot follow it (the events stream did not come back).
    async fn start_daemon(&mut self) -> Result<Option<String>, String>;
    /// Does something to the service container; returns when the daemon has done it (a stop
    /// has ended).
    async fn container_call(&mut self, call: ContainerCall) -> Result<(), String>;
    /// Stops the service through the API so the count is final (unless the daemon is gone);
    /// returns its `RestartCount` if the daemon still says.
    async fn finish(&mut self) -> Option<i64>;
    /// Reads the history as it stands.
    fn with_history<T>(&self, read: impl FnOnce(&History) -> T) -> T;
}

/// The daemon is gone and the run did not plan it: the last thing known of it is a loss. Waits
/// end at once then, so that a run whose lab was killed under it says so instead of waiting out
/// its timeouts.
pub(crate) fn daemon_lost(history: &History) -> bool {
    matches!(
        history.last_daemon_action(),
        Some((_, DaemonAction::Lost { .. }))
    )
}

/// Seconds as a `Duration`, for values the scenario parser has bounded (see
/// [`crate::scenario::limits::MAX_SECONDS`]); anything else is clamped rather than a panic.
fn secs(value: f64) -> Duration {
    let max = crate::scenario::limits::MAX_SECONDS;
    Duration::from_secs_f64(if value.is_finite() {
        value.clamp(0.0, max)
    } else {
        max
    })
}

/// What a phase does to the service container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContainerCall {
    /// `docker kill --signal`.
    Kill { signal: i32 },
    /// `docker stop`, with the container's stop timeout.
    Stop,
    /// `docker start`.
    Start,
    /// A signal from the host to the main process, outside the API.
    HostSignal { signal: i32 },
}

/// How long the service may take, after a start, to write its increment before a daemon fault:
/// a fault in between would leave a start with no increment, which is the harness's timing and
/// not the daemon's doing.
const SETTLE: Duration = Duration::from_secs(5);

/// Goes through the scenario's phases.
pub(crate) async fn play<R: Runtime>(
    rt: &mut R,
    scenario: &Scenario,
    container: &str,
    skip_daemon_phases: bool,
    view: &mut dyn View,
) -> Vec<PhaseReport> {
    let mut reports = Vec::new();
    for (i, phase) in scenario.phases.iter().enumerate() {
        let skipped = skip_daemon_phases && phase.action.touches_daemon();
        view.phase(i, scenario.phases.len(), &phase.name, skipped);
        if skipped {
            reports.push(PhaseReport {
                name: phase.name.clone(),
                action: phase.action,
                skipped: true,
                duration_ms: 0,
                problem: None,
            });
            continue;
        }
        let began = rt.now();
        rt.record(Happening::Phase {
            name: phase.name.clone(),
        });
        let problem = play_phase(rt, phase, container, scenario.service.counter_initial).await;
        if let Some(problem) = &problem {
            view.note(&format!("phase {}: {problem}", phase.name));
        }
        reports.push(PhaseReport {
            name: phase.name.clone(),
            action: phase.action,
            skipped: false,
            duration_ms: rt.now().millis_since(began),
            problem,
        });
    }
    reports
}

/// One phase. `Some(problem)` is a phase that did not get what it waited for, or whose action
/// could not be done.
async fn play_phase<R: Runtime>(
    rt: &mut R,
    phase: &Phase,
    container: &str,
    counter_initial: u64,
) -> Option<String> {
    let starts_before = rt.with_history(|h| count_starts(h, container));
    let mut problem = None;
    let done = match phase.action {
        PhaseAction::Watch => Ok(()),
        PhaseAction::DaemonStop | PhaseAction::DaemonCrash => {
            let crash = phase.action == PhaseAction::DaemonCrash;
            // Let every start so far write its increment first (see SETTLE).
            rt.wait_for(SETTLE, |h| {
                daemon_lost(h)
                    || h.counter_readings().last().is_some_and(|(_, v)| {
                        v.saturating_sub(counter_initial) >= count_starts(h, container)
                    })
            })
            .await;
            rt.record(Happening::Daemon {
                action: DaemonAction::StopRequested { crash },
            });
            let stopped = rt.stop_daemon(crash).await;
            if stopped.is_ok() {
                rt.record(Happening::Daemon {
                    action: DaemonAction::Stopped,
                });
            }
            rt.read_counter();
            stopped.map_err(|e| format!("stopping the daemon: {e}"))
        }
        PhaseAction::DockerKill => {
            rt.container_call(ContainerCall::Kill {
                signal: phase.signal,
            })
            .await
        }
        PhaseAction::DockerStop => rt.container_call(ContainerCall::Stop).await,
        PhaseAction::DockerStart => rt.container_call(ContainerCall::Start).await,
        PhaseAction::HostKill => {
            rt.container_call(ContainerCall::HostSignal {
                signal: phase.signal,
            })
            .await
        }
        PhaseAction::DaemonStart => {
            rt.read_counter();
            rt.record(Happening::Daemon {
                action: DaemonAction::StartRequested,
            });
            match rt.start_daemon().await {
                Ok(answered_but) => {
                    rt.record(Happening::Daemon {
                        action: DaemonAction::Ready,
                    });
                    problem = answered_but;
                    Ok(())
                }
                Err(e) => Err(format!("starting the daemon: {e}")),
            }
        }
    };
    if let Err(e) = done {
        problem = Some(e);
    }
    if let (Some(wanted), None) = (phase.until_starts, &problem) {
        let reached = rt
            .wait_for(secs(phase.timeout_secs), |h| {
                daemon_lost(h) || count_starts(h, container) >= starts_before + wanted
            })
            .await;
        let seen = rt.with_history(|h| count_starts(h, container)) - starts_before;
        if !reached || seen < wanted {
            problem = Some(format!(
                "waited {:.0} s for {wanted} starts, saw {seen}",
                phase.timeout_secs
            ));
        }
    }
    if phase.hold_secs > 0.0 {
        rt.wait_for(secs(phase.hold_secs), daemon_lost).await;
    }
    if rt.with_history(daemon_lost) {
        let lost = "the daemon was lost under the run (halab did not stop it)";
        problem = Some(match problem {
            Some(p) => format!("{p}; {lost}"),
            None => lost.to_owned(),
        });
    }
    problem
}

/// Judges a finished run: checks, verdict, counts and timings, into the report.
pub(crate) fn judge(
    scenario: &Scenario,
    run_id: String,
    target: TargetInfo,
    container: &str,
    phases: Vec<PhaseReport>,
    history: History,
    restart_count: Option<i64>,
) -> Report {
    let subject = Subject {
        history: &history,
        container,
        counter_initial: scenario.service.counter_initial,
    };
    let mut results = checks::run_checks(&scenario.checks, &subject);
    let problems: Vec<String> = phases
        .iter()
        .filter_map(|p| Some(format!("{}: {}", p.name, p.problem.as_ref()?)))
        .collect();
    results.push(checks::phases_completed(&problems));
    if let Some(lost) = checks::daemon_not_lost(&subject, &mut results) {
        results.push(lost);
    }
    let verdict = Verdict::of(&results);
    let first_daemon_phase = scenario
        .phases
        .iter()
        .find(|p| p.action.touches_daemon())
        .map(|p| p.name.as_str());
    let (mut counts, timings) = measure(&history, container, first_daemon_phase);
    counts.restart_count = restart_count;
    Report {
        scenario: scenario.name.clone(),
        scenario_path: scenario.path.display().to_string(),
        run_id,
        target,
        params: scenario.params.clone(),
        verdict,
        checks: results,
        phases,
        counts,
        timings,
        history,
    }
}

pub(crate) fn count_starts(history: &History, container: &str) -> u64 {
    history.start_count(container) as u64
}

/// A run id: UTC time to the second, then 4 random hex digits (`20261126-174859-a3f1`). Short
/// enough to name a lab (socket paths are limited to 108 bytes).
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        rand::random::<u16>()
    )
}
