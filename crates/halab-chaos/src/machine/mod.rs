//! The state machine of halab's property-based suites: a case is a few services with their
//! restart policies and a list of transitions — operations of the one vocabulary ([`Op`]) on
//! them and on their daemon, and waits — drawn by proptest, one at a time, from what the
//! reference model says each service is doing.
//!
//! - [`CaseStrategy`] draws cases ([`Shape`] says how many services, transitions, daemon faults
//!   and how long a wait may be) — a proptest [`Strategy`], so proptest's runner generates,
//!   persists and shrinks them;
//! - [`CaseTree`] shrinks a failing case: whole services with their transitions, then runs of
//!   transitions, then single ones, then shorter waits (see `shrink.rs`);
//! - [`compile`] turns a case into a scenario any runtime plays: after each transition, waits on
//!   the history for exactly what the model says the daemon does next (never a sleep), then an
//!   inspection of every service, which the oracle compares with the model's state.
//!
//! The model that draws and settles the transitions is always the engine's: what judges the run
//! afterwards ([`halab_model::Reference`]) may be another.

mod admit;
mod compile;
mod predict;
mod shrink;
#[cfg(test)]
mod tests;

use admit::Admission;
pub use compile::{compile, compile_paced, settle_margin};
pub use predict::{Prediction, Settling};
pub use shrink::{CaseTree, normalize, simplifications};

use std::fmt;

use halab_model::{
    ApiCall, DaemonOp, DaemonPhase, Op, RestartPolicy, Run, ServiceBehaviour, ServiceOp,
    SignalResponse, Status, Wait,
    signal::{SIGHUP, SIGKILL, SIGTERM},
};
use proptest::strategy::{NewTree, Strategy};
use proptest::test_runner::TestRunner;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::scenario::{DEFAULT_COUNTER_DIR, DEFAULT_COUNTER_FILE, LAB_IMAGE, Service};

/// How big a suite's cases are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Services per case, at least and at most.
    pub services: (usize, usize),
    /// Transitions per case.
    pub transitions: (usize, usize),
    /// Daemon faults (stop, crash, power loss) per case; each is followed by its start.
    pub daemon_faults: (usize, usize),
    /// The longest wait a case may take, in ms: above 10 s a service may run long enough for
    /// its back-off to reset.
    pub longest_wait_ms: u64,
    /// Whether power losses and `docker rm -f` are drawn.
    pub rare_faults: bool,
}

/// The services of a case: every one runs halab's program that waits to be told, so that the
/// case's transitions alone decide when it exits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePlan {
    pub name: String,
    pub policy: RestartPolicy,
    pub on_stop_signal: SignalResponse,
}

/// Seconds a suite's `docker stop` (and the daemon's stops) wait before SIGKILL when the
/// service ignores SIGTERM: short, so a daemon transition costs seconds, not tens of seconds.
pub const STOP_TIMEOUT_S: i64 = 1;
/// The stop timeout of a service that answers SIGTERM: it exits at once, so this costs
/// nothing, and it leaves a loaded machine's shell time to run its trap (1 s did not, once).
pub const TRAPPED_STOP_TIMEOUT_S: i64 = 5;
/// The memory limit of a suite's services (MiB), which an `oom` transition exceeds.
pub const MEMORY_MB: u64 = 32;

impl ServicePlan {
    /// The service as a scenario declares it.
    pub fn service(&self) -> Service {
        Service {
            name: self.name.clone(),
            image: LAB_IMAGE.to_owned(),
            restart: self.policy,
            script: None,
            program: ServiceBehaviour {
                runs: vec![Run::UntilTold],
                counts: false,
            },
            on_stop_signal: self.on_stop_signal,
            stop_timeout: Some(match self.on_stop_signal {
                SignalResponse::Ignore => STOP_TIMEOUT_S,
                _ => TRAPPED_STOP_TIMEOUT_S,
            }),
            memory_mb: Some(MEMORY_MB),
            start: true,
            counter_dir: DEFAULT_COUNTER_DIR.to_owned(),
            counter_file: DEFAULT_COUNTER_FILE.to_owned(),
            counter_initial: 0,
            // Health never bears on a restart, which is what a suite's cases are drawn to show.
            healthcheck: None,
        }
    }
}

/// One case: services on one daemon, and what is done to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The daemon runs with `--live-restore`.
    pub live_restore: bool,
    pub services: Vec<ServicePlan>,
    pub transitions: Vec<Op>,
}

impl Case {
    /// How many of its transitions fault the daemon.
    pub fn daemon_faults(&self) -> usize {
        self.transitions
            .iter()
            .filter(|op| matches!(op, Op::Daemon(d) if d.ends_daemon()))
            .count()
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let services: Vec<String> = self
            .services
            .iter()
            .map(|s| format!("{} ({})", s.name, s.policy))
            .collect();
        let n = self.transitions.len();
        write!(
            f,
            "{n} transition{} on {}{}: ",
            if n == 1 { "" } else { "s" },
            services.join(", "),
            if self.live_restore {
                ", live-restore"
            } else {
                ""
            }
        )?;
        let ops: Vec<String> = self.transitions.iter().map(Op::to_string).collect();
        f.write_str(&ops.join("; "))
    }
}

