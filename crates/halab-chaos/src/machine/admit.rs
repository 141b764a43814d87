//! Which transitions a case may take where it is: those whose outcome the harness can know.
//! Any transition is a fault the daemon must cope with; but a few combinations leave what
//! happened to a race inside the workload rather than to the daemon, and those are never drawn
//! (and dropped when shrinking would make them):
//! - a daemon start of a daemon that is up, a daemon fault of one that is down;
//! - a program told to exit (or to exceed its memory) when it is not running — it would carry
//!   the order out at its next start, and two orders would be one (the harness's order file
//!   holds one) — or while paused (it carries it out when thawed, which the model's program does
//!   not);
//! - a second ending (an exit, an OOM, a signal) of one service while the daemon is down: with
//!   no events to wait on, the program's exit and the signal race.

use halab_model::{DaemonOp, DaemonPhase, Op, ServiceOp, Status};

use super::{Case, Prediction};

/// What the case has done that decides what it may do next.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    /// Per service: already ended (or signalled) since the daemon went down.
    ended_while_down: Vec<bool>,
}

impl Admission {
    pub(crate) fn new(case: &Case) -> Admission {
        Admission {
            ended_while_down: vec![false; case.services.len()],
        }
    }

    /// Whether `op` may be taken now, the model being where it is.
    pub(crate) fn admits(&self, case: &Case, model: &Prediction, op: &Op) -> bool {
        let up = model.daemon() == DaemonPhase::Up;
        match op {
            Op::Daemon(DaemonOp::Start) => !up,
            Op::Daemon(_) => up,
            Op::Wait(_) => true,
            Op::Service { service, op } => {
                let Some(i) = case.services.iter().position(|s| &s.name == service) else {
                    return false;
                };
                let state = model.state(i);
                let ends = matches!(
                    op,
                    ServiceOp::Exit { .. } | ServiceOp::Oom | ServiceOp::Signal { .. }
                );
                if !up && ends && self.ended_while_down[i] {
                    return false;
                }
                match op {
                    ServiceOp::Exit { .. } | ServiceOp::Oom => {
                        state.status == Status::Running && !state.removed
                    }
                    _ => true,
                }
            }
        }
    }

    /// Notes that `op` was taken (with the model where it was before).
    pub(crate) fn took(&mut self, case: &Case, model: &Prediction, op: &Op) {
        match op {
            Op::Daemon(DaemonOp::Start) => self.ended_while_down.fill(false),
            Op::Service {
                service,
                op: ServiceOp::Exit { .. } | ServiceOp::Oom | ServiceOp::Signal { .. },
            } if model.daemon() != DaemonPhase::Up => {
                if let Some(i) = case.services.iter().position(|s| &s.name == service) {
                    self.ended_while_down[i] = true;
                }
            }
            _ => {}
        }
    }
}
