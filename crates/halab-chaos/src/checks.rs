//! Checks: pure functions from a run's history to verdicts. They never look at a daemon, so they
//! are tested on hand-written histories, and a simulated run is judged exactly like a real one.

use halab_model::{DaemonAction, History, Nanos};
use serde::Serialize;

use crate::scenario::Checks;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The run did not contain what the check needs (for example, daemon phases were skipped).
    NotRun,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    pub verdict: Verdict,
    /// What was measured, in numbers, whatever the verdict.
    pub detail: String,
}

impl CheckResult {
    fn new(name: &'static str, pass: bool, detail: String) -> CheckResult {
        let verdict = if pass { Verdict::Pass } else { Verdict::Fail };
        CheckResult {
            name,
            verdict,
            detail,
        }
    }

    fn not_run(name: &'static str, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            name,
            verdict: Verdict::NotRun,
            detail: detail.into(),
        }
    }
}

/// What the checks need besides the history.
pub struct Subject<'a> {
    pub history: &'a History,
    /// The service container's name.
    pub container: &'a str,
    /// The counter's value before the service first ran.
    pub counter_initial: u64,
    /// The names of the scenario's phases, in order (to find where each ends).
    pub phases: &'a [String],
}

/// Runs every check the scenario asks for.
pub fn run_checks(checks: &Checks, s: &Subject<'_>) -> Vec<CheckResult> {
    let mut results = Vec::new();
    if checks.counter_matches_starts {
        results.push(counter_matches_starts(s));
    }
    if checks.counter_never_decreases {
        results.push(counter_never_decreases(s));
    }
    if let Some((phase, count)) = &checks.min_restarts {
        results.push(min_restarts(s, phase, *count));
    }
    if let Some(within) = checks.running_after_daemon_start_within_secs {
        results.push(running_after_daemon_start(s, within));
    }
    if checks.counter_frozen_while_daemon_down {
        results.push(counter_frozen_while_daemon_down(s));
    }
    results
}

/// Every start of the service increments the counter exactly once: nothing lost, nothing
/// counted twice.
pub fn counter_matches_starts(s: &Subject<'_>) -> CheckResult {
    const NAME: &str = "counter-matches-starts";
    let starts = s.history.starts(s.container).count() as u64;
    let Some((_, last)) = s.history.counter_readings().last() else {
        return CheckResult::new(NAME, false, "the counter was never read".into());
    };
    let increments = last.saturating_sub(s.counter_initial);
    let detail = match increments.cmp(&starts) {
        std::cmp::Ordering::Equal => format!("counter {last} = {starts} starts observed"),
        std::cmp::Ordering::Greater => format!(
            "counter went up by {increments} but the service started {starts} times: {} increments with no start",
            increments - starts
        ),
        std::cmp::Ordering::Less => format!(
            "counter went up by {increments} but the service started {starts} times: {} starts left no increment",
            starts - increments
        ),
    };
    CheckResult::new(NAME, increments == starts, detail)
}

/// The counter never goes down.
pub fn counter_never_decreases(s: &Subject<'_>) -> CheckResult {
    const NAME: &str = "counter-never-decreases";
    let readings: Vec<(Nanos, u64)> = s.history.counter_readings().collect();
    let first_drop = readings.windows(2).find(|w| w[1].1 < w[0].1);
    match first_drop {
        Some(w) => CheckResult::new(
            NAME,
            false,
            format!(
                "counter went from {} down to {} (at +{} ms)",
                w[0].1,
                w[1].1,
                ms_into_run(s, w[1].0)
            ),
        ),
        None => CheckResult::new(
            NAME,
            true,
            format!(
                "{} readings, none lower than the one before",
                readings.len()
            ),
        ),
    }
}

/// The service was restarted at least `count` times by the end of `phase`.
pub fn min_restarts(s: &Subject<'_>, phase: &str, count: u64) -> CheckResult {
    const NAME: &str = "restarts-happen";
    let Some(end) = phase_end(s, phase) else {
        return CheckResult::not_run(NAME, format!("phase `{phase}` did not run"));
    };
    let starts = s
        .history
        .starts(s.container)
        .filter(|&at| at <= end)
        .count() as u64;
    let restarts = starts.saturating_sub(1);
    CheckResult::new(
        NAME,
        restarts >= count,
        format!("{restarts} restarts by the end of phase `{phase}` (at least {count} expected)"),
    )
}

