//! What a service's program does, start after start: the simulator plays it and the oracle
//! expects it (a real run executes the program itself — the scenario's script, or the one
//! halab writes from this description).

use serde::{Deserialize, Serialize};

/// What one run of the program (from one start to its end) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Run {
    /// Exits by itself with `code`, `after_ms` after it started.
    Exit { after_ms: u64, code: i64 },
    /// Waits to be told — an [`crate::ServiceOp::Exit`] or [`crate::ServiceOp::Oom`] order — and
    /// carries the order out. An order given while no run waits is kept for the next run that
    /// does.
    UntilTold,
    /// Runs until something kills it.
    Forever,
}

/// An order to a program waiting to be told ([`Run::UntilTold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Exit { code: i64 },
    Oom,
}

impl Order {
    /// The order of a service operation, if it is one.
    pub fn of(op: &crate::ServiceOp) -> Option<Order> {
        match op {
            crate::ServiceOp::Exit { code } => Some(Order::Exit { code: *code }),
            crate::ServiceOp::Oom => Some(Order::Oom),
            _ => None,
        }
    }

    /// What carrying it out does to the container.
    pub fn op(self) -> crate::ServiceOp {
        match self {
            Order::Exit { code } => crate::ServiceOp::Exit { code },
            Order::Oom => crate::ServiceOp::Oom,
        }
    }
}

/// A service's program.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceBehaviour {
    /// The n-th start does `runs[n-1]`; the last one repeats. None: it runs for ever.
    pub runs: Vec<Run>,
    /// Whether each start adds one to the service's counter (the seed's script does).
    pub counts: bool,
}

impl ServiceBehaviour {
    /// A program whose every run exits with `code` after `after_ms`.
    pub fn exits_after(after_ms: u64, code: i64) -> ServiceBehaviour {
        ServiceBehaviour {
            runs: vec![Run::Exit { after_ms, code }],
            counts: true,
        }
    }

    /// What the `nth` run (1 for the first start) does.
    pub fn run(&self, nth: u64) -> Run {
        let i = usize::try_from(nth.saturating_sub(1)).unwrap_or(usize::MAX);
        self.runs
            .get(i)
            .or(self.runs.last())
            .copied()
            .unwrap_or(Run::Forever)
    }

    /// Whether any run waits to be told what to do.
    pub fn can_be_told(&self) -> bool {
        self.runs.contains(&Run::UntilTold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_run_repeats() {
        let b = ServiceBehaviour {
            runs: vec![
                Run::Exit {
                    after_ms: 300,
                    code: 3,
                },
                Run::Forever,
            ],
            counts: false,
        };
        assert_eq!(
            b.run(1),
            Run::Exit {
                after_ms: 300,
                code: 3
            }
        );
        assert_eq!(b.run(2), Run::Forever);
        assert_eq!(b.run(9), Run::Forever);
        let none = ServiceBehaviour {
            runs: vec![],
            counts: false,
        };
        assert_eq!(none.run(1), Run::Forever);
    }
}
