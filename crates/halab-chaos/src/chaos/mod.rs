//! Chaos: fault schedules drawn at random from a scenario's `[chaos]` table, reproducibly.
//!
//! A [`Generator`] says which faults may happen (each an operation of the one vocabulary, with
//! a weight and the services it may hit), how often (an interval with jitter), and within
//! which limits (how many daemon faults; how long a service is left alone after a fault, so
//! that its back-off resets, or not). [`Schedule::draw`] turns it and a seed into timed
//! operations: the same seed gives the same schedule, byte for byte, on every machine (a
//! portable generator, `rand_xorshift`). [`Schedule::phase`] makes it the run's first phase,
//! played by the same engine as any scenario and judged by the same oracle.

pub use crate::scenario::render::phase as render_phase;

use std::collections::{BTreeMap, BTreeSet};

use halab_model::{ApiCall, DaemonOp, Op, ServiceOp, Wait};
use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use serde::{Deserialize, Serialize};

use crate::scenario::{Phase, Scenario, Track};

/// The name of the phase a schedule becomes.
pub const PHASE: &str = "chaos";

/// At most this many faults in one schedule (a longer run needs a longer interval).
pub const MAX_FAULTS: u64 = 2_000;

/// A scenario's `[chaos]` table, typed and in range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    /// Faults are drawn within this many milliseconds from the run's start.
    pub duration_ms: u64,
    /// The mean interval between two faults.
    pub every_ms: u64,
    /// Each interval is `every_ms` ± up to this (uniformly).
    pub jitter_ms: u64,
    /// After a fault (and its undo), a service takes no other for this long: more than 10 s
    /// plus its restart delay lets Docker's back-off reset; less lets it grow.
    pub min_gap_ms: u64,
    /// At most this many daemon faults (stop, crash, power loss) in a run.
    pub daemon_faults: u32,
    /// After the schedule, the run waits this long before its final inspection.
    pub settle_ms: u64,
    pub faults: Vec<FaultKind>,
}

/// One kind of fault the generator may draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultKind {
    /// Relative to the other kinds' weights.
    pub weight: u32,
    /// The operation, once per service it may hit (a daemon fault: once).
    pub choices: Vec<Op>,
    /// How long until the fault is undone: unpause after a pause, daemon-start after a daemon
    /// fault, docker-start after anything else. `None`: it is left as it is.
    pub undo_after_ms: Option<u64>,
}

impl FaultKind {
    fn is_daemon(&self) -> bool {
        matches!(self.choices.first(), Some(Op::Daemon(_)))
    }
}

/// What undoes `op`: the operation that brings its target back.
pub fn undo(op: &Op) -> Option<Op> {
    match op {
        Op::Daemon(op) if op.ends_daemon() => Some(Op::Daemon(DaemonOp::Start)),
        Op::Service {
            service,
            op: ServiceOp::Api(ApiCall::Pause),
        } => Some(Op::on(service.clone(), ServiceOp::Api(ApiCall::Unpause))),
        Op::Service {
            op: ServiceOp::Api(ApiCall::RemoveForce | ApiCall::UpdateRestartPolicy { .. }),
            ..
        }
        | Op::Service {
            op: ServiceOp::Inspect,
            ..
        } => None,
        Op::Service { service, .. } => {
            Some(Op::on(service.clone(), ServiceOp::Api(ApiCall::Start)))
        }
        Op::Daemon(_) | Op::Wait(_) => None,
    }
}

/// Whether `op` must be undone for the run to go on (a paused service, a daemon down).
pub fn must_be_undone(op: &Op) -> bool {
    matches!(
        op,
        Op::Daemon(_)
            | Op::Service {
                op: ServiceOp::Api(ApiCall::Pause),
                ..
            }
    )
}

/// A fault schedule: operations at times from the run's start, drawn from a seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub seed: u64,
    pub duration_ms: u64,
    pub settle_ms: u64,
    /// In time order (equal times keep the order they were drawn in).
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: u64,
    pub op: Op,
}