/// After each daemon start, the service runs again within `within_secs`.
pub fn running_after_daemon_start(s: &Subject<'_>, within_secs: f64) -> CheckResult {
    const NAME: &str = "running-after-daemon-start";
    let starts: Vec<Nanos> = daemon_times(s, DaemonAction::StartRequested);
    if starts.is_empty() {
        return CheckResult::not_run(
            NAME,
            "the daemon was not started during the run (daemon phases skipped?)",
        );
    }
    let bound_ms = (within_secs * 1000.0).round() as i64;
    let mut delays = Vec::new();
    for daemon_start in starts {
        match s.history.starts(s.container).find(|&at| at >= daemon_start) {
            Some(at) => delays.push(at.millis_since(daemon_start)),
            None => {
                return CheckResult::new(
                    NAME,
                    false,
                    "the service did not start again after the daemon started".into(),
                );
            }
        }
    }
    let worst = delays.iter().copied().max().unwrap_or(0);
    let listed: Vec<String> = delays.iter().map(|d| format!("{d} ms")).collect();
    CheckResult::new(
        NAME,
        worst <= bound_ms,
        format!(
            "running again {} after the daemon was started (bound {bound_ms} ms)",
            listed.join(", ")
        ),
    )
}

/// While the daemon is down, nothing of the service runs: the counter stands still.
pub fn counter_frozen_while_daemon_down(s: &Subject<'_>) -> CheckResult {
    const NAME: &str = "counter-frozen-while-daemon-down";
    let stopped = daemon_times(s, DaemonAction::Stopped);
    if stopped.is_empty() {
        return CheckResult::not_run(
            NAME,
            "the daemon was not stopped during the run (daemon phases skipped?)",
        );
    }
    let restarted = daemon_times(s, DaemonAction::StartRequested);
    let mut held = Vec::new();
    for down in stopped {
        let up = restarted
            .iter()
            .copied()
            .find(|&t| t >= down)
            .unwrap_or(Nanos(i64::MAX));
        let during: Vec<u64> = s
            .history
            .counter_readings()
            .filter(|&(at, _)| at >= down && at <= up)
            .map(|(_, v)| v)
            .collect();
        let (Some(first), Some(last)) = (during.first(), during.last()) else {
            return CheckResult::new(
                NAME,
                false,
                "the counter was not read while the daemon was down".into(),
            );
        };
        if during.iter().any(|v| v != first) {
            return CheckResult::new(
                NAME,
                false,
                format!("the counter moved from {first} to {last} while the daemon was down"),
            );
        }
        let held_ms = up
            .min(crate::report::history_end(s.history))
            .millis_since(down);
        held.push(format!(
            "{first} for {held_ms} ms ({} readings)",
            during.len()
        ));
    }
    CheckResult::new(NAME, true, format!("counter held at {}", held.join(", ")))
}

/// Every phase got what it waited for (for example the starts it waited for, within its timeout).
pub fn phases_completed(problems: &[String]) -> CheckResult {
    const NAME: &str = "phases-completed";
    if problems.is_empty() {
        CheckResult::new(NAME, true, "every phase completed".into())
    } else {
        CheckResult::new(NAME, false, problems.join("; "))
    }
}

fn daemon_times(s: &Subject<'_>, which: DaemonAction) -> Vec<Nanos> {
    s.history
        .daemon_actions()
        .filter(|&(_, a)| a == which)
        .map(|(at, _)| at)
        .collect()
}

/// When a phase ended: when the next one began, or the end of the history.
fn phase_end(s: &Subject<'_>, phase: &str) -> Option<Nanos> {
    s.history.phase_start(phase)?;
    let i = s.phases.iter().position(|p| p == phase)?;
    let next = s.phases[i + 1..]
        .iter()
        .find_map(|p| s.history.phase_start(p));
    Some(next.unwrap_or_else(|| crate::report::history_end(s.history)))
}

