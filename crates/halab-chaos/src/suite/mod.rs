//! Named property-based suites: proptest draws cases of the state machine ([`crate::machine`]),
//! each is played on a real lab daemon (or in the simulator) and judged by the oracle, and a
//! failing case is shrunk — on the daemon — to the smallest that still fails, which is saved
//! as a scenario file anyone can run again (`halab chaos replay FILE`).
//!
//! A suite runs on *lanes*, one proptest runner each, side by side: a lane is a long-lived lab
//! daemon of one configuration (with or without live-restore), its image loaded once, on which
//! each case only creates fresh services. A lab is restarted only by the daemon transitions of
//! the cases themselves.
//!
//! Before a case costs daemon time it is played in the simulator: the harness must agree with
//! its own model there (a failure is halab's, found in milliseconds). When the reference that
//! judges is not the engine's own (a mutant, the documentation), the simulator — which plays
//! the engine's model — already says whether the reference will disagree with the daemon; while
//! shrinking, a candidate the simulator shows passing is not played on the lab (`screen`).

mod lane;
mod outcome;
mod run;

pub(crate) use lane::sim_options;
pub use lane::{Lane, LaneConfig};
pub(crate) use outcome::duration;
pub use outcome::{CaseRecord, Failure, SuiteReport};
pub use run::{SuiteError, failed_properties, run};

use std::path::PathBuf;
use std::time::Duration;

use halab_model::Reference;

use crate::machine::Shape;

/// A named suite: what its cases look like, how many, on which lanes, how long shrinking may
/// take.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: &'static str,
    pub summary: &'static str,
    pub shape: Shape,
    /// Cases in all, shared among the lanes.
    pub cases: u32,
    pub lanes: &'static [LaneConfig],
    /// Shrinking stops after this many runs of candidates…
    pub shrink_iterations: u32,
    /// …or this long, whichever comes first: a failing CI run ends in minutes.
    pub shrink_time: Duration,
}

/// The lanes every shipped suite runs on: a daemon without live-restore and one with it.
const TWO_LANES: [LaneConfig; 2] = [
    LaneConfig {
        live_restore: false,
    },
    LaneConfig { live_restore: true },
];

// ANCHOR: suites
/// The suites halab ships.
pub const SUITES: [Suite; 2] = [
    Suite {
        name: "quick",
        summary: "every CI run: 40 cases of 6–9 transitions over 3–4 services, daemon faults in each",
        shape: Shape {
            services: (3, 4),
            transitions: (6, 9),
            daemon_faults: (1, 2),
            longest_wait_ms: 11_000,
            rare_faults: false,
        },
        cases: 40,
        lanes: &TWO_LANES,
        shrink_iterations: 200,
        shrink_time: Duration::from_secs(240),
    },
    Suite {
        name: "deep",
        summary: "nightly: 200 cases of 10–20 transitions over 3–5 services, power losses and rm -f too",
        shape: Shape {
            services: (3, 5),
            transitions: (10, 20),
            daemon_faults: (1, 4),
            longest_wait_ms: 11_000,
            rare_faults: true,
        },
        cases: 200,
        lanes: &TWO_LANES,
        shrink_iterations: 1_000,
        shrink_time: Duration::from_secs(900),
    },
];
// ANCHOR_END: suites

/// The suite named `name`, or why there is none.
pub fn find(name: &str) -> Result<&'static Suite, String> {
    SUITES.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = SUITES.iter().map(|s| s.name).collect();
        format!("no suite named `{name}`; the suites: {}", names.join(", "))
    })
}

/// Where a suite's cases are played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Lab daemons halab starts, one per lane (root).
    Lab,
    /// The simulator: the engine's model in virtual time, milliseconds a case.
    Sim,
}

/// How a suite is run.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Cases in all (the suite's own number when `None`).
    pub cases: Option<u32>,
    pub reference: Reference,
    pub runtime: Runtime,
    /// Where the report goes: a summary, each case's run, the minimal failing schedule.
    pub report_dir: PathBuf,
    /// Where proptest keeps the seeds of failing cases (`<suite>-<lane>.txt`), re-run first;
    /// `None` keeps none. Only failures judged by the engine's model are kept.
    pub regressions: Option<PathBuf>,
    /// While shrinking for a reference other than the engine's, skip on the lab the candidates
    /// the simulator shows passing.
    pub screen: bool,
    /// Overrides of the suite's shrinking bounds.
    pub shrink_iterations: Option<u32>,
    pub shrink_time: Option<Duration>,
    /// The least late slack of a simulated case's judgement (ms): a search in the simulator
    /// for what a lab can show sets [`LAB_LIKE_LATE_MS`].
    pub sim_late_floor_ms: i64,
    /// Virtual time a simulated case spends after each transition (see
    /// [`crate::machine::compile_paced`]); a search for what a lab can show sets
    /// [`LAB_LIKE_PACE_MS`].
    pub sim_pace_ms: u64,
    pub state_root: PathBuf,
    pub busybox: Option<PathBuf>,
}

/// The late slack a simulated run is judged with when what it finds must show on a lab: a
/// lab's own runs allow 0.6–0.8 s on a quiet machine of this project's kind and up to 3.6 s
/// under load (`oracle::Slack`); a restart the model puts 1.5 s earlier or later than a wrong
/// model does is one a lab can tell apart on a quiet machine. What the simulator finds this way
/// is then confirmed on a lab, whose own slack decides.
pub const LAB_LIKE_LATE_MS: i64 = 1_500;

/// What a lab's harness takes over one transition beyond the events it waits for (inspecting
/// every service, the daemon's API answering): a few hundred milliseconds measured on a lab.
pub const LAB_LIKE_PACE_MS: u64 = 500;
