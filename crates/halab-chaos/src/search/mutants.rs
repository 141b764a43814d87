//! The mutation check: proof that the suites have teeth. For every deliberately wrong model
//! ([`Mutant`]), the quick suite's state machine is searched (in the simulator) for a case the
//! mutant gets wrong, the case is shrunk, and the shrunk schedule is played on a lab daemon:
//! the mutant is caught when that real history fails it and passes the engine's model.

use std::fmt::Write as _;
use std::path::PathBuf;

use halab_model::{Mutant, Reference};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::{Outcome, Search, find, slug};
use crate::suite::{Suite, SuiteError};

/// What the check found for one mutant.
#[derive(Debug, Clone, Serialize)]
pub struct MutantResult {
    pub mutant: Mutant,
    pub outcome: Outcome,
    /// Where its shrunk schedule was saved.
    pub scenario_file: Option<PathBuf>,
}

impl MutantResult {
    pub fn caught(&self) -> bool {
        matches!(&self.outcome, Outcome::Found(f) if f.lab.is_none() || f.confirmed())
    }
}

/// The whole check.
#[derive(Debug, Clone, Serialize)]
pub struct MutationReport {
    pub seed: u64,
    pub suite: String,
    /// Whether each finding was played on a lab.
    pub on_lab: bool,
    pub results: Vec<MutantResult>,
    pub elapsed_seconds: f64,
    pub report_dir: PathBuf,
}

impl MutationReport {
    pub fn caught(&self) -> usize {
        self.results.iter().filter(|r| r.caught()).count()
    }

    pub fn passed(&self) -> bool {
        self.caught() == self.results.len()
    }

    /// The table people read.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}  mutation check (suite {}, seed {}{}): {}/{} mutants caught ({:.0} %) in {}",
            if self.passed() { "PASS" } else { "FAIL" },
            self.suite,
            self.seed,
            if self.on_lab {
                ", each confirmed on a lab"
            } else {
                ", in the simulator only"
            },
            self.caught(),
            self.results.len(),
            100.0 * self.caught() as f64 / self.results.len().max(1) as f64,
            crate::suite::duration(self.elapsed_seconds),
        );
        for r in &self.results {
            match &r.outcome {
                Outcome::Found(f) => {
                    let lab = match &f.lab {
                        Some(c) => format!(
                            "; on a lab: the mutant {} ({}), the engine's model {}",
                            c.by_reference.label().to_lowercase(),
                            c.failed.join(", "),
                            c.by_engine.label().to_lowercase()
                        ),
                        None => String::new(),
                    };
                    let _ = writeln!(
                        s,
                        "  {} {:<24} caught after {} simulated cases, shrunk in {} runs to {}{lab}",
                        if r.caught() { "ok  " } else { "MISS" },
                        r.mutant.name(),
                        f.cases_searched,
                        f.shrink_runs,
                        f.minimal,
                    );
                    if let Some(file) = &r.scenario_file {
                        let _ = writeln!(s, "       schedule: {}", file.display());
                    }
                }
                Outcome::Unconfirmed { tried } => {
                    let _ = writeln!(
                        s,
                        "  MISS {:<24} the simulator found {} schedule(s); no lab run confirmed one",
                        r.mutant.name(),
                        tried.len()
                    );
                }
                Outcome::NotFound { cases } => {
                    let _ = writeln!(
                        s,
                        "  MISS {:<24} not caught in {cases} simulated cases",
                        r.mutant.name()
                    );
                }
            }
        }
        let _ = writeln!(s, "  report: {}", self.report_dir.display());
        s
    }

    /// One JUnit test case per mutant: a mutant not caught is a failure.
    pub fn junit(&self) -> String {
        let mut suite = TestSuite::new("halab mutation check");
        suite.add_property(Property::new("seed", self.seed.to_string()));
        for r in &self.results {
            let status = if r.caught() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message("the suite did not catch this wrong model")
                    .set_type("halab.mutant-survived");
                s
            };
            let mut case = TestCase::new(format!("caught {}", r.mutant.name()), status);
            case.set_classname("mutants");
            if let Outcome::Found(f) = &r.outcome {
                case.set_system_out(f.scenario_text.as_str());
            }
            suite.add_test_case(case);
        }
        let mut doc = quick_junit::Report::new("halab mutation check");
        doc.add_test_suite(suite);
        doc.to_string().unwrap_or_default()
    }
}

/// Runs the mutation check over every mutant.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    suite: &Suite,
    seed: u64,
    cases: u32,
    confirm: bool,
    report_dir: PathBuf,
    state_root: PathBuf,
    busybox: Option<PathBuf>,
    say: &(dyn Fn(&str) + Sync),
) -> Result<MutationReport, SuiteError> {
    let began = std::time::Instant::now();
    std::fs::create_dir_all(&report_dir).map_err(super::at(&report_dir))?;
    let mut results = Vec::new();
    for mutant in Mutant::ALL {
        let reference = Reference::Mutant(mutant);
        let search = Search {
            suite,
            reference,
            seed,
            cases,
            report_dir: report_dir.join(slug(&reference)),
            confirm,
            state_root: state_root.clone(),
            busybox: busybox.clone(),
        };
        let outcome = find(&search, say).await?;
        let scenario_file = match &outcome {
            Outcome::Found(f) => {
                let path = report_dir.join(format!("{}.toml", slug(&reference)));
                std::fs::write(&path, &f.scenario_text).map_err(super::at(&path))?;
                Some(path)
            }
            _ => None,
        };
        results.push(MutantResult {
            mutant,
            outcome,
            scenario_file,
        });
    }
    let report = MutationReport {
        seed,
        suite: suite.name.to_owned(),
        on_lab: confirm,
        results,
        elapsed_seconds: began.elapsed().as_secs_f64(),
        report_dir: report_dir.clone(),
    };
    let path = report_dir.join("mutants.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )
    .map_err(super::at(&path))?;
    Ok(report)
}
