//! Docs versus daemon: where Docker Engine departs from what its documentation promises.
//!
//! The documentation's reference ([`Reference::Docs`]) is the engine's model except where a
//! documented rule ([`DocRule`]) says otherwise, each rule a sentence of Docker's documentation
//! taken at its word. The search does not look for any rule in particular: it searches the deep
//! suite's cases in the simulator for one the documentation (every rule not yet found) gets
//! wrong, shrinks it, names the rule that disagrees (judging the shrunk schedule rule by rule),
//! searches that rule alone and confirms what it finds on a lab daemon — a real history that
//! fails the documentation and passes the engine's model. The rule is then set aside and the
//! search goes on, until no rule left shows in the cases searched.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use halab_model::{DocRule, DocRules, Reference};
use serde::Serialize;

use super::{Outcome, Search, find, slug};
use crate::checks::Verdict;
use crate::machine::compile_paced;
use crate::suite::{self, Suite, SuiteError};
use crate::view::Silent;

/// What the documentation says, and where: the rule's source, for the report.
pub struct Promise {
    pub rule: DocRule,
    pub title: &'static str,
    pub quote: &'static str,
    pub page: &'static str,
    pub url: &'static str,
    /// When the sentence was written, or how it changed.
    pub versions: &'static str,
    /// What the engine's code does instead, by the moby function (the model's reading).
    pub code: &'static str,
}

/// Every documented rule with its source.
pub const PROMISES: [Promise; 6] = [
    Promise {
        rule: DocRule::TenSeconds,
        title: "A restart policy takes effect only after 10 seconds of running",
        quote: "A restart policy only takes effect after a container starts successfully. In this case, starting successfully means that the container is up for at least 10 seconds and Docker has started monitoring it. This prevents a container which doesn't start at all from going into a restart loop.",
        page: "Start containers automatically — Restart policy details",
        url: "https://docs.docker.com/engine/containers/start-containers-automatically/#restart-policy-details",
        versions: "the same meaning in the 20.10-era page and today's",
        code: "`restartmanager.(*restartManager).ShouldRestart` (20.10 and 29) uses the 10 seconds only to reset the back-off to 100 ms; nothing holds a policy back (moby#46452, open)",
    },
    Promise {
        rule: DocRule::OnFailureNotAtDaemonStart,
        title: "`on-failure` is not restarted when the daemon restarts",
        quote: "The `on-failure` policy only prompts a restart if the container exits with a failure. It doesn't restart the container if the daemon restarts.",
        page: "Start containers automatically — Use a restart policy",
        url: "https://docs.docker.com/engine/containers/start-containers-automatically/#use-a-restart-policy",
        versions: "added in September 2023 (docker/docs#18228) and to the CLI reference in v28; not in the 20.10-era docs",
        code: "`daemon.(*Daemon).restore` asks `c.ShouldRestart()` of every container it finds, and `on-failure` answers yes for a non-zero last exit code — a `docker stop` that ended in 143 or 137 is one (moby#35166)",
    },
    Promise {
        rule: DocRule::OnFailureInARow,
        title: "`on-failure:N` counts failures in a row",
        quote: "If the `redis` container exits with a non-zero exit status more than 10 times in a row, Docker stops trying to restart the container.",
        page: "docker container run — Specify a limit for restart attempts",
        url: "https://docs.docker.com/reference/cli/docker/container/run/#restart",
        versions: "the same sentence in the 20.10 `docker run` reference",
        code: "the restart manager counts every restart since the last start by hand (`restartCount`); a run of 10 seconds resets only the back-off, never the count",
    },
    Promise {
        rule: DocRule::CrashIsNotAStop,
        title: "`unless-stopped` comes back after a daemon crash",
        quote: "Always restart the container regardless of the exit status, including on daemon startup, except if the container was put into a stopped state before the Docker daemon was stopped.",
        page: "Docker run reference (20.10) — Restart policies (--restart), `unless-stopped`",
        url: "https://github.com/docker/cli/blob/v20.10.24/docs/reference/run.md#restart-policies---restart",
        versions: "the 20.10 run reference; the table was removed in v25",
        code: "after a crash, `daemon.(*Daemon).restore` stops the containers that outlived the daemon through `killWithSignal`, which sets `HasBeenManuallyStopped` because the daemon is not shutting down — and `unless-stopped` then stays down",
    },
    Promise {
        rule: DocRule::SurvivedSignalIsNotAStop,
        title: "A signal the container survives changes nothing",
        quote: "While the default (`SIGKILL`) signal will terminate the container, the signal set through `--signal` may be non-terminal, depending on the container's main process. For example, the `SIGHUP` signal in most cases will be non-terminal, and the container will continue running after receiving the signal.",
        page: "docker kill (with the Engine API's `unless-stopped`: “Restart always except when the user has manually stopped the container”)",
        url: "https://docs.docker.com/reference/cli/docker/container/kill/",
        versions: "the `docker kill` page since v20.10.10; no page says a signal counts as a stop",
        code: "`daemon.(*Daemon).killWithSignal` cancels the restart manager and sets `HasBeenManuallyStopped` for any signal when the container has no `StopSignal` (moby#41302, open)",
    },
    Promise {
        rule: DocRule::StoppedByDaemonStaysDown,
        title: "`unless-stopped` stopped “otherwise” stays down",
        quote: "Similar to `always`, except that when the container is stopped (manually or otherwise), it isn't restarted even after Docker daemon restarts.",
        page: "Start containers automatically — Use a restart policy",
        url: "https://docs.docker.com/engine/containers/start-containers-automatically/#use-a-restart-policy",
        versions: "today's table; the 20.10 run reference said the opposite (see “`unless-stopped` comes back after a daemon crash”)",
        code: "`daemon.(*Daemon).Shutdown` stops containers while `IsShuttingDown()` is true, so `killWithSignal` does not mark them manually stopped, and `restore` starts `unless-stopped` again",
    },
];

