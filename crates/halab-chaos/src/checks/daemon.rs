//! The run's own health and the bounds a user promises about the daemon: services back within
//! a time after each daemon start, every phase completed, the daemon never lost under the run.

use halab_model::{DaemonAction, DaemonOp, Nanos};

use super::{Check, CheckResult, Subject, Verdict};

/// After each daemon start, the service runs again within `within_secs` — a bound the user
/// promises, on top of the oracle's.
pub struct RunningAfterDaemonStart {
    pub within_secs: f64,
    /// The service it is about; every service when `None`.
    pub service: Option<String>,
}

impl Check for RunningAfterDaemonStart {
    fn judge(&self, run: &Subject<'_>) -> Vec<CheckResult> {
        const NAME: &str = "running-after-daemon-start";
        let starts: Vec<Nanos> = run
            .history
            .op_spans()
            .iter()
            .filter(|s| s.daemon_op() == Some(DaemonOp::Start) && s.is_ok())
            // The run's first start of its own lab comes before any service exists.
            .filter(|s| {
                run.history.entries()[..s.position]
                    .iter()
                    .any(|e| matches!(e.what, halab_model::Happening::Container { .. }))
            })
            .map(|s| s.invoked)
            .collect();
        let bound_ms = (self.within_secs * 1000.0).round() as i64;
        run.scenario
            .services
            .iter()
            .filter(|s| self.service.as_ref().is_none_or(|only| *only == s.name))
            .map(|s| {
                if starts.is_empty() {
                    return CheckResult::not_run(
                        NAME,
                        &s.name,
                        "the daemon was not started during the run (daemon phases skipped?)",
                    );
                }
                let mut delays = Vec::new();
                for &daemon_start in &starts {
                    match run.history.starts(&s.name).find(|&at| at >= daemon_start) {
                        Some(at) => delays.push(at.millis_since(daemon_start)),
                        None => {
                            return CheckResult::passes(
                                NAME,
                                &s.name,
                                false,
                                "the service did not start again after the daemon started".into(),
                            );
                        }
                    }
                }
                let worst = delays.iter().copied().max().unwrap_or(0);
                let listed: Vec<String> = delays.iter().map(|d| format!("{d} ms")).collect();
                CheckResult::passes(
                    NAME,
                    &s.name,
                    worst <= bound_ms,
                    format!(
                        "running again {} after the daemon was started (bound {bound_ms} ms)",
                        listed.join(", ")
                    ),
                )
                .fact("delays_ms", &delays)
                .fact("bound_ms", bound_ms)
            })
            .collect()
    }
}

/// Every phase got what it waited for and could do what it did.
pub struct PhasesCompleted;

impl Check for PhasesCompleted {
    fn judge(&self, run: &Subject<'_>) -> Vec<CheckResult> {
        const NAME: &str = "phases-completed";
        let problems: Vec<String> = run
            .phases
            .iter()
            .filter_map(|p| Some(format!("{}: {}", p.name, p.problem.as_ref()?)))
            .collect();
        let result = if problems.is_empty() {
            CheckResult::passes(NAME, "run", true, "every phase completed".into())
        } else {
            CheckResult::passes(NAME, "run", false, problems.join("; "))
        };
        vec![result.fact("problems", &problems)]
    }
}

/// The daemon went away only when the run asked it to. When it did not — killed from outside,
/// or crashed by itself — what followed is not what the scenario describes: this check is
/// undecided, and so is every check that would otherwise fail (the loss may be why), while
/// checks that pass still pass.
pub struct DaemonNotLost;

