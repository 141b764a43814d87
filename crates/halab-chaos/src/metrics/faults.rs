//! Faults and recovery: each operation that stopped a service, and when it ran again.

use std::collections::{BTreeMap, BTreeSet};

use halab_model::{
    ApiCall, ContainerAction, DaemonOp, Happening, History, Nanos, Op, OpStep, ServiceOp,
};
use serde::{Deserialize, Serialize};

use super::{Distribution, Recovery, ms_between};

/// What stopped a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// A signal from the host, outside the Engine API.
    Crash,
    /// The workload's own exit.
    Exit,
    Oom,
    ApiKill,
    ApiStop,
    ApiRestart,
    DaemonStop,
    DaemonCrash,
    PowerLoss,
}

impl FaultKind {
    /// The kind as reports spell it (the serialised name).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Exit => "exit",
            FaultKind::Oom => "oom",
            FaultKind::ApiKill => "api-kill",
            FaultKind::ApiStop => "api-stop",
            FaultKind::ApiRestart => "api-restart",
            FaultKind::DaemonStop => "daemon-stop",
            FaultKind::DaemonCrash => "daemon-crash",
            FaultKind::PowerLoss => "power-loss",
        }
    }

    /// The kind of fault `op` is for `service`, if it is one: an operation on the service that
    /// makes it stop running, or one that ends the daemon (which every service feels).
    pub fn of(op: &Op, service: &str) -> Option<FaultKind> {
        match op {
            Op::Daemon(DaemonOp::Stop) => Some(FaultKind::DaemonStop),
            Op::Daemon(DaemonOp::Crash) => Some(FaultKind::DaemonCrash),
            Op::Daemon(DaemonOp::PowerLoss) => Some(FaultKind::PowerLoss),
            Op::Service { service: s, op } if s == service => match op {
                ServiceOp::Signal { .. } => Some(FaultKind::Crash),
                ServiceOp::Exit { .. } => Some(FaultKind::Exit),
                ServiceOp::Oom => Some(FaultKind::Oom),
                ServiceOp::Api(ApiCall::Kill { .. }) => Some(FaultKind::ApiKill),
                ServiceOp::Api(ApiCall::Stop { .. }) => Some(FaultKind::ApiStop),
                ServiceOp::Api(ApiCall::Restart { .. }) => Some(FaultKind::ApiRestart),
                _ => None,
            },
            _ => None,
        }
    }
}

/// One fault that stopped a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// The operation's id, and its invoke's position in the history.
    pub op_id: u64,
    pub position: usize,
    /// When it was invoked, in ms since the run's first entry.
    pub at_ms: f64,
    /// From the invoke to the service's next `start`; `None`: it never ran again.
    pub recovered_ms: Option<f64>,
    /// That `start`'s position in the history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered_position: Option<usize>,
}

/// A fault waiting for the service's next start.
struct Pending {
    fault: Fault,
    at: Nanos,
    /// A `die` (or a removal, or a pause) followed it: the service did stop.
    stopped: bool,
}

/// Every fault that stopped `service`, in order. A fault that found the service not running
/// stopped nothing and is left out; so is one after which the service was never seen to stop
/// nor to start again and runs at the end (a daemon stop under live-restore): it did not stop
/// the service. An operation the daemon refused (`fail`) did nothing; one whose outcome is
/// unknown (`info`) may have, and counts.
pub fn faults(history: &History, service: &str) -> Vec<Fault> {
    let first = history.entries().first().map_or(Nanos(0), |e| e.at);
    let refused: BTreeSet<u64> = history
        .op_spans()
        .iter()
        .filter(|s| matches!(s.ended, Some((_, OpStep::Fail { .. }))))
        .map(|s| s.id)
        .collect();
    let mut running = false;
    let mut pending: Vec<Pending> = Vec::new();
    let mut done: Vec<Fault> = Vec::new();
    for (position, e) in history.entries().iter().enumerate() {
        match &e.what {
            Happening::Op {
                id,
                step: OpStep::Invoke,
                op,
                ..
            } if running && !refused.contains(id) => {
                if let Some(kind) = FaultKind::of(op, service) {
                    pending.push(Pending {
                        fault: Fault {
                            kind,
                            op_id: *id,
                            position,
                            at_ms: ms_between(first, e.at),
                            recovered_ms: None,
                            recovered_position: None,
                        },
                        at: e.at,
                        stopped: false,
                    });
                }
            }
            Happening::Container {
                service: s, action, ..
            } if s == service => match action {
                ContainerAction::Start | ContainerAction::Unpause => {
                    running = true;
                    // An unpause is the end of a pause, not a recovery from a fault.
                    if matches!(action, ContainerAction::Start) {
                        for mut p in pending.drain(..) {
                            p.fault.recovered_ms = Some(ms_between(p.at, e.at));
                            p.fault.recovered_position = Some(position);
                            done.push(p.fault);
                        }
                    }
                }
                ContainerAction::Die { .. } | ContainerAction::Destroy | ContainerAction::Pause => {
                    running = false;
                    for p in &mut pending {
                        p.stopped = true;
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    done.extend(
        pending
            .into_iter()
            .filter(|p| p.stopped || !running)
            .map(|p| p.fault),
    );
    done.sort_by_key(|f| f.position);
    done
}

/// The faults by kind, each kind's recovery times as a distribution.
pub fn by_kind(faults: &[Fault]) -> BTreeMap<String, Recovery> {
    let mut kinds: BTreeMap<FaultKind, Vec<&Fault>> = BTreeMap::new();
    for f in faults {
        kinds.entry(f.kind).or_default().push(f);
    }
    kinds
        .into_iter()
        .map(|(kind, list)| {
            let times: Vec<f64> = list.iter().filter_map(|f| f.recovered_ms).collect();
            let recovery = Recovery {
                faults: list.len(),
                not_recovered: list.len() - times.len(),
                time_to_recover: Distribution::of(&times),
            };
            (kind.name().to_owned(), recovery)
        })
        .collect()
}