fn ms_into_run(s: &Subject<'_>, at: Nanos) -> i64 {
    s.history
        .entries()
        .first()
        .map_or(0, |first| at.millis_since(first.at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use halab_model::{ContainerAction, Happening, Source};

    struct Build(History);

    impl Build {
        fn new() -> Build {
            Build(History::new())
        }
        fn at(mut self, ms: i64, what: Happening) -> Build {
            self.0.record(halab_model::Entry {
                at: Nanos::from_millis(ms),
                source: Source::Events,
                what,
            });
            self
        }
        fn start(self, ms: i64) -> Build {
            self.at(
                ms,
                Happening::Container {
                    container: "svc".into(),
                    action: ContainerAction::Start,
                },
            )
        }
        fn counter(self, ms: i64, value: u64) -> Build {
            self.at(ms, Happening::Counter { value })
        }
        fn daemon(self, ms: i64, action: DaemonAction) -> Build {
            self.at(ms, Happening::Daemon { action })
        }
        fn phase(self, ms: i64, name: &str) -> Build {
            self.at(ms, Happening::Phase { name: name.into() })
        }
    }

    fn subject<'a>(h: &'a History, phases: &'a [String]) -> Subject<'a> {
        Subject {
            history: h,
            container: "svc",
            counter_initial: 0,
            phases,
        }
    }

    fn seed_run() -> History {
        Build::new()
            .phase(0, "watch")
            .start(10)
            .counter(20, 1)
            .start(1100)
            .counter(1120, 2)
            .phase(2000, "down")
            .daemon(2100, DaemonAction::Stopped)
            .counter(2200, 2)
            .counter(4000, 2)
            .phase(4100, "up")
            .daemon(4100, DaemonAction::StartRequested)
            .start(4600)
            .counter(4700, 3)
            .0
    }

    #[test]
    fn a_faithful_run_passes_everything() {
        let h = seed_run();
        let phases = ["watch".to_owned(), "down".to_owned(), "up".to_owned()];
        let s = subject(&h, &phases);
        let checks = Checks {
            counter_matches_starts: true,
            counter_never_decreases: true,
            min_restarts: Some(("watch".into(), 1)),
            running_after_daemon_start_within_secs: Some(1.0),
            counter_frozen_while_daemon_down: true,
        };
        for r in run_checks(&checks, &s) {
            assert_eq!(r.verdict, Verdict::Pass, "{}: {}", r.name, r.detail);
        }
    }

    #[test]
    fn a_counter_ahead_of_the_starts_fails() {
        let h = Build(seed_run()).counter(5000, 5).0;
        let r = counter_matches_starts(&subject(&h, &[]));
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(
            r.detail.contains("2 increments with no start"),
            "{}",
            r.detail
        );
    }

    #[test]
    fn a_counter_going_down_fails() {
        let h = Build(seed_run()).counter(5000, 1).0;
        let r = counter_never_decreases(&subject(&h, &[]));
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.detail.contains("from 3 down to 1"), "{}", r.detail);
    }

    #[test]
    fn a_counter_moving_while_down_fails() {
        let h = Build(seed_run()).counter(3000, 9).0;
        assert_eq!(
            counter_frozen_while_daemon_down(&subject(&h, &[])).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn a_slow_comeback_fails_its_bound() {
        let h = seed_run();
        let r = running_after_daemon_start(&subject(&h, &[]), 0.2);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.detail.contains("500 ms"), "{}", r.detail);
    }

    #[test]
    fn too_few_restarts_fail_and_a_missing_phase_is_not_run() {
        let h = seed_run();
        let phases = ["watch".to_owned(), "down".to_owned(), "up".to_owned()];
        assert_eq!(
            min_restarts(&subject(&h, &phases), "watch", 2).verdict,
            Verdict::Fail
        );
        assert_eq!(
            min_restarts(&subject(&h, &phases), "nope", 0).verdict,
            Verdict::NotRun
        );
    }

    #[test]
    fn daemon_checks_without_daemon_phases_are_not_run() {
        let h = Build::new().start(0).counter(5, 1).0;
        assert_eq!(
            counter_frozen_while_daemon_down(&subject(&h, &[])).verdict,
            Verdict::NotRun
        );
        assert_eq!(
            running_after_daemon_start(&subject(&h, &[]), 1.0).verdict,
            Verdict::NotRun
        );
    }
}
