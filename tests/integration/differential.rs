//! The differential suite (`scenarios/differential/`): the reference model against real lab
//! daemons (Docker Engine 20.10, cgroup v1), case by case, through the product itself — each
//! file is a scenario of one service per case, run by `halab scenario run` and judged by the
//! oracle, which replays the run's operations through the model and compares every service's
//! events, restart delays, states at each inspection and final state, and the daemon's own stop
//! and start times, within the tolerances the run measures of itself.
//!
//! The five files: the API cases (`api`: each policy against exits, host kills, API kills,
//! stops, pauses and updates), and the daemon cases around a clean stop (`stop`), a crash
//! (`crash`), and both with live-restore (`lr-stop`, `lr-crash`). Each file runs on a lab of
//! its own and, as a check of the oracle's replay against the simulator's play, in the
//! simulator.
//!
//! What the table found when it was a test of its own, and what the model now does about it:
//! - `docker kill` of a paused container logs `kill` and `die` but no `unpause` (the process
//!   dies on the thaw, before containerd publishes `TaskResumed`), while a paused process that
//!   traps the stop signal gets `unpause` before its `die` (`ContainerModel::thaw`, after
//!   `daemon.(*Daemon).ProcessEvent`'s `EventResumed` branch).
//! - A daemon killed within milliseconds of a `die` restores from older state (the exit handler
//!   logs `die` before it cleans up and writes its checkpoint); the model takes the handler as
//!   one step, so the case that crashes the daemon during a back-off waits a second after it.
//! - After a crash without live-restore, a daemon's start takes the stop timeout of every
//!   container it finds alive (`restore` stops them before anything else), then about 100 ms a
//!   container to remove stale network sandboxes, then the restarts — the oracle's tolerance for
//!   the daemon's start counts that work (see `halab_chaos::oracle::Slack`).

use crate::support::*;

/// The suite's files and how many cases (services) each holds.
const FILES: [(&str, usize); 5] = [
    ("api", 26),
    ("stop", 9),
    ("crash", 9),
    ("lr-stop", 12),
    ("lr-crash", 12),
];

/// Runs one file of the suite and checks that every case matches the model.
fn matches_the_model(file: &str, cases: usize, runtime: &str) {
    let state = StateDir::new();
    let name = format!("differential/{file}");
    let out = run(halab(
        &state,
        &["scenario", "run", &name, "--json", "--runtime", runtime],
    ));
    let report = out.json();
    let services = report["services"]
        .as_object()
        .expect("services in the report");
    assert_eq!(services.len(), cases, "{name}: {} cases", services.len());
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
        failing.is_empty() && out.code == 0,
        "{name} on {runtime}: {} of {} properties do not pass:\n  {}\n{}",
        failing.len(),
        checks.len(),
        failing.join("\n  "),
        out.stderr
    );
    // Every case was judged on its events and its final state, not just left unchecked.
    for service in services.keys() {
        for property in ["events", "final-status", "final-exit-code", "restart-count"] {
            assert!(
                checks
                    .iter()
                    .any(|c| c["subject"] == service.as_str() && c["name"] == property),
                "{name}: {service} has no {property} property"
            );
        }
    }
    if runtime == "docker" {
        assert!(state.labs().is_empty(), "{name} left a lab");
    }
}

#[test]
fn the_suite_holds_at_least_the_tables_68_cases() {
    let total: usize = FILES.iter().map(|(_, n)| n).sum();
    assert!(total >= 68, "{total} cases");
    let on_disk = scenario_stems(&scenarios_dir().join("differential"));
    let mut listed: Vec<String> = FILES.iter().map(|(f, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "list new files of the suite in FILES");
}

fn cases_of(file: &str) -> usize {
    FILES
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, n)| *n)
        .expect("listed in FILES")
}

fn matches_in(file: &str, runtime: &str) {
    matches_the_model(file, cases_of(file), runtime);
}

on_a_lab_and_in_the_simulator! {
    matches_in;
    api_cases => "api",
    daemon_stop_cases => "stop",
    daemon_crash_cases => "crash",
    live_restore_stop_cases => "lr-stop",
    live_restore_crash_cases => "lr-crash",
}
