//! From a finished run to its report: every check of the registry (the oracle first), their
//! verdicts merged, and the numbers people read.

use halab_model::Mutant;

use crate::checks::{self, Subject, Verdict};
use crate::oracle::Slack;
use crate::report::{self, Report};
use crate::runner::Played;
use crate::scenario::Scenario;

/// Judges a played run (with a wrong model, when `mutant` says so).
pub(crate) fn judge(scenario: &Scenario, mutant: Option<Mutant>, played: Played) -> Report {
    let subject = Subject {
        scenario,
        history: &played.history,
        phases: &played.phases,
        live_restore: played.live_restore,
        engine: played.engine,
        mutant,
    };
    let results = checks::run_checks(&subject);
    let verdict = Verdict::of(&results);
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
        params: scenario.params.clone(),
        verdict,
        checks: results,
        phases: played.phases,
        services,
        timings: report::timings(&played.history),
        slack: Slack::from_history(&played.history),
        history: played.history,
    }
}
