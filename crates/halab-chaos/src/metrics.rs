//! The numbers of a run that people compare across runs: how long each service took to come
//! back after each kind of fault, how much of the run it was up, each automatic restart's delay
//! beside the model's back-off, and how late the daemon's news reached halab.
//!
//! Pure like the checks: computed from the history (and the scenario's services, the phases'
//! durations, and the model's replay of the run), never from a daemon. Times are the entries'
//! own `at` — the daemon's stamps for its events, the host clock for what halab did (one host,
//! one clock, on a lab) — and are given in milliseconds as `f64`, because the simulator and the
//! detection latency both live below the millisecond.

mod faults;
mod restarts;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use halab_model::{ContainerAction, Happening, History, Nanos, Source};
use serde::{Deserialize, Serialize};

use crate::oracle::Replayed;
use crate::report::PhaseReport;
use crate::scenario::Scenario;

pub use faults::{Fault, FaultKind};
pub use restarts::Restart;

/// Every metric of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// The span availability is measured over, in ms since the run's first entry: from the first
    /// phase to the end of the last (the services' first starts and the run's teardown are not
    /// the service being unavailable).
    pub window: Span,
    /// By service, in the scenario's order of names.
    pub services: BTreeMap<String, ServiceMetrics>,
    /// `seen - at` of the daemon's events: how late halab learnt what the daemon did. `None`
    /// when no event carries the time it was seen (the simulator has no such delay).
    pub detection: Option<Distribution>,
}

/// From one time to another, in ms since the run's first entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub from_ms: f64,
    pub to_ms: f64,
}

/// One service's metrics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceMetrics {
    /// Running time over the window's length; `None` for an empty window.
    pub availability: Option<f64>,
    pub running_ms: f64,
    /// Every fault that stopped the service, in order, with when it ran again.
    pub faults: Vec<Fault>,
    /// The same by kind of fault (its [`FaultKind::name`]).
    pub recovery: BTreeMap<String, Recovery>,
    /// Every automatic restart (a `die`, then a `start` nobody asked for).
    pub restarts: Vec<Restart>,
}

/// How the faults of one kind ended for one service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub faults: usize,
    /// After which the service never ran again in the history (policy `no`, a manual stop):
    /// left out of the distribution, which would otherwise mean nothing.
    pub not_recovered: usize,
    /// From the fault to the service's next `start`, over the faults it recovered from.
    pub time_to_recover: Option<Distribution>,
}

/// A distribution of durations, in ms. Percentiles are nearest-rank: each is one of the
/// samples, so a p99 of three samples is their maximum, as it should read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Distribution {
    /// The distribution of `samples`; `None` when there are none (or none is a number).
    pub fn of(samples: &[f64]) -> Option<Distribution> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let last = *sorted.last()?;
        let rank = |p: f64| {
            let i = (p / 100.0 * sorted.len() as f64).ceil() as usize;
            sorted[i.clamp(1, sorted.len()) - 1]
        };
        Some(Distribution {
            count: sorted.len(),
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p99_ms: rank(99.0),
            max_ms: last,
        })
    }
}

/// Milliseconds from `earlier` to `later`, below the millisecond too.
pub(crate) fn ms_between(earlier: Nanos, later: Nanos) -> f64 {
    later.0.saturating_sub(earlier.0) as f64 / 1e6
}

/// The metrics of a run: `history` as played from `scenario`, with its phases' reports, and
/// the model's replay of it (`replayed`: what each automatic restart's delay is compared with).
pub fn metrics(
    scenario: &Scenario,
    history: &History,
    phases: &[PhaseReport],
    replayed: &Replayed,
) -> Metrics {
    let first = history.entries().first().map_or(Nanos(0), |e| e.at);
    let (from, to) = window(history, phases);
    let services = scenario
        .services
        .iter()
        .map(|s| {
            let name = s.name.as_str();
            // The run's teardown (its inspections, `restart=no`, the kill of what still runs)
            // comes after the window: it is not a fault of the service.
            let faults: Vec<Fault> = faults::faults(history, name)
                .into_iter()
                .filter(|f| f.at_ms <= ms_between(first, to))
                .collect();
            let running = running_nanos(history, name, from, to);
            let length = to.0.saturating_sub(from.0);
            let service = ServiceMetrics {
                availability: (length > 0).then(|| running as f64 / length as f64),
                running_ms: running as f64 / 1e6,
                recovery: faults::by_kind(&faults),
                restarts: restarts::restarts(history, name, replayed),
                faults,
            };
            (s.name.clone(), service)
        })
        .collect();
    Metrics {
        window: Span {
            from_ms: ms_between(first, from),
            to_ms: ms_between(first, to),
        },
        services,
        detection: detection(history),
    }
}

