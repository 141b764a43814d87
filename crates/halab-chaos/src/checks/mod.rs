//! Checks: pure judgements of a run's history. They never look at a daemon, so they are tested
//! on hand-written histories, and a simulated run is judged exactly like a real one.
//!
//! Every check is a [`Check`]; [`registry`] lists those a scenario is judged by — the oracle's
//! properties first (the model replaying the run), then the extra assertions the scenario asks
//! for, then the run's own health (its phases completed, its daemon was not lost). Each result
//! carries structured facts and evidence besides its one-line detail, and the run's verdict is
//! their merge ([`Verdict::of`]): a failure beats an undecided check, which beats a pass.

mod counter;
mod daemon;

use std::collections::BTreeMap;

use halab_model::{EngineVersion, History, Nanos, Reference};
use serde::Serialize;

use crate::report::PhaseReport;
use crate::scenario::Scenario;

pub use counter::{CounterFrozenWhileDaemonDown, CounterMatchesStarts, CounterNeverDecreases};
pub use daemon::{DaemonNotLost, PhasesCompleted, RunningAfterDaemonStart};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The history cannot decide: something the run did not plan (the daemon lost under it, an
    /// operation whose outcome is unknown, the harness acting while the daemon was between two
    /// states) may explain what it shows. Never a pass.
    Unknown,
    /// The run did not contain what the check needs (for example, daemon phases were skipped).
    NotRun,
}

impl Verdict {
    /// The verdict of a run from its checks: a failure beats an undecided check, which beats a
    /// pass; a run in which nothing was judged (every check not run) is undecided, not passed.
    pub fn of(results: &[CheckResult]) -> Verdict {
        let any = |v: Verdict| results.iter().any(|r| r.verdict == v);
        if any(Verdict::Fail) {
            Verdict::Fail
        } else if any(Verdict::Unknown) || !any(Verdict::Pass) {
            Verdict::Unknown
        } else {
            Verdict::Pass
        }
    }

    /// The verdict as the summary spells it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Unknown => "UNKNOWN",
            Verdict::NotRun => "NOT RUN",
        }
    }

    /// The merge of two verdicts of one property.
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Fail, _) | (_, Fail) => Fail,
            (Unknown, _) | (_, Unknown) => Unknown,
            (Pass, _) | (_, Pass) => Pass,
            (NotRun, NotRun) => NotRun,
        }
    }
}

/// A point of the run a check points at: when, where in the history, and what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    /// Milliseconds since the run's first entry.
    pub at_ms: i64,
    /// The entry's position in the history, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    pub text: String,
}

/// Why a check decided as it did: what was observed, what the model predicted, and the
/// operation that led there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Mark>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted: Option<Mark>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<Mark>,
}

/// One check's judgement of one subject.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    /// What it is about: a service, `daemon`, or `run`.
    pub subject: String,
    pub verdict: Verdict,
    /// What was measured, in a line, whatever the verdict.
    pub detail: String,
    /// The same, as numbers and names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<&'static str, serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

impl CheckResult {
    pub fn new(name: &'static str, subject: &str, verdict: Verdict, detail: String) -> CheckResult {
        CheckResult {
            name,
            subject: subject.to_owned(),
            verdict,
            detail,
            facts: BTreeMap::new(),
            evidence: Vec::new(),
        }
    }

    pub fn passes(name: &'static str, subject: &str, pass: bool, detail: String) -> CheckResult {
        let verdict = if pass { Verdict::Pass } else { Verdict::Fail };
        CheckResult::new(name, subject, verdict, detail)
    }

    pub fn not_run(name: &'static str, subject: &str, detail: impl Into<String>) -> CheckResult {
        CheckResult::new(name, subject, Verdict::NotRun, detail.into())
    }

    pub fn fact(mut self, key: &'static str, value: impl Serialize) -> CheckResult {
        self.facts.insert(
            key,
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        );
        self
    }

    pub fn with_evidence(mut self, evidence: Vec<Evidence>) -> CheckResult {
        self.evidence = evidence;
        self
    }
}

