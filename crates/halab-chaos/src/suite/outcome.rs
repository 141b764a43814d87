//! What a suite found: every case played, the failures with their shrunk schedules, the rates;
//! as a summary people read, as JSON, and as JUnit for CI.

use std::fmt::Write as _;
use std::path::PathBuf;

use halab_model::{Mutant, Reference};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use crate::checks::Verdict;
use crate::machine::Case;

/// One run of a case on a lane.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    pub lane: usize,
    /// The lane's configuration (`restart`, `live-restore`).
    pub lane_name: &'static str,
    /// Its place among the lane's runs (cases and shrinking candidates alike), from 1.
    pub run: u32,
    /// `case` (drawn by proptest, or a persisted failure re-run) or `shrink` (a candidate
    /// while shrinking a failure).
    pub kind: &'static str,
    pub case: Case,
    pub verdict: Verdict,
    /// The properties that failed, `SUBJECT NAME`.
    pub failed: Vec<String>,
    /// Wall-clock seconds on the lane.
    pub seconds: f64,
    /// Not played on the lab: the simulator showed it passing (shrinking only, see `screen`).
    pub screened: bool,
    /// The mutants of the model that fail this case's history (judged again, no new run).
    pub caught: Vec<Mutant>,
    /// Where the run's report directory is.
    pub report: Option<PathBuf>,
}

/// A failing case and the smallest schedule it shrank to.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub lane: usize,
    pub lane_name: &'static str,
    /// Why proptest says it failed (the failing properties).
    pub reason: String,
    pub original: Case,
    pub minimal: Case,
    /// Candidates tried while shrinking, and how many of them ran on a lab.
    pub shrink_runs: u32,
    pub shrink_lab_runs: u32,
    pub shrink_seconds: f64,
    /// The minimal schedule as a scenario file, and where it was saved.
    pub scenario: String,
    pub scenario_file: PathBuf,
}

/// A suite's result.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub suite: String,
    pub seed: u64,
    pub reference: Reference,
    /// `lab` or `sim`.
    pub runtime: &'static str,
    pub lanes: Vec<&'static str>,
    pub elapsed_seconds: f64,
    pub cases: Vec<CaseRecord>,
    pub failures: Vec<Failure>,
    /// Lanes proptest gave up on (too many cases whose history could not decide).
    pub aborted: Vec<String>,
    pub interrupted: bool,
    pub verdict: Verdict,
    pub report_dir: PathBuf,
}

impl SuiteReport {
    /// The cases proptest drew (not the shrinking candidates).
    pub fn drawn(&self) -> impl Iterator<Item = &CaseRecord> {
        self.cases.iter().filter(|c| c.kind == "case")
    }

    pub fn transitions(&self) -> usize {
        self.drawn().map(|c| c.case.transitions.len()).sum()
    }

    fn per_minute(&self, n: usize) -> f64 {
        if self.elapsed_seconds > 0.0 {
            n as f64 * 60.0 / self.elapsed_seconds
        } else {
            0.0
        }
    }

    pub fn cases_per_minute(&self) -> f64 {
        self.per_minute(self.drawn().count())
    }

    pub fn transitions_per_minute(&self) -> f64 {
        self.per_minute(self.transitions())
    }

