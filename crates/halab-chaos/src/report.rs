//! A run's result: the verdict, the checks, the numbers, and the history they were judged on.
//! Serialised as-is for `--json`; rendered as a plain summary otherwise.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use halab_model::{ContainerAction, DaemonAction, History, Nanos};
use serde::Serialize;

use crate::checks::{CheckResult, Verdict};
use crate::scenario::PhaseAction;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub scenario_path: String,
    pub run_id: String,
    pub target: TargetInfo,
    pub params: BTreeMap<String, String>,
    pub verdict: Verdict,
    pub checks: Vec<CheckResult>,
    pub phases: Vec<PhaseReport>,
    pub counts: Counts,
    pub timings: Timings,
    pub history: History,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// `lab` (a daemon halab owns) or `host` (a daemon given with --docker-host).
    pub kind: &'static str,
    /// The lab's name, or the host address.
    pub name: String,
    pub docker_host: String,
    pub engine_version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub action: PhaseAction,
    /// Skipped: a daemon phase on a daemon halab may not stop.
    pub skipped: bool,
    pub duration_ms: i64,
    /// What went wrong in the phase, if anything (a timeout waiting for starts, say).
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// `start` events of the service (from the stream, or reconciled from inspect).
    pub starts: u64,
    pub dies: u64,
    /// starts − 1: the restarts the daemon made.
    pub restarts: u64,
    /// `RestartCount` as the daemon reports it at the end.
    pub restart_count: Option<i64>,
    /// The counter's last value.
    pub counter: Option<u64>,
    /// Restarts before the first daemon phase began.
    pub restarts_before_daemon_phases: Option<u64>,
    /// Entries reconstructed from inspect because the events stream lost them.
    pub reconciled: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub total_ms: i64,
    /// From asking the daemon to stop to its process having exited.
    pub daemon_stop_ms: Option<i64>,
    /// From starting the daemon to its API answering.
    pub daemon_start_to_ready_ms: Option<i64>,
    /// From starting the daemon to the service's first start after it.
    pub daemon_start_to_service_running_ms: Option<i64>,
}

/// The time of the last entry (or zero for an empty history).
pub fn history_end(history: &History) -> Nanos {
    history.entries().last().map_or(Nanos(0), |e| e.at)
}

/// Counts and timings derived from the history.
pub fn measure(
    history: &History,
    container: &str,
    first_daemon_phase: Option<&str>,
) -> (Counts, Timings) {
    let actions: Vec<(Nanos, &ContainerAction)> = history.container_actions(container).collect();
    let starts = actions
        .iter()
        .filter(|(_, a)| matches!(a, ContainerAction::Start))
        .count() as u64;
    let dies = actions
        .iter()
        .filter(|(_, a)| matches!(a, ContainerAction::Die { .. }))
        .count() as u64;
    // By position: starts recorded before the first daemon phase began.
    let restarts_before = first_daemon_phase
        .and_then(|p| history.phase_span(p))
        .map(|span| {
            let starts = history
                .container_actions_in(container, 0..span.start)
                .filter(|(_, a)| matches!(a, ContainerAction::Start))
                .count() as u64;
            starts.saturating_sub(1)
        });
    let counts = Counts {
        starts,
        dies,
        restarts: starts.saturating_sub(1),
        restart_count: None,
        counter: history.counter_readings().last().map(|(_, v)| v),
        restarts_before_daemon_phases: restarts_before,
        reconciled: history
            .entries()
            .iter()
            .filter(|e| e.source == halab_model::Source::Inspect)
            .count() as u64,
    };
    let daemon = |which: DaemonAction| {
        history
            .daemon_actions()
            .find(|&(_, a)| a == which)
            .map(|(at, _)| at)
    };
    let stop_requested = history
        .daemon_actions()
        .find(|(_, a)| matches!(a, DaemonAction::StopRequested { .. }))
        .map(|(at, _)| at);
    let start_requested = daemon(DaemonAction::StartRequested);
    let between = |a: Option<Nanos>, b: Option<Nanos>| Some(b?.millis_since(a?));
    let timings = Timings {
        total_ms: history
            .entries()
            .first()
            .map_or(0, |f| history_end(history).millis_since(f.at)),
        daemon_stop_ms: between(stop_requested, daemon(DaemonAction::Stopped)),
        daemon_start_to_ready_ms: between(start_requested, daemon(DaemonAction::Ready)),
        daemon_start_to_service_running_ms: start_requested.and_then(|t| {
            history
                .starts(container)
                .find(|&at| at >= t)
                .map(|at| at.millis_since(t))
        }),
    };
    (counts, timings)
}

impl Report {
    /// The plain-text summary printed at the end of a run. Text from outside (a daemon's error,
    /// an address given on the command line) is shown with its control characters escaped.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let verdict = self.verdict.label();
        let _ = writeln!(
            out,
            "{verdict}  scenario {} on {} {} (engine {}), run {}",
            self.scenario,
            self.target.kind,
            self.target.name,
            self.target.engine_version,
            self.run_id
        );
        for c in &self.checks {
            let mark = match c.verdict {
                Verdict::Pass => "ok  ",
                Verdict::Fail => "FAIL",
                Verdict::Unknown => "??  ",
                Verdict::NotRun => "--  ",
            };
            let _ = writeln!(out, "  {mark} {:<34} {}", c.name, c.detail);
        }
        let c = &self.counts;
        let _ = writeln!(
            out,
            "  counter {}, {} starts, {} restarts, RestartCount {}, {} reconciled from inspect",
            c.counter.map_or("?".into(), |v| v.to_string()),
            c.starts,
            c.restarts,
            c.restart_count.map_or("?".into(), |v| v.to_string()),
            c.reconciled,
        );
        let t = &self.timings;
        let ms = |v: Option<i64>| v.map_or("-".into(), |v| format!("{v} ms"));
        let _ = writeln!(
            out,
            "  took {:.1} s{}; daemon stop {}, daemon start→ready {}, daemon start→service running {}",
            t.total_ms as f64 / 1000.0,
            if self.target.kind == "sim" {
                " of virtual time"
            } else {
                ""
            },
            ms(t.daemon_stop_ms),
            ms(t.daemon_start_to_ready_ms),
            ms(t.daemon_start_to_service_running_ms),
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
