//! Checks: pure functions from a run's history to verdicts. They never look at a daemon, so they
//! are tested on hand-written histories, and a simulated run is judged exactly like a real one.

use halab_model::{ContainerAction, DaemonAction, History, Nanos};
use serde::Serialize;

use crate::scenario::{Backoff, Checks, InPhase};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The history cannot decide: something the run did not plan (the daemon lost under it)
    /// may explain what it shows. Never a pass.
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

    /// The verdict as the summary and JUnit-style reports spell it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Unknown => "UNKNOWN",
            Verdict::NotRun => "NOT RUN",
        }
    }
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
    for bound in &checks.in_phase {
        results.push(events_in_phase(s, bound));
    }
    if let Some(backoff) = &checks.backoff {
        results.push(backoff_doubles(s, backoff));
    }
    results
}

// ANCHOR: counter_matches_starts
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
// ANCHOR_END: counter_matches_starts

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
    let Some(span) = s.history.phase_span(phase) else {
        return CheckResult::not_run(NAME, format!("phase `{phase}` did not run"));
    };
    let starts = s
        .history
        .container_actions_in(s.container, 0..span.end)
        .filter(|(_, a)| matches!(a, ContainerAction::Start))
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

/// The service did `action` at least / at most so many times during a phase.
pub fn events_in_phase(s: &Subject<'_>, bound: &InPhase) -> CheckResult {
    const NAME: &str = "events-in-phase";
    let Some(span) = s.history.phase_span(&bound.phase) else {
        return CheckResult::not_run(NAME, format!("phase `{}` did not run", bound.phase));
    };
    let seen = s
        .history
        .container_actions_in(s.container, span)
        .filter(|(_, a)| a.name() == bound.action)
        .count() as u64;
    let mut expected = Vec::new();
    if let Some(n) = bound.at_least {
        expected.push(format!("at least {n}"));
    }
    if let Some(n) = bound.at_most {
        expected.push(format!("at most {n}"));
    }
    let pass = bound.at_least.is_none_or(|n| seen >= n) && bound.at_most.is_none_or(|n| seen <= n);
    CheckResult::new(
        NAME,
        pass,
        format!(
            "phase `{}`: {seen} × {} ({} expected)",
            bound.phase,
            bound.action,
            expected.join(", ")
        ),
    )
}

/// Restarts in a phase follow Docker's back-off: each delay between a `die` and the next
/// `start` is the previous one doubled, from `first_ms`, capped at one minute; a start may come
/// up to `tolerance_ms` later than its delay (the daemon's own start overhead), never earlier.
pub fn backoff_doubles(s: &Subject<'_>, backoff: &Backoff) -> CheckResult {
    const NAME: &str = "backoff-doubles";
    const CAP_MS: i64 = 60_000;
    let Some(span) = s.history.phase_span(&backoff.phase) else {
        return CheckResult::not_run(NAME, format!("phase `{}` did not run", backoff.phase));
    };
    let mut gaps = Vec::new();
    let mut last_die = None;
    for (at, action) in s.history.container_actions_in(s.container, span) {
        match action {
            ContainerAction::Die { .. } => last_die = Some(at),
            ContainerAction::Start => {
                if let Some(die) = last_die.take() {
                    gaps.push(at.millis_since(die));
                }
            }
            _ => {}
        }
    }
    if gaps.len() < 2 {
        return CheckResult::new(
            NAME,
            false,
            format!(
                "only {} restart(s) in phase `{}` to measure",
                gaps.len(),
                backoff.phase
            ),
        );
    }
    let mut expected = backoff.first_ms.min(CAP_MS);
    let mut shown = Vec::new();
    let mut pass = true;
    for gap in &gaps {
        let ok = *gap >= expected && *gap <= expected.saturating_add(backoff.tolerance_ms);
        pass &= ok;
        shown.push(format!("{gap}{} (≥{expected})", if ok { "" } else { " ✗" }));
        expected = expected.saturating_mul(2).min(CAP_MS);
    }
    CheckResult::new(
        NAME,
        pass,
        format!(
            "die→start ms: {} (tolerance +{} ms)",
            shown.join(", "),
            backoff.tolerance_ms
        ),
    )
}

