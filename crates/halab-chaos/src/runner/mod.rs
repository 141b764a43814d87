//! Running a scenario: one orchestration, two runtimes.
//!
//! [`run`] owns the run's sequence once — its id and names, setting up the runtime, playing
//! the phases ([`engine`]), judging the history, tearing down — and a [`Runtime`] only does
//! operations, records and waits: a real daemon ([`docker`]) or the model in virtual time
//! ([`sim`]). Both record the same history, which the oracle and the checks judge the same way.

mod docker;
mod engine;
pub mod names;
mod sim;

use std::path::PathBuf;
use std::time::Duration;

use halab_model::{EngineVersion, Entry, Happening, History, Nanos, Op, OpStep};

use crate::judge::judge;
use crate::report::{PhaseReport, Report, TargetInfo};
use crate::scenario::Scenario;
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
    Sim {
        seed: u64,
        live_restore: bool,
        /// The engine line the model simulates.
        engine: EngineVersion,
    },
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
    /// The model that judges the run: the engine's own, the documentation's, or a
    /// deliberately wrong one (to prove the oracle catches it).
    pub reference: halab_model::Reference,
    /// At least this much late slack when judging (ms; 0: the run's own alone). A simulated run
    /// has no start latency of its own to take a slack from: a search in the simulator for what
    /// a lab can show sets one.
    pub min_late_ms: i64,
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
        "scenario `{scenario}` asks the simulator for more than it simulates in one run: it stopped at \
         {limit} history entries, {virtual_secs} s of virtual time in (a service restarting without end \
         for a long wait, say); shorten its waits"
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
/// a run whose checks fail returns a report with [`crate::Verdict::Fail`].
pub async fn run(
    scenario: &Scenario,
    options: &RunOptions,
    view: &mut dyn View,
) -> Result<Report, RunError> {
    let played = match &options.runtime {
        RuntimeChoice::Docker(target) => docker::run(scenario, options, target, view).await?,
        RuntimeChoice::Sim {
            seed,
            live_restore,
            engine,
        } => {
            sim::run(
                scenario,
                *seed,
                *engine,
                *live_restore || scenario.live_restore,
                options.skip_daemon_phases,
                view,
            )
            .await?
        }
    };
    Ok(judge(
        scenario,
        options.reference,
        options.min_late_ms,
        played,
    ))
}

/// What is known of a run once its daemon is ready, before its first phase: enough, with the
/// scenario and the history, to judge it again later (`halab report`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Started {
    pub run_id: String,
    pub target: TargetInfo,
    /// The engine line whose model judges the run.
    pub engine: EngineVersion,
    pub live_restore: bool,
}

/// What a runtime hands back once a run is over: everything the judgement needs.
pub(crate) struct Played {
    pub run_id: String,
    pub target: TargetInfo,
    pub live_restore: bool,
    /// The engine line whose model judges the run: the simulated one, or the real daemon's.
    pub engine: EngineVersion,
    pub phases: Vec<PhaseReport>,
    pub history: History,
}

/// What the phase engine needs of a runtime. Times are the runtime's own: the host clock for a
/// real daemon, virtual time for the simulator.
///
/// An operation that cannot be done (the daemon refuses a call, or is not there) is not an
/// error of the run: it ends in [`OpStep::Fail`] or [`OpStep::Info`], the phase records it as
/// its problem, and the run goes on to a report.
pub(crate) trait Runtime {
    /// The daemon's name in the history.
    fn node(&self) -> &str;
    fn now(&self) -> Nanos;
    /// Records something the harness did or saw, now.
    fn record(&mut self, what: Happening);
    /// Records every counting service's counter now.
    fn read_counters(&mut self);
    /// Does `op` (never a wait), returning when the daemon has done it (a stop has ended).
    async fn perform(&mut self, op: &Op) -> OpStep;
    /// Waits (in the runtime's time) until `done` holds for the history, at most `timeout`;
    /// `arrived` sees every entry recorded after the first `shown` (see
    /// [`Runtime::arrivals_since`]), as it arrives, and `shown` counts them.
    async fn wait_for(
        &mut self,
        timeout: Duration,
        done: &mut dyn FnMut(&History) -> bool,
        shown: &mut usize,
        arrived: &mut dyn FnMut(&[Entry]),
    ) -> bool;
    /// Reads the history as it stands.
    fn with_history<T>(&self, read: impl FnOnce(&History) -> T) -> T;
    /// The entries recorded after the first `seen`, in the order they were recorded.
    fn arrivals_since(&self, seen: usize) -> Vec<Entry>;
    /// Whether the runtime can go no further (the simulator at its bound on a run's history):
    /// every wait then ends at once, and the run ends.
    fn halted(&self) -> bool {
        false
    }
}

/// The daemon is gone and the run did not plan it: the last thing known of it is a loss. Waits
/// end at once then, so that a run whose lab was killed under it says so instead of waiting out
/// its timeouts.
pub(crate) fn daemon_lost(history: &History) -> bool {
    history.daemon_lost()
}

/// Milliseconds as nanoseconds, saturating.
pub(crate) fn ms_to_nanos(ms: u64) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}
