//! The pure part of the benchmark: matching a crash to the restart that follows it in a history,
//! summary statistics, and the lines the benchmark prints. No clock, no I/O: unit-tested.

use std::fmt::Write as _;

use halab_model::{ContainerAction, Entry, Happening, Nanos, Source};

/// One crash and the restart after it, as the history shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// The daemon's stamp of the `die` event.
    pub die_at: Nanos,
    /// The daemon's stamp of the `start` event that followed.
    pub start_at: Nanos,
    /// When halab recorded that `start` (host clock); `None` if it was not an event.
    pub start_seen: Option<Nanos>,
}

impl Cycle {
    /// The daemon's own die → start, in milliseconds.
    pub fn daemon_ms(&self) -> f64 {
        ms_between(self.die_at, self.start_at)
    }

    /// Die (as the daemon stamped it) → running again as halab recorded it, in milliseconds.
    pub fn halab_ms(&self) -> Option<f64> {
        self.start_seen.map(|seen| ms_between(self.die_at, seen))
    }
}

/// The first `die` of `service` stamped at or after `after`, and the first `start` after it.
/// `after` is taken on the host clock just before the crash, which the daemon shares, so the
/// crash's `die` cannot be stamped earlier.
pub fn cycle_after(entries: &[Entry], service: &str, after: Nanos) -> Option<Cycle> {
    let mut die_at = None;
    for entry in entries {
        let Happening::Container {
            service: of,
            action,
            ..
        } = &entry.what
        else {
            continue;
        };
        if of != service {
            continue;
        }
        match (die_at, action) {
            (None, ContainerAction::Die { .. }) if entry.at >= after => die_at = Some(entry.at),
            (Some(die_at), ContainerAction::Start) => {
                return Some(Cycle {
                    die_at,
                    start_at: entry.at,
                    start_seen: entry.seen,
                });
            }
            _ => {}
        }
    }
    None
}

/// The latest `start` of `service` (the daemon's stamp), if any.
pub fn last_start(entries: &[Entry], service: &str) -> Option<Nanos> {
    entries
        .iter()
        .filter(|e| {
            matches!(&e.what, Happening::Container { service: of, action: ContainerAction::Start, .. }
                if of == service)
        })
        .map(|e| e.at)
        .max()
}

/// Detection latency of every event halab recorded: `seen - at`, in milliseconds.
pub fn detection_latencies_ms(entries: &[Entry]) -> Vec<f64> {
    detection_latencies_ms_within(entries, Nanos(i64::MIN), Nanos(i64::MAX))
}

/// [`detection_latencies_ms`] of the events stamped in `from..to`.
pub fn detection_latencies_ms_within(entries: &[Entry], from: Nanos, to: Nanos) -> Vec<f64> {
    entries
        .iter()
        .filter(|e| e.source == Source::Events && e.at >= from && e.at < to)
        .filter_map(|e| e.seen.map(|seen| ms_between(e.at, seen)))
        .collect()
}

pub fn ms_between(from: Nanos, to: Nanos) -> f64 {
    (to.0 - from.0) as f64 / 1e6
}

/// The nearest-rank `p`th percentile (0 < p ≤ 100) of `values`; `None` when there are none.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// `count` events over the span from `first` to `last` (ms), per second.
pub fn rate_per_s(count: usize, span_ms: f64) -> Option<f64> {
    (span_ms > 0.0).then(|| count as f64 / (span_ms / 1000.0))
}

/// `a / b`, when both are measured and `b` is not zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

/// A ratio as the benchmark prints it: three decimals, `n/a` when it could not be measured.
pub fn format_ratio(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r.is_finite() => format!("{r:.3}"),
        _ => "n/a".to_owned(),
    }
}

/// What a line's ratio must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// At most this (a figure relative to the daemon's own, say).
    AtMost(f64),
    /// At least this.
    AtLeast(f64),
    /// Strictly below this.
    Below(f64),
    /// Shown for comparison; no target.
    Info,
}

/// How a line came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Miss,
    /// Nothing to compare: the figure could not be measured.
    NotMeasured,
    Info,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Miss => "MISS",
            Outcome::NotMeasured => "MISS (not measured)",
            Outcome::Info => "info",
        }
    }
}

/// One printed line: what was measured, the target in words, the ratio the target is on.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub figure: String,
    /// The target in words (`halab/daemon ≤ 1.05`, `p99 < 5 ms`).
    pub target_text: String,
    pub target: Target,
    pub ratio: Option<f64>,
}

impl Line {
    pub fn outcome(&self) -> Outcome {
        let Some(ratio) = self.ratio.filter(|r| r.is_finite()) else {
            return match self.target {
                Target::Info => Outcome::Info,
                _ => Outcome::NotMeasured,
            };
        };
        let met = match self.target {
            Target::AtMost(bound) => ratio <= bound,
            Target::AtLeast(bound) => ratio >= bound,
            Target::Below(bound) => ratio < bound,
            Target::Info => return Outcome::Info,
        };
        if met { Outcome::Pass } else { Outcome::Miss }
    }
}