/// The daemon went away only when the run asked it to. When it did not — killed from outside,
/// or crashed by itself — what followed is not what the scenario describes: this check is
/// undecided, and so is every check that would otherwise fail (the loss may be why), while
/// checks that pass still pass. `None` when nothing was lost.
pub fn daemon_not_lost(s: &Subject<'_>, results: &mut [CheckResult]) -> Option<CheckResult> {
    const NAME: &str = "daemon-not-lost";
    let lost: Vec<String> = s
        .history
        .daemon_actions()
        .filter_map(|(at, action)| match action {
            DaemonAction::Lost { pid } => Some(format!(
                "{} at +{} ms",
                pid.map_or("its events stream ended".to_owned(), |pid| format!(
                    "dockerd (pid {pid}) exited"
                )),
                ms_into_run(s, at)
            )),
            _ => None,
        })
        .collect();
    if lost.is_empty() {
        return None;
    }
    for r in results.iter_mut().filter(|r| r.verdict == Verdict::Fail) {
        r.verdict = Verdict::Unknown;
        r.detail
            .push_str(" (undecided: the daemon was lost under the run, which may be why)");
    }
    Some(CheckResult {
        name: NAME,
        verdict: Verdict::Unknown,
        detail: format!(
            "the daemon went away without halab stopping it: {}; the run cannot say what Docker would have done",
            lost.join(", ")
        ),
    })
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

    fn subject(h: &History) -> Subject<'_> {
        Subject {
            history: h,
            container: "svc",
            counter_initial: 0,
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
        let s = subject(&h);
        let checks = Checks {
            counter_matches_starts: true,
            counter_never_decreases: true,
            min_restarts: Some(("watch".into(), 1)),
            running_after_daemon_start_within_secs: Some(1.0),
            counter_frozen_while_daemon_down: true,
            in_phase: vec![
                InPhase {
                    phase: "down".into(),
                    action: "start".into(),
                    at_least: None,
                    at_most: Some(0),
                },
                InPhase {
                    phase: "up".into(),
                    action: "start".into(),
                    at_least: Some(1),
                    at_most: None,
                },
            ],
            backoff: None,
        };
        for r in run_checks(&checks, &s) {
            assert_eq!(r.verdict, Verdict::Pass, "{}: {}", r.name, r.detail);
        }
    }

    #[test]
    fn a_counter_ahead_of_the_starts_fails() {
        let h = Build(seed_run()).counter(5000, 5).0;
        let r = counter_matches_starts(&subject(&h));
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
        let r = counter_never_decreases(&subject(&h));
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.detail.contains("from 3 down to 1"), "{}", r.detail);
    }

    #[test]
    fn a_counter_moving_while_down_fails() {
        let h = Build(seed_run()).counter(3000, 9).0;
        assert_eq!(
            counter_frozen_while_daemon_down(&subject(&h)).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn a_slow_comeback_fails_its_bound() {
        let h = seed_run();
        let r = running_after_daemon_start(&subject(&h), 0.2);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.detail.contains("500 ms"), "{}", r.detail);
    }

    #[test]
    fn too_few_restarts_fail_and_a_missing_phase_is_not_run() {
        let h = seed_run();
        assert_eq!(
            min_restarts(&subject(&h), "watch", 2).verdict,
            Verdict::Fail
        );
        assert_eq!(
            min_restarts(&subject(&h), "nope", 0).verdict,
            Verdict::NotRun
        );
    }

    #[test]
    fn a_start_counted_in_the_wrong_phase_fails() {
        let h = seed_run();
        let bound = InPhase {
            phase: "watch".into(),
            action: "start".into(),
            at_least: None,
            at_most: Some(1),
        };
        let r = events_in_phase(&subject(&h), &bound);
        assert_eq!(r.verdict, Verdict::Fail, "{}", r.detail);
        assert!(r.detail.contains("2 × start"), "{}", r.detail);
    }

    #[test]
    fn the_backoff_must_double_and_never_come_early() {
        let backoff = Backoff {
            phase: "failing".into(),
            first_ms: 100,
            tolerance_ms: 300,
        };
        let run = |gaps: &[i64]| {
            let mut b = Build::new().phase(0, "failing").start(0);
            let mut t = 0;
            for gap in gaps {
                t += 10;
                b = b.at(
                    t,
                    Happening::Container {
                        container: "svc".into(),
                        action: ContainerAction::Die { exit_code: 1 },
                    },
                );
                t += gap;
                b = b.start(t);
            }
            backoff_doubles(&subject(&b.0), &backoff)
        };
        assert_eq!(run(&[350, 420, 650, 1000]).verdict, Verdict::Pass);
        assert_eq!(
            run(&[350, 150, 650]).verdict,
            Verdict::Fail,
            "a start before its back-off"
        );
        assert_eq!(
            run(&[350, 420, 1400]).verdict,
            Verdict::Fail,
            "a start far after its back-off"
        );
        assert_eq!(
            run(&[350]).verdict,
            Verdict::Fail,
            "too few restarts to judge"
        );
    }

    fn result(verdict: Verdict) -> CheckResult {
        CheckResult {
            name: "x",
            verdict,
            detail: String::new(),
        }
    }

    #[test]
    fn failures_beat_unknowns_beat_passes_and_nothing_judged_is_no_pass() {
        use Verdict::*;
        let of = |vs: &[Verdict]| Verdict::of(&vs.iter().map(|&v| result(v)).collect::<Vec<_>>());
        assert_eq!(of(&[Pass, Pass]), Pass);
        assert_eq!(of(&[Pass, NotRun]), Pass);
        assert_eq!(of(&[Pass, Unknown]), Unknown);
        assert_eq!(of(&[Unknown, Fail, Pass]), Fail);
        assert_eq!(of(&[NotRun, NotRun]), Unknown);
        assert_eq!(of(&[]), Unknown);
    }

    #[test]
    fn a_lost_daemon_makes_failures_undecided() {
        let h = Build(seed_run())
            .daemon(4800, DaemonAction::Lost { pid: Some(77) })
            .0;
        let mut results = vec![result(Verdict::Fail), result(Verdict::Pass)];
        let lost = daemon_not_lost(&subject(&h), &mut results).expect("a loss is reported");
        assert_eq!(lost.verdict, Verdict::Unknown);
        assert!(
            lost.detail.contains("dockerd (pid 77) exited at +4800 ms"),
            "{}",
            lost.detail
        );
        assert_eq!(results[0].verdict, Verdict::Unknown);
        assert_eq!(results[1].verdict, Verdict::Pass);
        assert!(daemon_not_lost(&subject(&seed_run()), &mut results).is_none());
    }

    #[test]
    fn daemon_checks_without_daemon_phases_are_not_run() {
        let h = Build::new().start(0).counter(5, 1).0;
        assert_eq!(
            counter_frozen_while_daemon_down(&subject(&h)).verdict,
            Verdict::NotRun
        );
        assert_eq!(
            running_after_daemon_start(&subject(&h), 1.0).verdict,
            Verdict::NotRun
        );
    }
}
