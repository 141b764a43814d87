//! Every scenario in `scenarios/` passes on a real lab daemon and in the simulator. The book's
//! claims about Docker point at these scenarios, so this is what backs them. (On a lab, each
//! runs in `book::lab_captures`, which checks the run the book shows.)

use crate::support::*;

/// The scenarios, each with the `--set` values that keep CI fast (the same in both runtimes).
const SCENARIOS: [(&str, &[&str]); 14] = [
    ("restart-always", &["--set", "sleep=1"]),
    ("daemon-crash", &[]),
    ("live-restore", &[]),
    ("kill-vs-crash", &[]),
    ("on-failure", &[]),
    ("backoff", &[]),
    ("always-after-stop", &[]),
    ("unless-stopped-after-stop", &[]),
    ("policies-under-daemon-crash", &[]),
    ("policies-under-daemon-stop", &[]),
    ("policies-under-live-restore", &[]),
    ("failed-start", &[]),
    ("failed-restart", &[]),
    ("unhealthy-is-not-restarted", &[]),
];

fn passes(name: &str, sets: &[&str], runtime: &str) {
    let state = StateDir::new();
    let args = [
        &["scenario", "run", name, "--json", "--runtime", runtime][..],
        sets,
    ]
    .concat();
    let out = run(halab(&state, &args));
    assert_eq!(out.code, 0, "{name} on {runtime}:\n{out}");
    let report = out.json();
    assert_eq!(
        report["verdict"], "pass",
        "{name} on {runtime}: {}",
        report["checks"]
    );
    judged_by_the_oracle(name, &report);
    if runtime == "docker" {
        assert!(state.labs().is_empty(), "{name} left a lab");
    }
}

/// Every service of the run was judged by the oracle, property by property, and the final
/// state's verdict carries its evidence: what was observed, what the model predicted, and the
/// operation that read it.
pub fn judged_by_the_oracle(name: &str, report: &serde_json::Value) {
    let services = report["services"].as_object().expect("services");
    assert!(!services.is_empty(), "{name}: no services");
    for service in services.keys() {
        for property in ["events", "final-status", "final-exit-code", "restart-count"] {
            let c = check(report, service, property);
            assert_eq!(c["verdict"], "pass", "{name}: {c}");
        }
        let evidence = &check(report, service, "final-status")["evidence"][0];
        for part in ["observed", "predicted", "op"] {
            assert!(
                evidence[part]["text"].is_string(),
                "{name}: {service}: {evidence}"
            );
        }
    }
}

fn sets_of(name: &str) -> &'static [&'static str] {
    SCENARIOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .expect("listed in SCENARIOS")
}

#[test]
fn every_scenario_file_is_tested_here() {
    let on_disk = scenario_stems(&scenarios_dir());
    let mut tested: Vec<String> = SCENARIOS.iter().map(|(n, _)| n.to_string()).collect();
    tested.sort();
    assert_eq!(
        on_disk, tested,
        "add new scenarios to SCENARIOS in tests/integration/scenarios.rs"
    );
}

fn passes_in(name: &str, runtime: &str) {
    passes(name, sets_of(name), runtime);
}

/// On a lab each scenario runs once, in `book::lab_captures`: the book shows that very run, and
/// its test checks the verdict and the oracle's evidence (`judged_by_the_oracle`) as well as the
/// book's capture. Here: that every scenario has such a run.
#[test]
fn every_scenario_runs_on_a_lab_as_the_book_shows_it() {
    let captures = std::fs::read_to_string(scenarios_dir().join("../book/captures.txt")).unwrap();
    for (name, _) in SCENARIOS {
        let on_a_lab = captures.lines().any(|line| {
            let mut words = line.split_whitespace();
            let (Some(file), Some("halab")) = (words.next(), words.next()) else {
                return false;
            };
            let args: Vec<&str> = words.collect();
            file.ends_with(".txt")
                && args.starts_with(&["scenario", "run", name])
                && !args.contains(&"sim")
        });
        assert!(
            on_a_lab,
            "{name}: add its lab run to book/captures.txt (and LAB_CAPTURES in book.rs)"
        );
    }
}

mod in_the_simulator {
    macro_rules! in_the_simulator {
        ($($test:ident => $case:literal),* $(,)?) => {
            $(
                #[test]
                fn $test() {
                    super::passes_in($case, "sim");
                }
            )*
        };
    }

    in_the_simulator! {
        restart_always => "restart-always",
        daemon_crash => "daemon-crash",
        live_restore => "live-restore",
        kill_vs_crash => "kill-vs-crash",
        on_failure => "on-failure",
        backoff => "backoff",
        always_after_stop => "always-after-stop",
        unless_stopped_after_stop => "unless-stopped-after-stop",
        policies_under_daemon_crash => "policies-under-daemon-crash",
        policies_under_daemon_stop => "policies-under-daemon-stop",
        policies_under_live_restore => "policies-under-live-restore",
        failed_start => "failed-start",
        failed_restart => "failed-restart",
        unhealthy_is_not_restarted => "unhealthy-is-not-restarted",
    }
}