/// From the first phase to the end of the last one (its reported duration after it began),
/// else the whole history.
fn window(history: &History, phases: &[PhaseReport]) -> (Nanos, Nanos) {
    let first = history.entries().first().map_or(Nanos(0), |e| e.at);
    let end = history.entries().last().map_or(Nanos(0), |e| e.at);
    let begun: Vec<(Nanos, &str)> = history
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Phase { name } => Some((e.at, name.as_str())),
            _ => None,
        })
        .collect();
    let Some(&(from, _)) = begun.first() else {
        return (first, end);
    };
    let to = begun.last().and_then(|&(at, name)| {
        let phase = phases.iter().rev().find(|p| p.name == name)?;
        Some(at.plus_nanos(phase.duration_ms.max(0).saturating_mul(1_000_000)))
    });
    (from, to.unwrap_or(end).min(end).max(from))
}

/// How long `service` ran between `from` and `to`, in ns: from each `start` or `unpause` to the
/// next `die`, `pause` or `destroy`, by every source (a `die` reconstructed from inspect ends a
/// run the events stream lost the end of).
fn running_nanos(history: &History, service: &str, from: Nanos, to: Nanos) -> i64 {
    let mut total: i64 = 0;
    let mut since: Option<Nanos> = None;
    for (at, action) in history.container_actions(service) {
        let running = match action {
            ContainerAction::Start | ContainerAction::Unpause => true,
            ContainerAction::Die { .. } | ContainerAction::Pause | ContainerAction::Destroy => {
                false
            }
            _ => continue,
        };
        match (since, running) {
            (None, true) => since = Some(at),
            (Some(began), false) => {
                total = total.saturating_add(overlap(began, at, from, to));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(began) = since {
        total = total.saturating_add(overlap(began, to, from, to));
    }
    total
}

/// The length of `[a, b]` within `[from, to]`, in ns.
fn overlap(a: Nanos, b: Nanos, from: Nanos, to: Nanos) -> i64 {
    b.min(to).0.saturating_sub(a.max(from).0).max(0)
}

/// The detection latency of the daemon's events, where they carry when halab saw them. Events
/// the daemon logged while it was down or restoring are left out: no stream was there to carry
/// them, and halab read them from the daemon's ring once it answered again, which measures the
/// outage, not the detection.
fn detection(history: &History) -> Option<Distribution> {
    let outages: Vec<(Nanos, Option<Nanos>)> = history
        .daemon_outages()
        .iter()
        .map(|o| (o.from, o.until))
        .collect();
    let streamed = |at: Nanos| {
        !outages
            .iter()
            .any(|&(from, until)| from <= at && until.is_none_or(|until| at <= until))
    };
    let samples: Vec<f64> = history
        .entries()
        .iter()
        .filter(|e| e.source == Source::Events && streamed(e.at))
        .filter_map(|e| Some(ms_between(e.at, e.seen?)))
        .collect();
    Distribution::of(&samples)
}

/// A duration for people: milliseconds below ten seconds, else seconds.
pub fn human_ms(ms: f64) -> String {
    if ms.abs() < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// At most this many restart delays are listed on a summary's line; the rest are in the JSON.
const LISTED_RESTARTS: usize = 6;

impl Metrics {
    /// The summary's lines: one per service, then the detection latency where it is known.
    /// Always in ms, so that the lines keep their shape from run to run (the book compares
    /// captured summaries in shape, numbers masked).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (service, m) in &self.services {
            let mut parts = vec![match m.availability {
                Some(a) => format!(
                    "up {:.1}% of {:.0} ms",
                    a * 100.0,
                    self.window.to_ms - self.window.from_ms
                ),
                None => "up -".to_owned(),
            }];
            for (kind, r) in &m.recovery {
                let mut part = format!("{kind} ×{}", r.faults);
                if let Some(d) = r.time_to_recover {
                    part.push_str(&format!(
                        " back in p50 {:.0} ms p99 {:.0} ms max {:.0} ms",
                        d.p50_ms, d.p99_ms, d.max_ms
                    ));
                }
                if r.not_recovered > 0 {
                    part.push_str(&format!(", {} not recovered", r.not_recovered));
                }
                parts.push(part);
            }
            if !m.restarts.is_empty() {
                let mut listed: Vec<String> = m
                    .restarts
                    .iter()
                    .take(LISTED_RESTARTS)
                    .map(|r| match r.expected_ms {
                        Some(e) => format!("{:.0} (model {e:.0})", r.observed_ms),
                        None => format!("{:.0} (model -)", r.observed_ms),
                    })
                    .collect();
                if m.restarts.len() > LISTED_RESTARTS {
                    listed.push("…".to_owned());
                }
                parts.push(format!(
                    "{} automatic restarts, ms: {}",
                    m.restarts.len(),
                    listed.join(", ")
                ));
            }
            out.push_str(&format!("  {service} metrics: {}\n", parts.join("; ")));
        }
        if let Some(d) = self.detection {
            out.push_str(&format!(
                "  events reached halab after p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} events)\n",
                d.p50_ms, d.p99_ms, d.max_ms, d.count
            ));
        }
        out
    }
}
