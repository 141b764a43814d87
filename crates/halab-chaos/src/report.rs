//! A run's result: the verdict, the checks with their evidence, the numbers, and the history
//! they were judged on. Serialised as-is for `--json`; rendered as a plain summary otherwise.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use halab_model::{History, Inspected, Nanos, Op, OpStep, ServiceOp, Source};
use serde::{Deserialize, Serialize};

use crate::checks::{CheckResult, Verdict};
use crate::metrics::Metrics;
use crate::oracle::Slack;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub scenario_path: String,
    pub run_id: String,
    pub target: TargetInfo,
    /// The engine line whose model judged the run.
    pub engine: halab_model::EngineVersion,
    pub live_restore: bool,
    /// The reading of that model that judged it: the engine's own, the documentation's, a
    /// mutant.
    pub reference: halab_model::Reference,
    pub params: BTreeMap<String, String>,
    pub verdict: Verdict,
    pub checks: Vec<CheckResult>,
    pub phases: Vec<PhaseReport>,
    /// By service.
    pub services: BTreeMap<String, Counts>,
    pub timings: Timings,
    /// Recovery times, availability, restart delays against the model's, detection latency.
    pub metrics: Metrics,
    /// The tolerances the oracle took from the run.
    pub slack: Slack,
    pub history: History,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `lab` (a daemon halab owns), `host` (a daemon given with --docker-host) or `sim`.
    pub kind: String,
    /// The lab's name, or the host address.
    pub name: String,
    pub docker_host: String,
    pub engine_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseReport {
    pub name: String,
    /// Skipped: a daemon phase on a daemon halab may not stop.
    pub skipped: bool,
    pub duration_ms: i64,
    /// What went wrong in the phase, if anything (a wait that timed out, an operation refused).
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// `start` events (from the stream, or reconciled from inspect).
    pub starts: u64,
    pub dies: u64,
    /// `RestartCount` as the last inspection read it.
    pub restart_count: Option<i64>,
    /// The counter's last value.
    pub counter: Option<u64>,
    /// Entries reconstructed from inspect because the events stream lost them.
    pub reconciled: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub total_ms: i64,
    /// Each daemon operation and how long it took, in order.
    pub daemon_ops: Vec<(String, i64)>,
}

/// The time of the last entry (or zero for an empty history).
pub fn history_end(history: &History) -> Nanos {
    history.entries().last().map_or(Nanos(0), |e| e.at)
}

/// Counts of `service` from the history.
pub fn counts(history: &History, service: &str) -> Counts {
    let last_inspection =
        history
            .op_spans()
            .into_iter()
            .rev()
            .find_map(|s| match (s.op, s.ended) {
                (
                    Op::Service {
                        service: s2,
                        op: ServiceOp::Inspect,
                    },
                    Some((_, OpStep::Ok { read: Some(read) })),
                ) if s2 == service => Some(read.clone()),
                _ => None,
            });
    Counts {
        starts: history.start_count(service) as u64,
        dies: history.die_count(service) as u64,
        restart_count: last_inspection.map(|r: Inspected| r.restart_count),
        counter: history.counter_readings(service).last().map(|(_, v)| v),
        reconciled: history
            .entries()
            .iter()
            .filter(|e| e.source == Source::Inspect)
            .filter(|e| matches!(&e.what, halab_model::Happening::Container { service: s, .. } if s == service))
            .count() as u64,
    }
}

/// Timings from the history.
pub fn timings(history: &History) -> Timings {
    Timings {
        total_ms: history
            .entries()
            .first()
            .map_or(0, |f| history_end(history).millis_since(f.at)),
        daemon_ops: history
            .op_spans()
            .iter()
            .filter_map(|s| {
                let op = s.daemon_op()?;
                let (end, _) = s.ended?;
                Some((op.to_string(), end.millis_since(s.invoked)))
            })
            .collect(),
    }
}

impl Report {
    /// The plain-text summary printed at the end of a run. Text from outside (a daemon's error,
    /// an address given on the command line) is shown with its control characters escaped.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}  scenario {} on {} {} (engine {}), run {}",
            self.verdict.label(),
            self.scenario,
            self.target.kind,
            self.target.name,
            self.target.engine_version,
            self.run_id
        );
        let subject_width = self
            .checks
            .iter()
            .map(|c| c.subject.chars().count())
            .max()
            .unwrap_or(0);
        for c in &self.checks {
            let mark = match c.verdict {
                Verdict::Pass => "ok  ",
                Verdict::Fail => "FAIL",
                Verdict::Unknown => "??  ",
                Verdict::NotRun => "--  ",
            };
            let _ = writeln!(
                out,
                "  {mark} {:<w$}  {:<32} {}",
                c.subject,
                c.name,
                c.detail,
                w = subject_width
            );
        }
        for (service, c) in &self.services {
            let _ = writeln!(
                out,
                "  {service}: counter {}, {} starts, {} dies, RestartCount {}, {} reconciled from inspect",
                c.counter.map_or("-".into(), |v| v.to_string()),
                c.starts,
                c.dies,
                c.restart_count.map_or("?".into(), |v| v.to_string()),
                c.reconciled,
            );
        }
        out.push_str(&self.metrics.summary());
        let daemon: Vec<String> = self
            .timings
            .daemon_ops
            .iter()
            .map(|(op, ms)| format!("{op} {ms} ms"))
            .collect();
        let _ = writeln!(
            out,
            "  took {:.1} s{}{}; tolerance of restart delays -{}/+{} ms (from the run's own starts)",
            self.timings.total_ms as f64 / 1000.0,
            if self.target.kind == "sim" {
                " of virtual time"
            } else {
                ""
            },
            if daemon.is_empty() {
                String::new()
            } else {
                format!("; {}", daemon.join(", "))
            },
            self.slack.early_ms,
            self.slack.late_ms,
        );
        for p in self
            .phases
            .iter()
            .filter(|p| p.skipped || p.problem.is_some())
        {
            let what = p
                .problem
                .as_deref()
                .unwrap_or("skipped: halab does not stop a daemon it does not own");
            let _ = writeln!(out, "  phase {}: {what}", p.name);
        }
        crate::text::lines(&out).into_owned()
    }
}