/// A finished run, as the checks see it.
pub struct Subject<'a> {
    pub scenario: &'a Scenario,
    pub history: &'a History,
    pub phases: &'a [PhaseReport],
    pub live_restore: bool,
    /// The engine line whose model judges the run.
    pub engine: EngineVersion,
    /// Which reading of the engine's semantics judges the run (the engine's own, normally).
    pub reference: Reference,
    /// The least late slack the oracle allows (see [`crate::RunOptions::min_late_ms`]).
    pub min_late_ms: i64,
}

impl Subject<'_> {
    /// Milliseconds from the run's first entry to `at`.
    pub fn ms(&self, at: Nanos) -> i64 {
        self.history
            .entries()
            .first()
            .map_or(0, |first| at.millis_since(first.at))
    }
}

/// One way of judging a run.
pub trait Check {
    /// Its results, one per subject it judges (none when it has nothing to say).
    fn judge(&self, run: &Subject<'_>) -> Vec<CheckResult>;
}

/// Every check a scenario is judged by, in the order the report lists them.
pub fn registry(scenario: &Scenario) -> Vec<Box<dyn Check>> {
    let c = &scenario.checks;
    let mut checks: Vec<Box<dyn Check>> = vec![Box::new(crate::oracle::Oracle)];
    if c.counter_matches_starts {
        checks.push(Box::new(CounterMatchesStarts));
    }
    if c.counter_never_decreases {
        checks.push(Box::new(CounterNeverDecreases));
    }
    if c.counter_frozen_while_daemon_down {
        checks.push(Box::new(CounterFrozenWhileDaemonDown));
    }
    if let Some((within, service)) = &c.running_after_daemon_start {
        checks.push(Box::new(RunningAfterDaemonStart {
            within_secs: *within,
            service: service.clone(),
        }));
    }
    checks.push(Box::new(PhasesCompleted));
    checks
}

/// Judges a run: every check of the registry, then [`DaemonNotLost`], which makes undecided
/// whatever failed after the daemon was lost under the run.
pub fn run_checks(run: &Subject<'_>) -> Vec<CheckResult> {
    let mut results: Vec<CheckResult> = registry(run.scenario)
        .iter()
        .flat_map(|check| check.judge(run))
        .collect();
    if let Some(lost) = DaemonNotLost::judge_with(run, &mut results) {
        results.push(lost);
    }
    results
}

#[cfg(test)]
pub(crate) mod build {
    //! Hand-made histories for the checks' tests.

    use halab_model::{
        ContainerAction, DaemonOp, Entry, Happening, History, Nanos, Op, OpStep, Source,
    };

    pub struct Build(pub History, pub u64);

    /// The service of the seed scenario, which the checks' tests judge these histories by.
    pub const SERVICE: &str = "critical";

    impl Build {
        pub fn new() -> Build {
            Build(History::new(), 100)
        }
        pub fn at(mut self, ms: i64, what: Happening) -> Build {
            self.0.record(Entry {
                at: Nanos::from_millis(ms),
                source: Source::Events,
                seen: None,
                what,
            });
            self
        }
        pub fn event(self, ms: i64, service: &str, action: ContainerAction) -> Build {
            self.at(
                ms,
                Happening::Container {
                    node: "lab".into(),
                    service: service.into(),
                    action,
                },
            )
        }
        pub fn start(self, ms: i64) -> Build {
            self.event(ms, SERVICE, ContainerAction::Start)
        }
        pub fn counter(self, ms: i64, value: u64) -> Build {
            self.at(
                ms,
                Happening::Counter {
                    node: "lab".into(),
                    service: SERVICE.into(),
                    value,
                },
            )
        }
        pub fn op(mut self, ms: i64, step: OpStep, op: Op) -> Build {
            let id = self.1;
            if !step.ends() {
                self.1 += 1;
            }
            let id = if step.ends() { id - 1 } else { id };
            self.at(
                ms,
                Happening::Op {
                    node: "lab".into(),
                    id,
                    step,
                    op,
                },
            )
        }
        /// A daemon op that begins at `from` and ends well at `to`.
        pub fn daemon(self, from: i64, to: i64, op: DaemonOp) -> Build {
            self.op(from, OpStep::Invoke, Op::Daemon(op)).op(
                to,
                OpStep::Ok { read: None },
                Op::Daemon(op),
            )
        }
        pub fn phase(self, ms: i64, name: &str) -> Build {
            self.at(ms, Happening::Phase { name: name.into() })
        }
    }
}