/// Draws cases of one shape, on a daemon with or without live-restore.
#[derive(Debug, Clone, Copy)]
pub struct CaseStrategy {
    pub shape: Shape,
    pub live_restore: bool,
}

impl Strategy for CaseStrategy {
    type Tree = CaseTree;
    type Value = Case;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        Ok(CaseTree::new(draw(
            self.shape,
            self.live_restore,
            runner.rng(),
        )))
    }
}

/// The policies a service may have, drawn evenly.
const POLICIES: [RestartPolicy; 6] = [
    RestartPolicy::No,
    RestartPolicy::Always,
    RestartPolicy::UnlessStopped,
    RestartPolicy::OnFailure { max_retries: 0 },
    RestartPolicy::OnFailure { max_retries: 1 },
    RestartPolicy::OnFailure { max_retries: 3 },
];

/// Draws one case: its services, then each transition from the state the model is in after
/// the ones before.
pub fn draw(shape: Shape, live_restore: bool, rng: &mut impl rand::Rng) -> Case {
    let count = rng.random_range(shape.services.0..=shape.services.1);
    let mut services: Vec<ServicePlan> = Vec::with_capacity(count);
    for _ in 0..count {
        let policy = POLICIES[rng.random_range(0..POLICIES.len())];
        let on_stop_signal = match rng.random_range(0..4) {
            0 | 1 => SignalResponse::Ignore,
            2 => SignalResponse::Die,
            _ => SignalResponse::Exit { code: 0 },
        };
        let base = policy.api_name().to_owned();
        let taken = services
            .iter()
            .filter(|s| s.name.starts_with(&base))
            .count();
        let name = if taken == 0 {
            base
        } else {
            format!("{base}-{}", taken + 1)
        };
        services.push(ServicePlan {
            name,
            policy,
            on_stop_signal,
        });
    }
    let mut case = Case {
        live_restore,
        services,
        transitions: Vec::new(),
    };
    let length = rng.random_range(shape.transitions.0..=shape.transitions.1);
    let faults = rng.random_range(shape.daemon_faults.0..=shape.daemon_faults.1);
    let mut model = Prediction::started(&case);
    let mut admission = Admission::new(&case);
    let mut faults_done = 0;
    while case.transitions.len() < length {
        let left = length - case.transitions.len();
        let down = model.daemon() != DaemonPhase::Up;
        // Every fault needs a transition after it for the start; the faults still owed are
        // forced once only the room for them is left.
        let owed = faults.saturating_sub(faults_done);
        let forced = !down && owed > 0 && left <= 2 * owed;
        let fault_room = !down && faults_done < faults && left >= 2;
        let mut op = None;
        for _ in 0..8 {
            let looping = (!down && !forced)
                .then(|| crash_loop(&case, &model, shape, rng))
                .flatten();
            let drawn = if let Some(op) = looping {
                op
            } else if down && (left == 1 || rng.random_range(0..10) < 7) {
                Op::Daemon(DaemonOp::Start)
            } else if forced || (fault_room && rng.random_range(0..100) < 15) {
                let power = shape.rare_faults && rng.random_range(0..8) == 0;
                Op::Daemon(if power {
                    DaemonOp::PowerLoss
                } else if rng.random_range(0..2) == 0 {
                    DaemonOp::Crash
                } else {
                    DaemonOp::Stop
                })
            } else if !down && rng.random_range(0..100) < 12 {
                wait(shape, rng)
            } else {
                match service_op(&case, &model, shape, down, rng) {
                    Some(op) => op,
                    None => continue,
                }
            };
            if admission.admits(&case, &model, &drawn) {
                op = Some(drawn);
                break;
            }
        }
        let op = op.unwrap_or(if down {
            Op::Daemon(DaemonOp::Start)
        } else {
            wait(shape, rng)
        });
        if matches!(op, Op::Daemon(d) if d.ends_daemon()) {
            faults_done += 1;
        }
        admission.took(&case, &model, &op);
        model.step(&op);
        case.transitions.push(op);
    }
    case
}

/// The ending operations a crash loop is made of.
fn ends(op: &ServiceOp) -> bool {
    matches!(
        op,
        ServiceOp::Exit { .. } | ServiceOp::Signal { .. } | ServiceOp::Oom
    )
}

