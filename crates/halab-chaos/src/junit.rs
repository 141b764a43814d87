//! A run's result as JUnit XML, for CI systems that show test results: the run is one test
//! suite named after its scenario, each property or check of the report one test case (class
//! name its subject — a service, `daemon`, `run` — name the check's).

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use crate::checks::{CheckResult, Evidence, Mark, Verdict};
use crate::report::Report;

/// The report as a JUnit XML document. Never fails: should the serializer refuse (it cannot
/// for the strings it is given, which it cleans of what XML may not hold), a document with the
/// run's verdict alone is returned, so that CI still sees a result.
pub fn junit(report: &Report) -> String {
    let mut suite = TestSuite::new(report.scenario.as_str());
    suite.add_property(Property::new("run-id", report.run_id.as_str()));
    suite.add_property(Property::new("target", report.target.kind.as_str()));
    suite.add_property(Property::new(
        "engine",
        report.target.engine_version.as_str(),
    ));
    suite.add_property(Property::new("verdict", report.verdict.label()));
    for (key, value) in &report.params {
        suite.add_property(Property::new(format!("param.{key}"), value.as_str()));
    }
    suite.set_time(std::time::Duration::from_millis(
        u64::try_from(report.timings.total_ms).unwrap_or(0),
    ));
    suite.add_test_cases(report.checks.iter().map(case));
    let mut doc = quick_junit::Report::new(format!("halab {}", report.scenario));
    doc.add_test_suite(suite);
    doc.to_string().unwrap_or_else(|e| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"halab\" tests=\"0\" failures=\"0\" errors=\"1\"><!-- {} --></testsuites>\n",
            e.to_string().replace("--", "- -")
        )
    })
}

fn case(check: &CheckResult) -> TestCase {
    let status = match check.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(check.detail.as_str())
                .set_type("halab.fail")
                .set_description(evidence_text(check));
            s
        }
        // JUnit knows pass, failure, error and skipped. `unknown` is none of them: the history
        // cannot decide, which is neither a failure of the daemon (failure) nor of halab
        // (error). Skipped is the nearest — not judged — and CI shows a skip as something to
        // look at, not as green; the message says it was unknown and why.
        Verdict::Unknown => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("unknown: {}", check.detail))
                .set_type("halab.unknown")
                .set_description(evidence_text(check));
            s
        }
        Verdict::NotRun => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("not run: {}", check.detail))
                .set_type("halab.not-run");
            s
        }
    };
    let mut case = TestCase::new(check.name, status);
    case.set_classname(check.subject.as_str());
    if check.verdict == Verdict::Pass {
        case.set_system_out(check.detail.as_str());
    }
    case
}

/// The check's detail, then each piece of evidence with the points of the run it names.
fn evidence_text(check: &CheckResult) -> String {
    let mut out = check.detail.clone();
    for e in &check.evidence {
        out.push_str("\n- ");
        out.push_str(&evidence_line(e));
    }
    out
}

/// One piece of evidence in a line: what, then observed / predicted / the operation.
pub(crate) fn evidence_line(e: &Evidence) -> String {
    let mut line = e.what.clone();
    let mark = |label: &str, m: &Option<Mark>| {
        m.as_ref()
            .map(|m| format!("; {label} {} at {} ms", m.text, m.at_ms))
    };
    for part in [
        mark("observed", &e.observed),
        mark("predicted", &e.predicted),
        mark("after", &e.op),
    ]
    .into_iter()
    .flatten()
    {
        line.push_str(&part);
    }
    line
}

#[cfg(test)]
mod tests {
    use quick_junit::{NonSuccessKind, TestCaseStatus};

    use super::*;
    use crate::checks::{CheckResult, Evidence, Mark};
    use crate::testing::simulated;

    #[test]
    fn a_test_case_per_check_and_a_failure_for_a_failing_one() {
        let (_, mut report) = simulated("kill-vs-crash");
        let passing = report.checks.len();
        report.checks.push(
            CheckResult::new(
                "events",
                "critical",
                Verdict::Fail,
                "a <start> the model does not predict & more".into(),
            )
            .with_evidence(vec![Evidence {
                what: "an extra start".into(),
                observed: Some(Mark {
                    at_ms: 1234,
                    position: Some(7),
                    text: "start".into(),
                }),
                predicted: None,
                op: None,
            }]),
        );
        report.checks.push(CheckResult::new(
            "final-state",
            "critical",
            Verdict::Unknown,
            "the daemon was lost\u{1b}[31m".into(),
        ));
        let xml = junit(&report);
        let parsed = quick_junit::Report::deserialize_from_str(&xml)
            .unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        assert_eq!(parsed.test_suites.len(), 1);
        let suite = &parsed.test_suites[0];
        assert_eq!(suite.name.as_str(), "kill-vs-crash");
        assert_eq!(suite.test_cases.len(), passing + 2, "{xml}");
        for (case, check) in suite.test_cases.iter().zip(&report.checks) {
            assert_eq!(case.name.as_str(), check.name);
            assert_eq!(
                case.classname.as_ref().map(|c| c.as_str()),
                Some(check.subject.as_str())
            );
        }
        assert!(
            suite.test_cases[..passing]
                .iter()
                .all(|c| matches!(c.status, TestCaseStatus::Success { .. }))
        );
        match &suite.test_cases[passing].status {
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                message,
                description,
                ..
            } => {
                assert_eq!(
                    message.as_ref().map(|m| m.as_str()),
                    Some("a <start> the model does not predict & more")
                );
                let text = description.as_ref().map(|d| d.as_str()).unwrap_or("");
                assert!(
                    text.contains("an extra start; observed start at 1234 ms"),
                    "{text}"
                );
            }
            other => panic!("not a failure: {other:?}"),
        }
        match &suite.test_cases[passing + 1].status {
            TestCaseStatus::Skipped { message, .. } => {
                let m = message.as_ref().map(|m| m.as_str()).unwrap_or("");
                assert!(m.starts_with("unknown: the daemon was lost"), "{m}");
            }
            other => panic!("not skipped: {other:?}"),
        }
        assert_eq!(suite.failures, 1);
        assert_eq!(suite.skipped, 1);
    }
}
