//! The counter's integrity, service by service: the seed's own question — did every start
//! count, once, and did the count ever go back or move while the daemon was down?

use halab_model::Nanos;

use super::{Check, CheckResult, Subject};

/// The services whose program counts its starts.
fn counting<'a>(run: &'a Subject<'_>) -> impl Iterator<Item = &'a crate::scenario::Service> {
    run.scenario.services.iter().filter(|s| s.counts())
}

/// A run the harness itself ended this soon after its start (a kill, a stop) may not have
/// written its increment yet: that is the harness's timing, not the daemon's doing.
const CUT_SHORT_MS: i64 = 200;

/// How many of `service`'s starts the harness cut short (see [`CUT_SHORT_MS`]).
fn cut_short(run: &Subject<'_>, service: &str) -> u64 {
    let ends: Vec<Nanos> = run
        .history
        .op_spans()
        .iter()
        .filter(|s| s.op.service() == Some(service) && s.op.acts())
        .map(|s| s.invoked)
        .collect();
    run.history
        .starts(service)
        .filter(|&start| {
            ends.iter()
                .any(|&op| op >= start && op.millis_since(start) < CUT_SHORT_MS)
        })
        .count() as u64
}

// ANCHOR: counter_matches_starts
/// Every start of the service increments the counter exactly once: nothing lost, nothing
/// counted twice (a start the harness itself ended at once may have had no time to count).
pub struct CounterMatchesStarts;

impl Check for CounterMatchesStarts {
    fn judge(&self, run: &Subject<'_>) -> Vec<CheckResult> {
        const NAME: &str = "counter-matches-starts";
        counting(run)
            .map(|s| {
                let starts = run.history.start_count(&s.name) as u64;
                let Some((_, last)) = run.history.counter_readings(&s.name).last() else {
                    return CheckResult::passes(NAME, &s.name, false, "the counter was never read".into());
                };
                let increments = last.saturating_sub(s.counter_initial);
                let cut = cut_short(run, &s.name);
                if increments < starts && increments + cut >= starts {
                    return CheckResult::passes(
                        NAME,
                        &s.name,
                        true,
                        format!(
                            "counter {last}: {starts} starts observed, {} of them ended by halab within {CUT_SHORT_MS} ms, before they could count",
                            starts - increments
                        ),
                    )
                    .fact("counter", last)
                    .fact("starts", starts)
                    .fact("cut_short", cut);
                }
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
                CheckResult::passes(NAME, &s.name, increments == starts, detail)
                    .fact("counter", last)
                    .fact("increments", increments)
                    .fact("starts", starts)
            })
            .collect()
    }
}
// ANCHOR_END: counter_matches_starts

/// The counter never goes down.
pub struct CounterNeverDecreases;

impl Check for CounterNeverDecreases {
    fn judge(&self, run: &Subject<'_>) -> Vec<CheckResult> {
        const NAME: &str = "counter-never-decreases";
        counting(run)
            .map(|s| {
                let readings: Vec<(Nanos, u64)> = run.history.counter_readings(&s.name).collect();
                match readings.windows(2).find(|w| w[1].1 < w[0].1) {
                    Some(w) => CheckResult::passes(
                        NAME,
                        &s.name,
                        false,
                        format!(
                            "counter went from {} down to {} (at +{} ms)",
                            w[0].1,
                            w[1].1,
                            run.ms(w[1].0)
                        ),
                    )
                    .fact("from", w[0].1)
                    .fact("to", w[1].1),
                    None => CheckResult::passes(
                        NAME,
                        &s.name,
                        true,
                        format!(
                            "{} readings, none lower than the one before",
                            readings.len()
                        ),
                    )
                    .fact("readings", readings.len()),
                }
            })
            .collect()
    }
}

/// While the daemon is down, nothing of the service runs: the counter stands still (without
/// live-restore; with it, the service keeps running, and this check has nothing to say).
pub struct CounterFrozenWhileDaemonDown;