    /// Each mutant, and the first drawn case whose history it fails.
    pub fn mutants_caught(&self) -> Vec<(Mutant, Option<(&'static str, u32)>)> {
        Mutant::ALL
            .iter()
            .map(|&m| {
                let by = self
                    .drawn()
                    .find(|c| c.caught.contains(&m))
                    .map(|c| (c.lane_name, c.run));
                (m, by)
            })
            .collect()
    }

    /// The verdict of a suite from its cases: a failure beats an undecided lane; a suite that
    /// ran nothing decides nothing.
    pub fn verdict_of(cases: &[CaseRecord], failures: usize, aborted: usize) -> Verdict {
        if failures > 0 || cases.iter().any(|c| c.verdict == Verdict::Fail) {
            Verdict::Fail
        } else if aborted > 0 || !cases.iter().any(|c| c.verdict == Verdict::Pass) {
            Verdict::Unknown
        } else {
            Verdict::Pass
        }
    }

    /// The summary people read.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let drawn: Vec<&CaseRecord> = self.drawn().collect();
        let unknown = drawn
            .iter()
            .filter(|c| c.verdict == Verdict::Unknown)
            .count();
        let _ = writeln!(
            s,
            "{}  suite {} (seed {}, judged by the {} model) on {} {}: {} cases, {} transitions in {}",
            self.verdict.label(),
            self.suite,
            self.seed,
            self.reference,
            self.lanes.len(),
            if self.runtime == "lab" {
                "lab daemons"
            } else {
                "simulated daemons"
            },
            drawn.len(),
            self.transitions(),
            duration(self.elapsed_seconds),
        );
        let _ = writeln!(
            s,
            "  {:.1} cases/min, {:.1} transitions/min; {} services and {} daemon faults in all",
            self.cases_per_minute(),
            self.transitions_per_minute(),
            drawn.iter().map(|c| c.case.services.len()).sum::<usize>(),
            drawn.iter().map(|c| c.case.daemon_faults()).sum::<usize>(),
        );
        for (i, lane) in self.lanes.iter().enumerate() {
            let mine: Vec<&&CaseRecord> = drawn.iter().filter(|c| c.lane == i).collect();
            let count = |v: Verdict| mine.iter().filter(|c| c.verdict == v).count();
            let _ = writeln!(
                s,
                "  lane {lane}: {} cases — {} pass, {} fail, {} unknown",
                mine.len(),
                count(Verdict::Pass),
                count(Verdict::Fail),
                count(Verdict::Unknown),
            );
        }
        if unknown > 0 {
            let _ = writeln!(
                s,
                "  {unknown} case(s) the history could not decide (proptest drew others instead)"
            );
        }
        if self.reference == Reference::Engine && self.runtime == "lab" && !drawn.is_empty() {
            let caught = self.mutants_caught();
            let n = caught.iter().filter(|(_, by)| by.is_some()).count();
            let names: Vec<String> = caught
                .iter()
                .map(|(m, by)| match by {
                    Some((lane, run)) => format!("{m} (lane {lane}, case {run})"),
                    None => format!("{m} (not caught)"),
                })
                .collect();
            let _ = writeln!(
                s,
                "  the same histories judged by each wrong model: {n}/{} caught — {}",
                caught.len(),
                names.join(", ")
            );
        }
        for lane in &self.aborted {
            let _ = writeln!(s, "  gave up on lane {lane}");
        }
        if self.interrupted {
            let _ = writeln!(s, "  interrupted: the labs have been removed");
        }
        for f in &self.failures {
            let _ = writeln!(
                s,
                "\nFAIL on lane {}: {}\n  drawn: {}\n  shrunk in {} runs ({} on the lab, {}) to {}\n  saved as {}; run it again with `halab chaos replay {}`\n\n{}",
                f.lane_name,
                f.reason,
                f.original,
                f.shrink_runs,
                f.shrink_lab_runs,
                duration(f.shrink_seconds),
                f.minimal,
                f.scenario_file.display(),
                f.scenario_file.display(),
                f.scenario
            );
        }
        let _ = writeln!(s, "  report: {}", self.report_dir.display());
        s
    }

