//! From a finished run to its report: every check of the registry (the oracle first), their
//! verdicts merged, and the numbers people read.

use halab_model::Reference;

use crate::checks::{self, Subject, Verdict};
use crate::metrics;
use crate::oracle::Slack;
use crate::report::{self, Report};
use crate::runner::Played;
use crate::scenario::Scenario;

/// Judges a played run by the model of `reference`.
pub(crate) fn judge(
    scenario: &Scenario,
    reference: Reference,
    min_late_ms: i64,
    played: Played,
) -> Report {
    let subject = Subject {
        scenario,
        history: &played.history,
        phases: &played.phases,
        live_restore: played.live_restore,
        engine: played.engine,
        reference,
        min_late_ms,
    };
    let results = checks::run_checks(&subject);
    let verdict = Verdict::of(&results);
    // The engine's own model (whatever judges) gives the back-off each restart is measured
    // against.
    let replayed = crate::oracle::replay(
        scenario,
        played.engine,
        played.live_restore,
        Reference::Engine,
        &played.history,
        crate::oracle::RestoreAt::Invoke,
    );
    let metrics = metrics::metrics(scenario, &played.history, &played.phases, &replayed);
    let services = scenario
        .services
        .iter()
        .map(|s| (s.name.clone(), report::counts(&played.history, &s.name)))
        .collect();
    Report {
        scenario: scenario.name.clone(),
        scenario_path: scenario.path.display().to_string(),
        run_id: played.run_id,
        target: played.target,
        engine: played.engine,
        live_restore: played.live_restore,
        reference,
        params: scenario.params.clone(),
        verdict,
        checks: results,
        phases: played.phases,
        services,
        timings: report::timings(&played.history),
        metrics,
        slack: Slack::from_history(&played.history).at_least(min_late_ms),
        history: played.history,
    }
}

/// The same run judged by another reference: judging is pure, so one history recorded once
/// can be judged by the engine's model, the documentation's and every mutant.
pub fn rejudge(scenario: &Scenario, report: &Report, reference: Reference) -> Report {
    let played = Played {
        run_id: report.run_id.clone(),
        target: report.target.clone(),
        live_restore: report.live_restore,
        engine: report.engine,
        phases: report.phases.clone(),
        history: report.history.clone(),
    };
    judge(scenario, reference, 0, played)
}

/// Judges a run again from what its report directory kept (see [`crate::report_dir`]): the
/// scenario as played, what was known when its daemon was ready, its history, and its phases.
/// A run that never wrote its report is `unknown` as a whole, whatever its prefix shows: the
/// history may end before what would have failed.
pub fn judge_again(loaded: crate::report_dir::Loaded) -> Report {
    let crate::report_dir::Loaded {
        scenario,
        started,
        history,
        finished,
        phases,
        torn_line,
    } = loaded;
    let started = started.unwrap_or_else(|| crate::runner::Started {
        run_id: "(killed before its daemon was ready)".into(),
        target: report::TargetInfo {
            kind: "unknown".into(),
            name: String::new(),
            docker_host: String::new(),
            engine_version: String::new(),
        },
        engine: halab_model::EngineVersion::V20_10,
        live_restore: scenario.live_restore,
    });
    let played = Played {
        run_id: started.run_id,
        target: started.target,
        live_restore: started.live_restore,
        engine: started.engine,
        phases,
        history,
    };
    let entries = played.history.entries().len();
    let begun = played.phases.len();
    let mut report = judge(&scenario, Reference::Engine, 0, played);
    if !finished {
        // The phases are read off the prefix: none refused is not every one completed.
        for check in report
            .checks
            .iter_mut()
            .filter(|c| c.name == "phases-completed" && c.verdict == Verdict::Pass)
        {
            check.verdict = Verdict::Unknown;
            check.detail = format!(
                "{begun} of {} phases begun and none refused; the run ended before it could say whether they completed",
                scenario.phases.len()
            );
        }
        report.checks.insert(
            0,
            checks::CheckResult::new(
                "run-finished",
                "run",
                Verdict::Unknown,
                format!(
                    "the run ended before it wrote its report (killed?): its history is a prefix of \
                     {entries} entries{}, and what came after it is unknown",
                    if torn_line { " and a torn last line" } else { "" }
                ),
            ),
        );
        report.verdict = Verdict::of(&report.checks);
    }
    report
}