/// The lines as a table: label, figure, target, ratio, outcome.
pub fn render_lines(lines: &[Line]) -> String {
    let width = |f: fn(&Line) -> &str| {
        lines
            .iter()
            .map(|l| f(l).chars().count())
            .max()
            .unwrap_or(0)
    };
    let (label_w, figure_w, target_w) = (
        width(|l| &l.label),
        width(|l| &l.figure),
        width(|l| &l.target_text).max("target".len()),
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<label_w$}  {:<figure_w$}  {:<target_w$}  {:>7}  result",
        "", "figure", "target", "ratio"
    );
    for line in lines {
        let _ = writeln!(
            out,
            "{:<label_w$}  {:<figure_w$}  {:<target_w$}  {:>7}  {}",
            line.label,
            line.figure,
            line.target_text,
            format_ratio(line.ratio),
            line.outcome().label()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(at: i64, seen: Option<i64>, service: &str, action: ContainerAction) -> Entry {
        Entry {
            at: Nanos(at),
            source: Source::Events,
            seen: seen.map(Nanos),
            what: Happening::Container {
                node: "lab".into(),
                service: service.into(),
                action,
            },
        }
    }

    const DIE: ContainerAction = ContainerAction::Die { exit_code: 137 };

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&values, 0.0), None);
        assert_eq!(percentile(&values, f64::NAN), None);
    }

    #[test]
    fn ratios_are_formatted_and_never_divide_by_zero() {
        assert_eq!(format_ratio(ratio(Some(1.0), Some(3.0))), "0.333");
        assert_eq!(format_ratio(ratio(Some(480.0), Some(425.0))), "1.129");
        assert_eq!(format_ratio(ratio(Some(1.0), Some(0.0))), "n/a");
        assert_eq!(format_ratio(ratio(None, Some(1.0))), "n/a");
        assert_eq!(format_ratio(Some(f64::INFINITY)), "n/a");
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0]), Some(1.5));
        assert_eq!(rate_per_s(12, 1500.0), Some(8.0));
        assert_eq!(rate_per_s(12, 0.0), None);
    }

    #[test]
    fn outcomes_follow_the_target() {
        let line = |target, ratio| Line {
            label: "x".into(),
            figure: "y".into(),
            target_text: "z".into(),
            target,
            ratio,
        };
        assert_eq!(
            line(Target::AtMost(1.05), Some(1.05)).outcome(),
            Outcome::Pass
        );
        assert_eq!(
            line(Target::AtMost(1.05), Some(1.06)).outcome(),
            Outcome::Miss
        );
        assert_eq!(
            line(Target::AtLeast(1.5), Some(1.4)).outcome(),
            Outcome::Miss
        );
        assert_eq!(line(Target::Below(1.0), Some(1.0)).outcome(), Outcome::Miss);
        assert_eq!(line(Target::Below(1.0), Some(0.2)).outcome(), Outcome::Pass);
        assert_eq!(
            line(Target::Below(1.0), None).outcome(),
            Outcome::NotMeasured
        );
        assert_eq!(line(Target::Info, Some(1.13)).outcome(), Outcome::Info);
        let table = render_lines(&[line(Target::AtLeast(0.9), Some(0.987))]);
        assert!(table.contains("0.987  PASS"), "{table}");
    }

    #[test]
    fn a_crash_is_matched_with_the_start_after_its_die() {
        let entries = vec![
            container(100, Some(101), "a", ContainerAction::Start),
            container(150, Some(151), "b", DIE),
            container(200, Some(201), "a", DIE),
            container(240, Some(243), "b", ContainerAction::Start),
            container(300, Some(302), "a", ContainerAction::Start),
        ];
        let cycle = cycle_after(&entries, "a", Nanos(190)).unwrap();
        assert_eq!(
            cycle,
            Cycle {
                die_at: Nanos(200),
                start_at: Nanos(300),
                start_seen: Some(Nanos(302)),
            }
        );
        assert_eq!(cycle_after(&entries, "a", Nanos(201)), None);
        assert_eq!(cycle_after(&entries, "c", Nanos(0)), None);
        assert_eq!(last_start(&entries, "a"), Some(Nanos(300)));
        assert_eq!(detection_latencies_ms(&entries).len(), 5);
        assert_eq!(
            detection_latencies_ms_within(&entries, Nanos(150), Nanos(300)),
            [1e-6, 1e-6, 3e-6]
        );
        let cycle = Cycle {
            die_at: Nanos(0),
            start_at: Nanos(425_000_000),
            start_seen: Some(Nanos(426_000_000)),
        };
        assert_eq!(cycle.daemon_ms(), 425.0);
        assert_eq!(cycle.halab_ms(), Some(426.0));
    }
}
