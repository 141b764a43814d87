//! The chaos suite (`scenarios/chaos/`): explicit fault schedules, one file per behaviour —
//! each restart policy, a crash against `docker kill`, daemon stop, crash and live-restore, OOM,
//! the back-off's growth, cap and reset. Every file passes on a lab daemon of its own and in the
//! simulator, judged by the oracle; a few files make a promise the oracle alone does not spell
//! out (the `oom` event is there, the seed's `sleep 9` grows the back-off and `sleep 10` does
//! not, the cap is one minute), and those are checked here too.

use serde_json::Value;

use crate::support::*;

/// The suite's files. Each runs on a lab in seconds, except `backoff-reset`: the seed's own
/// service, about a minute.
const FILES: [&str; 12] = [
    "backoff-growth",
    "backoff-reset",
    "container-faults",
    "daemon-crash",
    "daemon-restart",
    "kill-vs-crash",
    "live-restore",
    "oom",
    "policy-always",
    "policy-no",
    "policy-on-failure",
    "policy-unless-stopped",
];

/// Files of the suite whose schedule `halab chaos run` draws at random: their own tests run
/// them on a lab; here they run only with the whole suite, in the simulator.
const DRAWN: [&str; 2] = ["mixed", "mixed-eight"];

#[test]
fn every_file_of_the_suite_is_tested_here() {
    let on_disk = scenario_stems(&scenarios_dir().join("chaos"));
    let mut listed: Vec<String> = FILES.iter().chain(&DRAWN).map(|f| f.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "list new files of scenarios/chaos/ in FILES (tests/integration/chaos_suite.rs)"
    );
}

/// `halab scenario run chaos/FILE --json --runtime RUNTIME ARGS`: it passed, every property and
/// check passed, and every service was judged on its events and final state.
pub fn passes(file: &str, runtime: &str, args: &[&str]) -> Value {
    let state = StateDir::new();
    let name = format!("chaos/{file}");
    let args = [
        &["scenario", "run", &name, "--json", "--runtime", runtime][..],
        args,
    ]
    .concat();
    let out = run(halab(&state, &args));
    let report = out.json();
    assert_passed(&name, runtime, &report, &out);
    if runtime == "docker" {
        assert!(state.labs().is_empty(), "{name} left a lab");
    }
    report
}

/// Every check of `report` passed, and each service was judged property by property.
pub fn assert_passed(name: &str, runtime: &str, report: &Value, out: &Outcome) {
    let checks = report["checks"].as_array().expect("checks");
    let failing: Vec<String> = checks
        .iter()
        .filter(|c| c["verdict"] != "pass")
        .map(|c| {
            format!(
                "{} {} {}: {}",
                c["subject"], c["name"], c["verdict"], c["detail"]
            )
        })
        .collect();
    assert!(
        failing.is_empty() && out.code == 0 && report["verdict"] == "pass",
        "{name} on {runtime}: exit {}, {} of {} properties do not pass:\n  {}\n{}",
        out.code,
        failing.len(),
        checks.len(),
        failing.join("\n  "),
        out.stderr
    );
    let services = report["services"].as_object().expect("services");
    assert!(!services.is_empty(), "{name}: no services");
    for service in services.keys() {
        for property in ["events", "final-status", "final-exit-code", "restart-count"] {
            let c = check(report, service, property);
            assert_eq!(c["verdict"], "pass", "{name} on {runtime}: {c}");
        }
    }
}

/// The container events of `service` in the report's history, by action name.
fn actions(report: &Value, service: &str) -> Vec<String> {
    report["history"]
        .as_array()
        .expect("a history")
        .iter()
        .filter(|e| e["kind"] == "container" && e["service"] == service)
        .map(|e| match &e["action"] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
            other => other.to_string(),
        })
        .collect()
}

/// The observed and predicted die→start delays of `service`, in ms.
fn delays(report: &Value, service: &str) -> (Vec<u64>, Vec<u64>) {
    let facts = &check(report, service, "restart-delays")["facts"];
    let list = |key: &str| -> Vec<u64> {
        facts[key]
            .as_array()
            .unwrap_or_else(|| panic!("{service}: no {key} in {facts}"))
            .iter()
            .map(|v| v.as_u64().expect("ms"))
            .collect()
    };
    (list("observed_ms"), list("predicted_ms"))
}