fn promise(rule: DocRule) -> &'static Promise {
    PROMISES
        .iter()
        .find(|p| p.rule == rule)
        .expect("every rule has its promise")
}

/// One rule's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    pub rule: DocRule,
    pub outcome: Outcome,
    /// The schedule saved for it, when found.
    pub scenario_file: Option<PathBuf>,
}

/// The search's result.
#[derive(Debug, Clone, Serialize)]
pub struct DocsReport {
    pub seed: u64,
    pub suite: String,
    pub on_lab: bool,
    /// In the order the search found them, then the rules it did not find.
    pub rules: Vec<RuleResult>,
    /// Simulated cases the last, empty, search played.
    pub cases_without_finding: usize,
    pub elapsed_seconds: f64,
}

/// Where the search writes.
pub struct Output<'a> {
    /// The rows' schedules (`RULE.toml`).
    pub scenarios: &'a Path,
    /// Each search's simulated suites and lab runs.
    pub work: &'a Path,
}

/// Searches for every departure of the engine from its documentation.
#[allow(clippy::too_many_arguments)]
pub async fn search(
    suite: &Suite,
    seed: u64,
    cases: u32,
    confirm: bool,
    out: &Output<'_>,
    state_root: PathBuf,
    busybox: Option<PathBuf>,
    say: &(dyn Fn(&str) + Sync),
) -> Result<DocsReport, SuiteError> {
    let began = std::time::Instant::now();
    std::fs::create_dir_all(out.scenarios).map_err(super::at(out.scenarios))?;
    let mut remaining = DocRules::ALL;
    let mut rules = Vec::new();
    let mut cases_without_finding = 0;
    let mut round = 0u64;
    while !remaining.is_empty() {
        round += 1;
        // Where the documentation (the rules not yet found) and the engine disagree, from a
        // random start…
        let wide = Search {
            suite,
            reference: Reference::Docs(remaining),
            seed: seed.wrapping_add(round * 100),
            cases,
            report_dir: out.work.join(format!("round-{round}")),
            confirm: false,
            state_root: state_root.clone(),
            busybox: busybox.clone(),
        };
        let finding = match find(&wide, say).await? {
            Outcome::Found(finding) => finding,
            Outcome::NotFound { cases } => {
                cases_without_finding = cases;
                break;
            }
            // Not confirming, the search finds or does not.
            Outcome::Unconfirmed { .. } => break,
        };
        // …which rule it is…
        let Some(rule) = attribute(&finding.minimal, remaining, &state_root).await else {
            say("the documentation disagrees, but no single rule does: stopping");
            break;
        };
        say(&format!("docs: the difference found is the rule `{rule}`"));
        remaining = remaining.without(rule);
        // …and that rule alone, confirmed on a lab.
        let reference = Reference::Docs(DocRules::only(rule));
        let one = Search {
            reference,
            report_dir: out.work.join(slug(&reference)),
            confirm,
            ..wide
        };
        let outcome = find(&one, say).await?;
        let scenario_file = match &outcome {
            Outcome::Found(f) if f.lab.is_none() || f.confirmed() => {
                let path = out.scenarios.join(format!("{rule}.toml"));
                std::fs::write(&path, &f.scenario_text).map_err(super::at(&path))?;
                Some(path)
            }
            _ => None,
        };
        rules.push(RuleResult {
            rule,
            outcome,
            scenario_file,
        });
    }
    for rule in remaining.iter() {
        rules.push(RuleResult {
            rule,
            outcome: Outcome::NotFound {
                cases: cases_without_finding,
            },
            scenario_file: None,
        });
    }
    Ok(DocsReport {
        seed,
        suite: suite.name.to_owned(),
        on_lab: confirm,
        rules,
        cases_without_finding,
        elapsed_seconds: began.elapsed().as_secs_f64(),
    })
}

