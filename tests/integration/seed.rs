//! The seed experiment, end to end, on a lab daemon and on the machine's daemon; and proof that
//! its checks can fail.

use crate::support::*;

/// The acceptance run: `halab scenario run restart-always --set sleep=1` on a lab it starts.
#[test]
fn the_seed_passes_on_a_lab_daemon_and_leaves_nothing() {
    require_root();
    let state = StateDir::new();
    let out = run(halab(
        &state,
        &[
            "scenario",
            "run",
            "restart-always",
            "--set",
            "sleep=1",
            "--set",
            "down=2",
            "--json",
        ],
    ));
    assert_eq!(out.code, 0, "{out}");
    let report = out.json();
    assert_eq!(report["verdict"], "pass", "{out}");
    assert_eq!(report["target"]["kind"], "lab");
    let counts = &report["counts"];
    assert_eq!(
        counts["counter"], counts["starts"],
        "counter == observed starts: {counts}"
    );
    assert!(
        counts["restarts_before_daemon_phases"].as_u64().unwrap() >= 3,
        "{counts}"
    );
    for name in [
        "counter-matches-starts",
        "counter-never-decreases",
        "counter-frozen-while-daemon-down",
        "restarts-happen",
        "running-after-daemon-start",
        "phases-completed",
    ] {
        assert_eq!(
            check(&report, name)["verdict"],
            "pass",
            "{name}: {}",
            check(&report, name)
        );
    }
    let back = report["timings"]["daemon_start_to_service_running_ms"]
        .as_i64()
        .unwrap();
    assert!(
        (0..=15_000).contains(&back),
        "running again {back} ms after the daemon started"
    );

    let run_id = report["run_id"].as_str().unwrap();
    assert!(!netns_exists(run_id), "the lab's namespace is left");
    assert!(state.labs().is_empty(), "labs left: {:?}", state.labs());
    assert!(
        processes_mentioning(&state.0.display().to_string()).is_empty(),
        "processes left"
    );
    assert!(
        !std::path::Path::new(&format!("/tmp/halab-{run_id}")).exists(),
        "work dir left"
    );
}

/// The same scenario on the machine's daemon: its daemon phases are refused unless skipped, and
/// skipped they leave the daemon checks "not-run", never "pass".
#[test]
fn the_seed_runs_on_the_machines_daemon_without_its_daemon_phases() {
    require_machine_daemon();
    let state = StateDir::new();
    let refused = run(halab(
        &state,
        &[
            "scenario",
            "run",
            "restart-always",
            "--docker-host",
            MACHINE_DAEMON,
        ],
    ));
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("--skip-daemon-phases"), "{refused}");

    let out = seed_on_machine_daemon(&state);
    assert_eq!(out.code, 0, "{out}");
    let report = out.json();
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["target"]["kind"], "host");
    assert_eq!(check(&report, "counter-matches-starts")["verdict"], "pass");
    assert_eq!(check(&report, "restarts-happen")["verdict"], "pass");
    assert_eq!(
        check(&report, "running-after-daemon-start")["verdict"],
        "not-run"
    );
    assert_eq!(
        check(&report, "counter-frozen-while-daemon-down")["verdict"],
        "not-run"
    );
    let run_id = report["run_id"].as_str().unwrap();
    assert!(
        labelled_containers(Some(run_id)).is_empty(),
        "containers left on the machine's daemon"
    );
}

fn run_variant_on_machine_daemon(file: &str, script: &str) -> (Outcome, serde_json::Value) {
    require_machine_daemon();
    let state = StateDir::new();
    let scenario = seed_with_script(&state.0, file, script);
    let args = [
        &[
            "scenario",
            "run",
            scenario.to_str().unwrap(),
            "--set",
            "sleep=1",
            "--json",
        ][..],
        &ON_MACHINE_DAEMON,
    ]
    .concat();
    let out = run(halab(&state, &args));
    let report = out.json();
    let run_id = report["run_id"].as_str().unwrap().to_owned();
    assert!(
        labelled_containers(Some(&run_id)).is_empty(),
        "containers left after a failing run"
    );
    (out, report)
}

/// A service that counts each start twice must turn the verdict to fail.
#[test]
fn a_counter_counted_twice_fails_the_verdict() {
    let (out, report) = run_variant_on_machine_daemon(
        "double.toml",
        "echo $(($(cat /tmp/executou) + 2)) > /tmp/executou; sleep {{sleep}}",
    );
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(report["verdict"], "fail");
    let c = check(&report, "counter-matches-starts");
    assert_eq!(c["verdict"], "fail", "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("increments with no start"),
        "{c}"
    );
}

/// A service whose counter goes back (here: reset to 1 on its third start) must fail too.
#[test]
fn a_counter_that_goes_down_fails_the_verdict() {
    let (out, report) = run_variant_on_machine_daemon(
        "reset.toml",
        "n=$(($(cat /tmp/executou) + 1)); [ $n -ge 3 ] && n=1; echo $n > /tmp/executou; sleep {{sleep}}",
    );
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(
        check(&report, "counter-never-decreases")["verdict"],
        "fail",
        "{}",
        report["checks"]
    );
    assert_eq!(check(&report, "counter-matches-starts")["verdict"], "fail");
}

/// Ctrl-C, SIGTERM or SIGHUP (the terminal closing) in the middle of a lab run: exit 130 and
/// everything removed.
fn an_interrupted_lab_run_removes_everything(signal: &str) {
    require_root();
    let state = StateDir::new();
    let live = spawn_until_service_started(
        &state,
        &["scenario", "run", "restart-always", "--set", "sleep=1"],
    );
    let labs = state.labs();
    assert_eq!(labs.len(), 1, "one lab while the run goes on: {labs:?}");
    let run_dir = format!("/tmp/halab-{}", labs[0]);
    assert!(std::path::Path::new(&run_dir).exists());
    send_signal(live.child.id(), signal);
    let out = live.finish(std::time::Duration::from_secs(60));
    assert_eq!(out.code, 130, "{out}");
    assert!(out.stderr.contains("interrupted"), "{out}");
    assert!(state.labs().is_empty(), "labs left: {:?}", state.labs());
    assert!(!netns_exists(&labs[0]), "namespace left");
    assert!(!std::path::Path::new(&run_dir).exists(), "work dir left");
    assert!(
        processes_mentioning(&state.0.display().to_string()).is_empty(),
        "processes left"
    );
}

#[test]
fn ctrl_c_removes_everything() {
    an_interrupted_lab_run_removes_everything("INT");
}

#[test]
fn a_closed_terminal_removes_everything() {
    an_interrupted_lab_run_removes_everything("HUP");
}
