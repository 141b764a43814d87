//! Shrinking a failing case, for proptest's runner: every run of a case on a real daemon costs
//! seconds, so the simplifications are ordered to remove the most first — a whole service
//! with everything done to it, then halves, quarters … of the transitions, then single ones,
//! then shorter waits — and the first simplification that still fails becomes the case the
//! next round starts from (greedy, as delta debugging does).
//!
//! Any list of transitions is a valid case once [`normalize`]d: what the case may not take where
//! it is (a daemon start with the daemon up, a fault with it down, see `admit`) is dropped, and
//! a run ends by starting a daemon it left down (see `compile`), so deleting transitions never
//! needs a precondition.

use halab_model::{ApiCall, DaemonOp, Op, ServiceOp, Wait};
use proptest::strategy::ValueTree;

use super::{Admission, Case, Prediction};

/// A case and the simplifications of the smallest failing case seen so far.
#[derive(Debug, Clone)]
pub struct CaseTree {
    /// The smallest case seen failing (at first, the drawn one).
    smallest: Case,
    /// The case under test.
    current: Case,
    /// The simplifications of `smallest` not tried yet, in order.
    pending: std::vec::IntoIter<Case>,
}

impl CaseTree {
    pub fn new(case: Case) -> CaseTree {
        CaseTree {
            smallest: case.clone(),
            current: case,
            pending: Vec::new().into_iter(),
        }
    }

    /// Moves to the next simplification, if any is left.
    fn next(&mut self) -> bool {
        match self.pending.next() {
            Some(case) => {
                self.current = case;
                true
            }
            None => {
                self.current = self.smallest.clone();
                false
            }
        }
    }
}

impl ValueTree for CaseTree {
    type Value = Case;

    fn current(&self) -> Case {
        self.current.clone()
    }

    /// The current case failed: it is the smallest now; try its simplifications.
    fn simplify(&mut self) -> bool {
        self.smallest = self.current.clone();
        self.pending = simplifications(&self.smallest).into_iter();
        self.next()
    }

    /// The current simplification passed: try the next one.
    fn complicate(&mut self) -> bool {
        self.next()
    }
}

/// The simplifications of `case`, most removed first, each normalized, none equal to `case`.
pub fn simplifications(case: &Case) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    let mut push = |candidate: Case| {
        let candidate = normalize(candidate);
        if candidate != *case && !out.contains(&candidate) {
            out.push(candidate);
        }
    };
    // A service, with every transition aimed at it (one service is the least a case keeps).
    if case.services.len() > 1 {
        for service in &case.services {
            let mut smaller = case.clone();
            smaller.services.retain(|s| s.name != service.name);
            smaller
                .transitions
                .retain(|op| op.service() != Some(service.name.as_str()));
            push(smaller);
        }
    }
    // Runs of transitions: halves, quarters, … single ones, from the end (what comes last is
    // what a failure least often needs).
    let n = case.transitions.len();
    let mut size = n.div_ceil(2).max(1);
    loop {
        let mut end = n;
        while end > 0 {
            let start = end.saturating_sub(size);
            let mut smaller = case.clone();
            smaller.transitions.drain(start..end);
            push(smaller);
            end = start;
        }
        if size == 1 {
            break;
        }
        size = size.div_ceil(2);
    }
    // Each transition made simpler.
    for (i, op) in case.transitions.iter().enumerate() {
        for simpler in simpler_ops(op) {
            let mut smaller = case.clone();
            smaller.transitions[i] = simpler;
            push(smaller);
        }
    }
    out
}

/// Simpler versions of one transition: a shorter wait; a plain stop for a crash or a power loss.
fn simpler_ops(op: &Op) -> Vec<Op> {
    match op {
        Op::Wait(Wait::For { ms }) if *ms > 1_000 => vec![Op::Wait(Wait::For { ms: ms / 3 })],
        Op::Daemon(DaemonOp::PowerLoss) => {
            vec![Op::Daemon(DaemonOp::Crash), Op::Daemon(DaemonOp::Stop)]
        }
        Op::Daemon(DaemonOp::Crash) => vec![Op::Daemon(DaemonOp::Stop)],
        Op::Service {
            service,
            op: ServiceOp::Api(ApiCall::Restart { timeout_s }),
        } => vec![Op::on(
            service.clone(),
            ServiceOp::Api(ApiCall::Stop {
                timeout_s: *timeout_s,
            }),
        )],
        _ => Vec::new(),
    }
}

/// `case` with only the transitions it may take where it is (see `admit`): a daemon start of a
/// daemon that is down, a fault of one that is up, no race of a program's exit with a signal.
pub fn normalize(mut case: Case) -> Case {
    let mut model = Prediction::started(&case);
    let mut admission = Admission::new(&case);
    let transitions = std::mem::take(&mut case.transitions);
    for op in transitions {
        if admission.admits(&case, &model, &op) {
            admission.took(&case, &model, &op);
            model.step(&op);
            case.transitions.push(op);
        }
    }
    case
}