/// A crash loop, more often than chance would make one: after a service's process ended (and
/// its policy started it again), it ends again more than half the time — the back-off grows,
/// `on-failure:N` runs out — and after a few, the case often leaves it alone for a while, long
/// enough for its back-off to reset (above 10 s) or not (3 s), before it fails once more.
fn crash_loop(
    case: &Case,
    model: &Prediction,
    shape: Shape,
    rng: &mut impl rand::Rng,
) -> Option<Op> {
    let mut streak = 0;
    let mut service = None;
    for op in case.transitions.iter().rev() {
        match op {
            Op::Service { service: s, op } if ends(op) && service.is_none_or(|x| x == s) => {
                streak += 1;
                service = Some(s);
            }
            _ => break,
        }
    }
    let service = service?;
    let i = case.services.iter().position(|p| &p.name == service)?;
    if model.state(i).status != Status::Running {
        return None;
    }
    if streak >= 3 && rng.random_range(0..10) < 3 {
        let ms = if rng.random_range(0..2) == 0 {
            3_000
        } else {
            shape.longest_wait_ms
        };
        return Some(Op::Wait(Wait::For {
            ms: ms.min(shape.longest_wait_ms),
        }));
    }
    if rng.random_range(0..10) < 6 {
        let op = match rng.random_range(0..3) {
            0 => ServiceOp::Signal { signal: SIGKILL },
            _ => ServiceOp::Exit {
                code: [0, 1, 3][rng.random_range(0..3)],
            },
        };
        return Some(Op::on(service.clone(), op));
    }
    None
}

fn wait(shape: Shape, rng: &mut impl rand::Rng) -> Op {
    let mut choices = vec![1_000, 1_000, 1_000, 3_000, 3_000];
    if shape.longest_wait_ms >= 11_000 {
        choices.push(11_000);
    }
    let ms = choices[rng.random_range(0..choices.len())].min(shape.longest_wait_ms);
    Op::Wait(Wait::For { ms })
}

/// An operation on one service, drawn by what the model says it is doing. `down`: the daemon
/// is not answering (its API calls are refused; signals and the program's exits still happen).
fn service_op(
    case: &Case,
    model: &Prediction,
    shape: Shape,
    down: bool,
    rng: &mut impl rand::Rng,
) -> Option<Op> {
    let alive: Vec<usize> = (0..case.services.len())
        .filter(|&i| !model.state(i).removed)
        .collect();
    if alive.is_empty() {
        return None;
    }
    // Faults come in runs on one service half the time — a crash loop, a service stopped and
    // started again — which is what grows a back-off, or exhausts `on-failure:N`.
    let last = case
        .transitions
        .iter()
        .rev()
        .find_map(Op::service)
        .and_then(|s| case.services.iter().position(|p| p.name == s))
        .filter(|i| alive.contains(i));
    let i = match last {
        Some(i) if rng.random_range(0..2) == 0 => i,
        _ => alive[rng.random_range(0..alive.len())],
    };
    let status = model.state(i).status;
    let stop = ServiceOp::Api(ApiCall::Stop {
        timeout_s: Some(STOP_TIMEOUT_S),
    });
    let restart = ServiceOp::Api(ApiCall::Restart {
        timeout_s: Some(STOP_TIMEOUT_S),
    });
    let kill = |signal| ServiceOp::Api(ApiCall::Kill { signal });
    let crash = |signal| ServiceOp::Signal { signal };
    let exit = ServiceOp::Exit {
        code: [0, 1, 3][rng.random_range(0..3)],
    };
    let update = ServiceOp::Api(ApiCall::UpdateRestartPolicy {
        policy: POLICIES[rng.random_range(0..POLICIES.len())],
    });
    let start = ServiceOp::Api(ApiCall::Start);
    // (weight, operation)
    let mut choices: Vec<(u32, ServiceOp)> = match status {
        Status::Running | Status::Restarting if down => vec![
            (4, crash(SIGKILL)),
            (4, exit),
            (1, crash(SIGTERM)),
            (1, ServiceOp::Oom),
            (1, kill(SIGKILL)),
        ],
        _ if down => vec![(1, start), (1, exit)],
        Status::Running => vec![
            (4, crash(SIGKILL)),
            (1, crash(SIGTERM)),
            (4, exit),
            (1, ServiceOp::Oom),
            (2, kill(SIGKILL)),
            (1, kill(SIGHUP)),
            (2, stop),
            (1, restart),
            (1, ServiceOp::Api(ApiCall::Pause)),
            (1, update),
        ],
        Status::Paused => vec![
            (5, ServiceOp::Api(ApiCall::Unpause)),
            (1, kill(SIGKILL)),
            (1, stop),
            (1, crash(SIGKILL)),
        ],
        Status::Restarting => vec![(1, stop), (1, kill(SIGKILL)), (1, start)],
        _ => vec![(6, start), (1, restart), (1, update), (1, exit)],
    };
    if shape.rare_faults && !down {
        choices.push((1, ServiceOp::Api(ApiCall::RemoveForce)));
    }
    let total: u32 = choices.iter().map(|(w, _)| w).sum();
    let mut pick = rng.random_range(0..total);
    let op = choices
        .into_iter()
        .find(|(w, _)| {
            let hit = pick < *w;
            pick = pick.saturating_sub(*w);
            hit
        })
        .map(|(_, op)| op)?;
    Some(Op::on(case.services[i].name.clone(), op))
}
