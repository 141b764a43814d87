//! A case as a scenario: one phase of operations any runtime plays — each transition, then a
//! wait on the history for what the model says the daemon does next, then an inspection of
//! every service, which the oracle compares with the model's state at that moment.

use std::path::PathBuf;
use std::time::Duration;

use halab_model::{DaemonOp, DaemonPhase, Op, ServiceOp, Wait};

use super::{Case, Prediction};
use crate::scenario::{Checks, Phase, Scenario, Track};

/// The name of a compiled case's phase.
pub const PHASE: &str = "case";

/// How much longer than the model a settling wait may take before the run moves on: it only
/// bounds a wait for something the daemon is late with or never does, which the oracle then
/// judges (a wait that ends early never makes a run pass). Generous, so that a loaded machine
/// never cuts a restart short.
pub fn settle_margin() -> Duration {
    Duration::from_secs(20)
}

/// The scenario that plays `case`, named `name`.
pub fn compile(case: &Case, name: &str, summary: &str) -> Scenario {
    compile_paced(case, name, summary, 0)
}

/// [`compile`], with `pace_ms` more between one transition's inspections and the next
/// transition: a simulated harness is instant where a real one is not, and a wrong model that
/// is slower than the daemon by less than a real harness takes over a step only shows in the
/// simulator — a search for what a lab can show paces its simulated runs.
pub fn compile_paced(case: &Case, name: &str, summary: &str, pace_ms: u64) -> Scenario {
    let mut model = Prediction::started(case);
    let mut ops = Vec::new();
    for op in &case.transitions {
        settle(&mut model, case, op, &mut ops);
        if pace_ms > 0 {
            ops.push(Op::Wait(Wait::For { ms: pace_ms }));
            model.step(&Op::Wait(Wait::For { ms: pace_ms }));
        }
    }
    // A run ends with its daemon answering: its final inspection is the final state.
    if model.daemon() != DaemonPhase::Up {
        settle(&mut model, case, &Op::Daemon(DaemonOp::Start), &mut ops);
    }
    Scenario {
        name: name.to_owned(),
        summary: summary.to_owned(),
        live_restore: case.live_restore,
        path: PathBuf::from(format!("{name}.toml")),
        params: Default::default(),
        services: case.services.iter().map(|s| s.service()).collect(),
        phases: vec![Phase {
            name: PHASE.to_owned(),
            tracks: vec![Track { name: None, ops }],
            drawn: true,
        }],
        checks: Checks::default(),
        chaos: None,
        found: None,
    }
}

/// `op`, the waits for what the daemon then does, and (with the daemon up) every service
/// inspected.
fn settle(model: &mut Prediction, case: &Case, op: &Op, ops: &mut Vec<Op>) {
    let settling = model.step(op);
    ops.push(op.clone());
    let timeout_ms =
        u64::try_from((settling.took + settle_margin()).as_millis()).unwrap_or(u64::MAX);
    for (i, service) in case.services.iter().enumerate() {
        let (starts, dies) = (settling.starts[i], settling.dies[i]);
        // Waiting for the last event the model predicts waits for the ones before it too (a
        // start, then the exit of a program told to exit before it ran).
        let wait = if starts > 0 && !settling.ends_dead[i] {
            Wait::Starts {
                service: service.name.clone(),
                count: starts,
                timeout_ms,
            }
        } else if dies > 0 {
            Wait::Dies {
                service: service.name.clone(),
                count: dies,
                timeout_ms,
            }
        } else {
            continue;
        };
        ops.push(Op::Wait(wait));
    }
    if model.daemon() == DaemonPhase::Up {
        for service in &case.services {
            ops.push(Op::on(service.name.clone(), ServiceOp::Inspect));
        }
    }
    // With live-restore, `restore` leaves the restart manager of each container it finds
    // running active for 100 ms, and an exit within them is not restarted: whether one is
    // depends on a moment the history does not hold (see `oracle::RestoreAt`). The case waits
    // them out after a daemon start, so that what follows does not race the daemon's timer.
    if case.live_restore && matches!(op, Op::Daemon(DaemonOp::Start)) {
        let wait = Op::Wait(Wait::For {
            ms: LIVE_RESTORE_ACTIVE_MS,
        });
        model.step(&wait);
        ops.push(wait);
    }
}

/// Twice the 100 ms a live-restored container's restart manager stays active
/// (`restartmanager.ShouldRestart`'s first back-off).
const LIVE_RESTORE_ACTIVE_MS: u64 = 200;