/// What a file promises beyond the oracle's verdict, checked on its report in either runtime.
fn keeps_its_promise(file: &str, runtime: &str, report: &Value) {
    match file {
        // The OOM killer ended each service: the daemon logged `oom` before the `die`.
        "oom" => {
            for service in ["always", "on-failure", "no"] {
                let a = actions(report, service);
                let oom = a.iter().position(|a| a == "oom");
                let die = a.iter().position(|a| a == "die");
                assert!(
                    oom.is_some() && oom < die,
                    "{file} on {runtime}: {service} has no oom event before its die: {a:?}"
                );
            }
        }
        // The seed's case: 9 s of running is short of the reset threshold, 10 s is not.
        "backoff-reset" => {
            let (observed9, predicted9) = delays(report, "sleep9");
            let (observed10, predicted10) = delays(report, "sleep10");
            assert!(predicted9.len() >= 5, "{predicted9:?}");
            assert!(
                predicted9.windows(2).all(|w| w[1] == 2 * w[0]),
                "{file}: sleep 9 doubles: {predicted9:?}"
            );
            assert!(
                predicted10.iter().all(|&d| d == predicted10[0]),
                "{file}: sleep 10 stays: {predicted10:?}"
            );
            // On the daemon itself, apart from the model: sleep 9's last wait is seconds
            // longer than any of sleep 10's.
            let longest10 = observed10.iter().max().copied().unwrap_or(0);
            let last9 = observed9.last().copied().unwrap_or(0);
            assert!(
                last9 > longest10 + 1_000,
                "{file} on {runtime}: sleep 9's delays {observed9:?} did not grow past sleep 10's {observed10:?}"
            );
        }
        // Doubling from 100 ms; on the daemon too, the last wait is seconds longer than the first.
        "backoff-growth" => {
            let (observed, predicted) = delays(report, "critical");
            assert_eq!(predicted.first(), Some(&100), "{predicted:?}");
            assert!(
                predicted.windows(2).all(|w| w[1] == 2 * w[0]),
                "{predicted:?}"
            );
            let (first, last) = (observed.first().copied(), observed.last().copied());
            assert!(
                last.unwrap_or(0) > first.unwrap_or(0) + 2_000,
                "{file} on {runtime}: the delays do not grow: {observed:?}"
            );
        }
        _ => {}
    }
}

fn passes_in(file: &str, runtime: &str) {
    let report = passes(file, runtime, &[]);
    keeps_its_promise(file, runtime, &report);
}

on_a_lab_and_in_the_simulator! {
    passes_in;
    backoff_growth => "backoff-growth",
    backoff_reset => "backoff-reset",
    container_faults => "container-faults",
    daemon_crash => "daemon-crash",
    daemon_restart => "daemon-restart",
    kill_vs_crash => "kill-vs-crash",
    live_restore => "live-restore",
    oom => "oom",
    policy_always => "policy-always",
    policy_no => "policy-no",
    policy_on_failure => "policy-on-failure",
    policy_unless_stopped => "policy-unless-stopped",
}

/// The back-off's cap, which a lab would take minutes to reach: in the model, the wait doubles
/// up to one minute and stays there.
#[test]
fn the_backoff_is_capped_at_a_minute_in_the_simulator() {
    let report = passes("backoff-growth", "sim", &["--set", "restarts=13"]);
    let (observed, predicted) = delays(&report, "critical");
    assert_eq!(predicted.len(), 13, "{predicted:?}");
    let cap = 60_000;
    let first_capped = predicted.iter().position(|&d| d == cap);
    assert_eq!(first_capped, Some(10), "{predicted:?}");
    assert!(
        predicted[..10].windows(2).all(|w| w[1] == 2 * w[0])
            && predicted[10..].iter().all(|&d| d == cap),
        "{predicted:?}"
    );
    assert_eq!(observed, predicted, "the simulator plays the model exactly");
}

/// The whole suite as one invocation (`halab scenario run chaos`), in the simulator: one report
/// per file on disk, all passing.
#[test]
fn the_suite_runs_as_one_command_in_the_simulator() {
    let state = StateDir::new();
    let out = run(halab(
        &state,
        &["scenario", "run", "chaos", "--json", "--runtime", "sim"],
    ));
    assert_eq!(out.code, 0, "{out}");
    let suite = out.json();
    assert_eq!(suite["verdict"], "pass", "{}", suite["verdict"]);
    let runs = suite["runs"].as_array().expect("runs");
    let files = scenario_stems(&scenarios_dir().join("chaos"));
    assert_eq!(runs.len(), files.len(), "one report per file: {files:?}");
    for report in runs {
        let name = report["scenario"].as_str().unwrap_or_default().to_owned();
        assert_passed(&name, "sim", report, &out);
    }
}