impl Check for CounterFrozenWhileDaemonDown {
    fn judge(&self, run: &Subject<'_>) -> Vec<CheckResult> {
        const NAME: &str = "counter-frozen-while-daemon-down";
        let outages: Vec<(Nanos, Nanos)> = run
            .history
            .daemon_outages()
            .iter()
            .filter(|o| !o.lost)
            .filter_map(|o| {
                Some((
                    o.down_at?,
                    o.start_asked.or(o.until).unwrap_or(Nanos(i64::MAX)),
                ))
            })
            .collect();
        counting(run)
            .map(|s| {
                if outages.is_empty() {
                    return CheckResult::not_run(
                        NAME,
                        &s.name,
                        "the daemon was not stopped during the run (daemon phases skipped?)",
                    );
                }
                let mut held = Vec::new();
                for &(down, up) in &outages {
                    let during: Vec<u64> = run
                        .history
                        .counter_readings(&s.name)
                        .filter(|&(at, _)| at >= down && at <= up)
                        .map(|(_, v)| v)
                        .collect();
                    let (Some(first), Some(last)) = (during.first(), during.last()) else {
                        return CheckResult::passes(
                            NAME,
                            &s.name,
                            false,
                            "the counter was not read while the daemon was down".into(),
                        );
                    };
                    if during.iter().any(|v| v != first) {
                        return CheckResult::passes(
                            NAME,
                            &s.name,
                            false,
                            format!(
                                "the counter moved from {first} to {last} while the daemon was down"
                            ),
                        );
                    }
                    let end = run.history.entries().last().map_or(up, |e| e.at).min(up);
                    let n = during.len();
                    held.push(format!(
                        "{first} for {} ms ({n} reading{})",
                        end.millis_since(down),
                        if n == 1 { "" } else { "s" }
                    ));
                }
                CheckResult::passes(
                    NAME,
                    &s.name,
                    true,
                    format!("counter held at {}", held.join(", ")),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Verdict;
    use crate::checks::build::Build;
    use crate::scenario::tests::one_service;
    use halab_model::{DaemonOp, History};

    fn seed_run() -> History {
        Build::new()
            .phase(0, "watch")
            .start(10)
            .counter(20, 1)
            .start(1100)
            .counter(1120, 2)
            .phase(2000, "down")
            .daemon(2000, 2100, DaemonOp::Stop)
            .counter(2200, 2)
            .counter(4000, 2)
            .phase(4100, "up")
            .daemon(4100, 4500, DaemonOp::Start)
            .start(4600)
            .counter(4700, 3)
            .0
    }

    fn judge(check: &dyn Check, h: &History) -> CheckResult {
        let scenario = one_service();
        let run = Subject {
            scenario: &scenario,
            history: h,
            phases: &[],
            live_restore: false,
            engine: halab_model::EngineVersion::V20_10,
            reference: halab_model::Reference::Engine,
            min_late_ms: 0,
        };
        check.judge(&run).remove(0)
    }

    #[test]
    fn a_faithful_run_passes() {
        let h = seed_run();
        for check in [
            &CounterMatchesStarts as &dyn Check,
            &CounterNeverDecreases,
            &CounterFrozenWhileDaemonDown,
        ] {
            let r = judge(check, &h);
            assert_eq!(r.verdict, Verdict::Pass, "{}: {}", r.name, r.detail);
        }
    }

    #[test]
    fn a_counter_ahead_of_the_starts_fails() {
        let h = Build(seed_run(), 200).counter(5000, 5).0;
        let r = judge(&CounterMatchesStarts, &h);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(
            r.detail.contains("2 increments with no start"),
            "{}",
            r.detail
        );
        assert_eq!(r.facts["starts"], 3);
    }

    #[test]
    fn a_counter_going_down_fails() {
        let h = Build(seed_run(), 200).counter(5000, 1).0;
        let r = judge(&CounterNeverDecreases, &h);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.detail.contains("from 3 down to 1"), "{}", r.detail);
    }

    #[test]
    fn a_counter_moving_while_down_fails() {
        let h = Build(seed_run(), 200).counter(3000, 9).0;
        assert_eq!(
            judge(&CounterFrozenWhileDaemonDown, &h).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn without_daemon_phases_the_frozen_check_is_not_run() {
        let h = Build::new().start(0).counter(5, 1).0;
        assert_eq!(
            judge(&CounterFrozenWhileDaemonDown, &h).verdict,
            Verdict::NotRun
        );
    }
}