impl Schedule {
    /// Draws the schedule of `generator` for `seed`. `daemon_faults` false leaves the daemon
    /// alone (a daemon halab does not own). `duration_ms` overrides the generator's.
    pub fn draw(
        generator: &Generator,
        seed: u64,
        duration_ms: Option<u64>,
        daemon_faults: bool,
    ) -> Schedule {
        let duration_ms = duration_ms.unwrap_or(generator.duration_ms);
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let mut steps: Vec<Step> = Vec::new();
        // When each service may take its next fault; services removed take none.
        let mut free_at: BTreeMap<&str, u64> = BTreeMap::new();
        let mut removed: BTreeSet<&str> = BTreeSet::new();
        // Until when an undo is pending (no daemon fault before), and the daemon is down (no
        // fault at all before).
        let mut undone_at = 0u64;
        let mut daemon_back_at = 0u64;
        let mut daemon_left = if daemon_faults {
            generator.daemon_faults
        } else {
            0
        };
        let mut at = 0u64;
        let mut drawn = 0u64;
        loop {
            let jitter = rng.random_range(0..=2 * generator.jitter_ms);
            at = (at + generator.every_ms + jitter)
                .saturating_sub(generator.jitter_ms)
                .max(at + 100);
            if at >= duration_ms || drawn >= MAX_FAULTS {
                break;
            }
            if at < daemon_back_at {
                continue;
            }
            let mut candidates: Vec<(&FaultKind, Vec<&Op>)> = Vec::new();
            for kind in &generator.faults {
                let ops: Vec<&Op> = if kind.is_daemon() {
                    if daemon_left > 0 && at >= undone_at {
                        kind.choices.iter().collect()
                    } else {
                        Vec::new()
                    }
                } else {
                    kind.choices
                        .iter()
                        .filter(|op| {
                            op.service().is_some_and(|s| {
                                !removed.contains(s) && free_at.get(s).is_none_or(|&t| t <= at)
                            })
                        })
                        .collect()
                };
                if !ops.is_empty() {
                    candidates.push((kind, ops));
                }
            }
            let total: u64 = candidates.iter().map(|(k, _)| u64::from(k.weight)).sum();
            if total == 0 {
                continue;
            }
            let mut pick = rng.random_range(0..total);
            let Some((kind, ops)) = candidates.iter().find(|(k, _)| {
                let hit = pick < u64::from(k.weight);
                pick = pick.saturating_sub(u64::from(k.weight));
                hit
            }) else {
                continue;
            };
            let op = ops[rng.random_range(0..ops.len())];
            drawn += 1;
            steps.push(Step {
                at_ms: at,
                op: op.clone(),
            });
            let until = at + kind.undo_after_ms.unwrap_or(0);
            if let (Some(_), Some(undo)) = (kind.undo_after_ms, undo(op)) {
                steps.push(Step {
                    at_ms: until,
                    op: undo,
                });
                undone_at = undone_at.max(until);
            }
            match op {
                Op::Daemon(_) => {
                    // Every service gets a moment after the daemon is back: its restore ends
                    // before the next fault lands.
                    daemon_left -= 1;
                    daemon_back_at = until + generator.min_gap_ms.max(generator.every_ms);
                }
                Op::Service { service, op } => {
                    free_at.insert(service, until + generator.min_gap_ms);
                    if matches!(op, ServiceOp::Api(ApiCall::RemoveForce)) {
                        removed.insert(service);
                    }
                }
                Op::Wait(_) => {}
            }
        }
        // Stable: equal times keep the order they were drawn in.
        steps.sort_by_key(|s| s.at_ms);
        Schedule {
            seed,
            duration_ms,
            settle_ms: generator.settle_ms,
            steps,
        }
    }

    /// How many faults (not undos) the schedule holds.
    pub fn faults(&self) -> usize {
        let undos = self
            .steps
            .iter()
            .filter(|s| {
                matches!(
                    &s.op,
                    Op::Daemon(DaemonOp::Start)
                        | Op::Service {
                            op: ServiceOp::Api(ApiCall::Unpause | ApiCall::Start),
                            ..
                        }
                )
            })
            .count();
        self.steps.len() - undos
    }

    /// The schedule as the run's phase: each step waits its interval after the one before has
    /// ended, then is done; then the run settles. Intervals, not fixed times: an operation that
    /// takes a while (a daemon stop waits for its containers, a daemon start restores them)
    /// delays the rest instead of bunching them up, so the gaps the generator kept — between
    /// two faults of a service, after a daemon start — hold on any daemon.
    pub fn phase(&self) -> Phase {
        let mut ops = Vec::with_capacity(self.steps.len() * 2 + 1);
        let mut last = 0;
        for step in &self.steps {
            if step.at_ms > last {
                ops.push(Op::Wait(Wait::For {
                    ms: step.at_ms - last,
                }));
            }
            last = step.at_ms;
            ops.push(step.op.clone());
        }
        ops.push(Op::Wait(Wait::For { ms: self.settle_ms }));
        Phase {
            name: PHASE.to_owned(),
            tracks: vec![Track { name: None, ops }],
            drawn: true,
        }
    }

    /// The schedule as a phase of a scenario file (TOML), to read or to paste into a scenario.
    pub fn to_toml(&self) -> String {
        render_phase(&self.phase())
    }
}

/// `scenario` with its schedule for `seed` as its first phase (a scenario without `[chaos]`
/// comes back as it is, with no schedule).
pub fn expand(
    scenario: &Scenario,
    seed: u64,
    duration_ms: Option<u64>,
    daemon_faults: bool,
) -> (Scenario, Option<Schedule>) {
    let Some(generator) = &scenario.chaos else {
        return (scenario.clone(), None);
    };
    let schedule = Schedule::draw(generator, seed, duration_ms, daemon_faults);
    let mut expanded = scenario.clone();
    expanded.phases.insert(0, schedule.phase());
    expanded
        .params
        .insert("chaos.seed".to_owned(), seed.to_string());
    (expanded, Some(schedule))
}

/// A seed for a run that was given none: short enough to type again.
pub fn random_seed() -> u64 {
    u64::from(rand::random::<u32>())
}

#[cfg(test)]
mod tests;