    /// The suite as JUnit XML: a test suite per lane, a test case per drawn case, and one more
    /// for each failure's shrunk schedule.
    pub fn junit(&self) -> String {
        let mut doc = quick_junit::Report::new(format!("halab suite {}", self.suite));
        for (i, lane) in self.lanes.iter().enumerate() {
            let mut suite = TestSuite::new(format!("{}.{lane}", self.suite));
            suite.add_property(Property::new("seed", self.seed.to_string()));
            suite.add_property(Property::new("reference", self.reference.to_string()));
            suite.add_property(Property::new("runtime", self.runtime));
            for c in self.drawn().filter(|c| c.lane == i) {
                let name = format!(
                    "case {}: {} transitions on {} services",
                    c.run,
                    c.case.transitions.len(),
                    c.case.services.len()
                );
                let status = match c.verdict {
                    Verdict::Pass => TestCaseStatus::success(),
                    Verdict::Fail => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(c.failed.join(", ")).set_type("halab.fail");
                        s.set_description(c.case.to_string());
                        s
                    }
                    Verdict::Unknown | Verdict::NotRun => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message("unknown: the history could not decide")
                            .set_type("halab.unknown");
                        s
                    }
                };
                let mut case = TestCase::new(name, status);
                case.set_classname(format!("{}.{lane}", self.suite));
                case.set_time(std::time::Duration::from_secs_f64(c.seconds.max(0.0)));
                case.set_system_out(c.case.to_string());
                suite.add_test_case(case);
            }
            for f in self.failures.iter().filter(|f| f.lane == i) {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(format!(
                        "shrunk to {} transition(s): {}",
                        f.minimal.transitions.len(),
                        f.reason
                    ))
                    .set_type("halab.fail")
                    .set_description(f.scenario.as_str());
                let mut case = TestCase::new("minimal failing schedule", status);
                case.set_classname(format!("{}.{lane}", self.suite));
                case.set_system_out(f.scenario.as_str());
                suite.add_test_case(case);
            }
            doc.add_test_suite(suite);
        }
        doc.to_string().unwrap_or_else(|e| {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"halab\" tests=\"0\" failures=\"0\" errors=\"1\"><!-- {} --></testsuites>\n",
                e.to_string().replace("--", "- -")
            )
        })
    }
}

/// `95 s`, `6 min 12 s`.
pub(crate) fn duration(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    if whole < 120 {
        format!("{seconds:.1} s")
    } else {
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Case, ServicePlan};
    use halab_model::{Op, RestartPolicy, ServiceOp, SignalResponse};

    fn case() -> Case {
        Case {
            live_restore: false,
            services: vec![ServicePlan {
                name: "always".into(),
                policy: RestartPolicy::Always,
                on_stop_signal: SignalResponse::Ignore,
            }],
            transitions: vec![Op::on("always", ServiceOp::Exit { code: 1 })],
        }
    }

    fn record(lane: usize, verdict: Verdict) -> CaseRecord {
        CaseRecord {
            lane,
            lane_name: ["restart", "live-restore"][lane],
            run: 1,
            kind: "case",
            case: case(),
            verdict,
            failed: if verdict == Verdict::Fail {
                vec!["always events".into()]
            } else {
                vec![]
            },
            seconds: 2.0,
            screened: false,
            caught: vec![],
            report: None,
        }
    }

    #[test]
    fn a_failure_beats_an_undecided_lane_and_nothing_run_decides_nothing() {
        let pass = [record(0, Verdict::Pass), record(1, Verdict::Pass)];
        assert_eq!(SuiteReport::verdict_of(&pass, 0, 0), Verdict::Pass);
        assert_eq!(SuiteReport::verdict_of(&pass, 0, 1), Verdict::Unknown);
        assert_eq!(SuiteReport::verdict_of(&pass, 1, 1), Verdict::Fail);
        assert_eq!(SuiteReport::verdict_of(&[], 0, 0), Verdict::Unknown);
        let unknown = [record(0, Verdict::Unknown)];
        assert_eq!(SuiteReport::verdict_of(&unknown, 0, 0), Verdict::Unknown);
    }

    #[test]
    fn junit_has_a_suite_per_lane_and_a_case_per_drawn_case() {
        let report = SuiteReport {
            suite: "quick".into(),
            seed: 7,
            reference: Reference::Engine,
            runtime: "lab",
            lanes: vec!["restart", "live-restore"],
            elapsed_seconds: 60.0,
            cases: vec![record(0, Verdict::Pass), record(1, Verdict::Fail)],
            failures: vec![],
            aborted: vec![],
            interrupted: false,
            verdict: Verdict::Fail,
            report_dir: "r".into(),
        };
        let xml = report.junit();
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
        assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
        assert!(xml.contains("always events"), "{xml}");
        assert_eq!(report.cases_per_minute(), 2.0);
        assert_eq!(report.transitions_per_minute(), 2.0);
        let summary = report.summary();
        assert!(
            summary.starts_with("FAIL  suite quick (seed 7"),
            "{summary}"
        );
    }
}
