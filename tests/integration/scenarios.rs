//! Every scenario in `scenarios/` passes on a real lab daemon and in the simulator. The book's
//! claims about Docker point at these scenarios, so this is what backs them.

use crate::support::*;

/// The scenarios, each with the `--set` values that keep CI fast (the same in both runtimes).
const SCENARIOS: [(&str, &[&str]); 8] = [
    ("restart-always", &["--set", "sleep=1"]),
    ("daemon-crash", &[]),
    ("live-restore", &[]),
    ("kill-vs-crash", &[]),
    ("on-failure", &[]),
    ("backoff", &[]),
    ("always-after-stop", &[]),
    ("unless-stopped-after-stop", &[]),
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
    if runtime == "docker" {
        assert!(state.labs().is_empty(), "{name} left a lab");
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
    let mut on_disk: Vec<String> = std::fs::read_dir(scenarios_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = SCENARIOS.iter().map(|(n, _)| n.to_string()).collect();
    tested.sort();
    assert_eq!(
        on_disk, tested,
        "add new scenarios to SCENARIOS in tests/integration/scenarios.rs"
    );
}

macro_rules! scenario_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        mod on_a_lab {
            $(
                #[test]
                fn $test() {
                    super::require_root();
                    super::passes($name, super::sets_of($name), "docker");
                }
            )*
        }
        mod in_the_simulator {
            $(
                #[test]
                fn $test() {
                    super::passes($name, super::sets_of($name), "sim");
                }
            )*
        }
    };
}

scenario_tests! {
    restart_always => "restart-always",
    daemon_crash => "daemon-crash",
    live_restore => "live-restore",
    kill_vs_crash => "kill-vs-crash",
    on_failure => "on-failure",
    backoff => "backoff",
    always_after_stop => "always-after-stop",
    unless_stopped_after_stop => "unless-stopped-after-stop",
}