impl DaemonNotLost {
    /// The check's result, if the daemon was lost; `results` have their failures made undecided.
    pub fn judge_with(run: &Subject<'_>, results: &mut [CheckResult]) -> Option<CheckResult> {
        const NAME: &str = "daemon-not-lost";
        let lost: Vec<(i64, Option<u32>)> = run
            .history
            .daemon_actions()
            .filter_map(|(at, action)| match action {
                DaemonAction::Lost { pid } => Some((run.ms(at), pid)),
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
        let said: Vec<String> = lost
            .iter()
            .map(|(ms, pid)| {
                format!(
                    "{} at +{ms} ms",
                    pid.map_or("its events stream ended".to_owned(), |pid| format!(
                        "dockerd (pid {pid}) exited"
                    ))
                )
            })
            .collect();
        Some(
            CheckResult::new(
                NAME,
                "daemon",
                Verdict::Unknown,
                format!(
                    "the daemon went away without halab stopping it: {}; the run cannot say what Docker would have done",
                    said.join(", ")
                ),
            )
            .fact("lost_at_ms", lost.iter().map(|(ms, _)| *ms).collect::<Vec<_>>())
            .fact("pids", lost.iter().map(|(_, pid)| *pid).collect::<Vec<_>>()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::build::Build;
    use crate::scenario::tests::one_service;
    use halab_model::{Happening, History};

    fn run_of<'a>(scenario: &'a crate::scenario::Scenario, h: &'a History) -> Subject<'a> {
        Subject {
            scenario,
            history: h,
            phases: &[],
            live_restore: false,
            engine: halab_model::EngineVersion::V20_10,
            reference: halab_model::Reference::Engine,
            min_late_ms: 0,
        }
    }

    fn seed_run() -> History {
        Build::new()
            .start(10)
            .daemon(2000, 2100, DaemonOp::Stop)
            .daemon(4100, 4500, DaemonOp::Start)
            .start(4600)
            .0
    }

    #[test]
    fn a_slow_comeback_fails_its_bound() {
        let scenario = one_service();
        let h = seed_run();
        let check = RunningAfterDaemonStart {
            within_secs: 0.2,
            service: None,
        };
        let r = check.judge(&run_of(&scenario, &h)).remove(0);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.detail.contains("500 ms"), "{}", r.detail);
        let ok = RunningAfterDaemonStart {
            within_secs: 1.0,
            service: None,
        };
        assert_eq!(ok.judge(&run_of(&scenario, &h))[0].verdict, Verdict::Pass);
    }

    #[test]
    fn a_lost_daemon_makes_failures_undecided() {
        let scenario = one_service();
        let h = Build(seed_run(), 200)
            .at(
                4800,
                Happening::Daemon {
                    node: "lab".into(),
                    action: DaemonAction::Lost { pid: Some(77) },
                },
            )
            .0;
        let mut results = vec![
            CheckResult::new("x", "svc", Verdict::Fail, String::new()),
            CheckResult::new("y", "svc", Verdict::Pass, String::new()),
        ];
        let lost = DaemonNotLost::judge_with(&run_of(&scenario, &h), &mut results)
            .expect("a loss is reported");
        assert_eq!(lost.verdict, Verdict::Unknown);
        assert!(
            lost.detail.contains("dockerd (pid 77) exited at +4790 ms"),
            "{}",
            lost.detail
        );
        assert_eq!(results[0].verdict, Verdict::Unknown);
        assert_eq!(results[1].verdict, Verdict::Pass);
        assert!(DaemonNotLost::judge_with(&run_of(&scenario, &seed_run()), &mut results).is_none());
    }

    #[test]
    fn failures_beat_unknowns_beat_passes_and_nothing_judged_is_no_pass() {
        use Verdict::*;
        let of = |vs: &[Verdict]| {
            Verdict::of(
                &vs.iter()
                    .map(|&v| CheckResult::new("x", "svc", v, String::new()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(of(&[Pass, Pass]), Pass);
        assert_eq!(of(&[Pass, NotRun]), Pass);
        assert_eq!(of(&[Pass, Unknown]), Unknown);
        assert_eq!(of(&[Unknown, Fail, Pass]), Fail);
        assert_eq!(of(&[NotRun, NotRun]), Unknown);
        assert_eq!(of(&[]), Unknown);
    }
}