/// The first of `rules` that alone disagrees with the engine on `case` (in the simulator,
/// judged as the search judges).
async fn attribute(
    case: &crate::machine::Case,
    rules: DocRules,
    state_root: &Path,
) -> Option<DocRule> {
    let scenario = compile_paced(case, "attribution", "", suite::LAB_LIKE_PACE_MS);
    for rule in rules.iter() {
        let options = crate::suite::sim_options(
            case.live_restore,
            Reference::Docs(DocRules::only(rule)),
            suite::LAB_LIKE_LATE_MS,
            state_root,
        );
        if let Ok(report) = crate::run(&scenario, &options, &mut Silent).await
            && report.verdict == Verdict::Fail
        {
            return Some(rule);
        }
    }
    None
}

impl DocsReport {
    /// The rules found (and confirmed, on a lab).
    pub fn found(&self) -> Vec<DocRule> {
        self.rules
            .iter()
            .filter(|r| r.scenario_file.is_some())
            .map(|r| r.rule)
            .collect()
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "docs versus daemon (suite {}, seed {}{}): {} of {} documented rules the engine departs from, in {}",
            self.suite,
            self.seed,
            if self.on_lab {
                ", each confirmed on a lab"
            } else {
                ", simulator only"
            },
            self.found().len(),
            self.rules.len(),
            crate::suite::duration(self.elapsed_seconds)
        );
        for r in &self.rules {
            let what = match (&r.outcome, &r.scenario_file) {
                (Outcome::Found(f), Some(file)) => {
                    format!("{} — {}", f.minimal, file.display())
                }
                (Outcome::Found(_), None) | (Outcome::Unconfirmed { .. }, _) => {
                    "found in the simulator, not confirmed on a lab".to_owned()
                }
                (Outcome::NotFound { cases }, _) => {
                    format!("no departure found in {cases} simulated cases")
                }
            };
            let _ = writeln!(s, "  {:<32} {what}", r.rule.name());
        }
        s
    }

    /// The report the book includes: each departure as what the docs say, what the engine
    /// does, the schedule that shows it, and how to run it.
    pub fn markdown(&self, engine: &str, scenarios_in_repo: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<!-- Generated by `halab chaos docs --seed {}` (`just docs-vs-daemon`); do not edit: \
             regenerate it. -->\n\n# Docs versus daemon\n",
            self.seed
        );
        let _ = writeln!(
            s,
            "Docker's documentation makes promises about restart policies; the engine keeps most of them. \
             This page lists where Docker Engine {engine} does what its documentation says it does not, \
             as halab found it. halab has a second model besides the engine's: *the documentation's*, \
             the engine's model except where a sentence of the documentation, taken at its word, says \
             otherwise (where the documentation is silent it makes no claim, and cannot disagree). The \
             search does not look for any sentence in particular: it searched the `{}` suite's cases in \
             the simulator for one the documentation's model gets wrong, shrank it, named the sentence \
             it breaks, and confirmed it on a lab daemon — a real run that fails the documentation's \
             model and passes the engine's. Then it set that sentence aside and searched again.\n",
            self.suite
        );
        let _ = writeln!(
            s,
            "It found {} such place{}. Each row below says what the docs say, what the engine does \
             (the lab run, judged), the schedule that shows it, and how to run it yourself. The \
             schedules are scenario files in `{scenarios_in_repo}/`; `halab scenario run \
             docs-vs-daemon` plays them all, judged by the engine's model, and they pass.\n",
            self.found().len(),
            if self.found().len() == 1 { "" } else { "s" }
        );
        for r in &self.rules {
            let (Outcome::Found(f), Some(file)) = (&r.outcome, &r.scenario_file) else {
                continue;
            };
            let p = promise(r.rule);
            let file_name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(s, "## {}\n", p.title);
            let _ = writeln!(
                s,
                "**What the docs say.** [{}]({}) ({}):\n\n> {}\n",
                p.page, p.url, p.versions, p.quote
            );
            let lab = f.lab.as_ref();
            let details = lab.map_or_else(|| f.sim_failed.join("; "), |c| c.details.join("; "));
            let _ = writeln!(
                s,
                "**What the engine does.** Judged by the documentation's model (`docs:{}`), the run on a lab \
                 fails: {details}. Judged by the engine's model, the same run {}. In the code: {}.\n",
                r.rule,
                lab.map_or("was not played on a lab", |c| {
                    if c.by_engine == Verdict::Pass {
                        "passes"
                    } else {
                        "does not pass either"
                    }
                }),
                p.code
            );
            let _ = writeln!(
                s,
                "**The schedule that shows it.** {} — found after {} simulated cases, shrunk in {} runs.\n",
                f.minimal, f.cases_searched, f.shrink_runs
            );
            let _ = writeln!(
                s,
                "**Run it yourself.** `halab chaos replay {scenarios_in_repo}/{file_name}` on a lab \
                 (it says *reproduced*); `--reference engine` judges the same run by the engine's model, \
                 which it passes.\n"
            );
        }
        let missing: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.scenario_file.is_none())
            .map(|r| format!("`{}`", r.rule))
            .collect();
        if !missing.is_empty() {
            let _ = writeln!(
                s,
                "## Rules the engine kept\n\nNo departure was found from {} in {} simulated cases: \
                 as far as these schedules reach, the engine does what those sentences say.",
                missing.join(", "),
                self.cases_without_finding
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Case, ServicePlan};
    use crate::search::{Confirmation, Finding};
    use halab_model::{DaemonOp, Op, RestartPolicy, SignalResponse};

    fn finding(rule: DocRule) -> Finding {
        Finding {
            reference: Reference::Docs(DocRules::only(rule)),
            seed: 1,
            cases_searched: 12,
            shrink_runs: 7,
            minimal: Case {
                live_restore: false,
                services: vec![ServicePlan {
                    name: "unless-stopped".into(),
                    policy: RestartPolicy::UnlessStopped,
                    on_stop_signal: SignalResponse::Ignore,
                }],
                transitions: vec![Op::Daemon(DaemonOp::Crash)],
            },
            sim_failed: vec!["unless-stopped final-status".into()],
            scenario_text: String::new(),
            lab: Some(Confirmation {
                by_reference: Verdict::Fail,
                failed: vec!["unless-stopped final-status".into()],
                details: vec![
                    "unless-stopped final-status: exited; the model predicts running".into(),
                ],
                by_engine: Verdict::Pass,
                engine_failed: vec![],
                report_dir: "r".into(),
                lab_late_ms: 700,
            }),
            seconds: 1.0,
        }
    }

    /// Each departure found is a section with the four parts a reader needs; the rules not
    /// found are named as kept.
    #[test]
    fn the_page_has_what_the_docs_say_what_the_engine_does_the_schedule_and_how_to_run_it() {
        let report = DocsReport {
            seed: 1,
            suite: "deep".into(),
            on_lab: true,
            rules: vec![
                RuleResult {
                    rule: DocRule::CrashIsNotAStop,
                    outcome: Outcome::Found(Box::new(finding(DocRule::CrashIsNotAStop))),
                    scenario_file: Some("scenarios/docs-vs-daemon/crash-is-not-a-stop.toml".into()),
                },
                RuleResult {
                    rule: DocRule::TenSeconds,
                    outcome: Outcome::NotFound { cases: 8000 },
                    scenario_file: None,
                },
            ],
            cases_without_finding: 8000,
            elapsed_seconds: 3.0,
        };
        let page = report.markdown("20.10.24", "scenarios/docs-vs-daemon");
        assert!(page.contains("# Docs versus daemon"), "{page}");
        assert!(page.contains("It found 1 such place."), "{page}");
        for part in [
            "**What the docs say.**",
            "**What the engine does.**",
            "**The schedule that shows it.**",
            "**Run it yourself.**",
            "halab chaos replay scenarios/docs-vs-daemon/crash-is-not-a-stop.toml",
            "put into a stopped state before the Docker daemon was stopped",
            "exited; the model predicts running",
        ] {
            assert!(page.contains(part), "missing {part:?}:\n{page}");
        }
        assert!(
            page.contains("No departure was found from `ten-seconds` in 8000 simulated cases"),
            "{page}"
        );
        assert_eq!(report.found(), vec![DocRule::CrashIsNotAStop]);
    }

    #[test]
    fn every_documented_rule_has_its_source() {
        for rule in DocRule::ALL {
            let p = promise(rule);
            assert!(p.url.starts_with("https://"), "{rule}");
            assert!(!p.quote.is_empty() && !p.code.is_empty(), "{rule}");
        }
    }
}
