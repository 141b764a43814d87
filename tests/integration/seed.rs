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
    let critical = &report["services"]["critical"];
    assert_eq!(
        critical["counter"], critical["starts"],
        "counter == observed starts: {critical}"
    );
    // 3 restarts watched, then the restore's start and one more exit and restart.
    assert!(critical["starts"].as_u64().unwrap() >= 6, "{critical}");
    for (subject, name) in [
        ("critical", "events"),
        ("critical", "restart-delays"),
        ("critical", "final-status"),
        ("critical", "counter-matches-starts"),
        ("critical", "counter-never-decreases"),
        ("critical", "counter-frozen-while-daemon-down"),
        ("critical", "running-after-daemon-start"),
        ("daemon", "daemon-stop-time"),
        ("daemon", "daemon-start-time"),
        ("run", "phases-completed"),
    ] {
        let c = check(&report, subject, name);
        assert_eq!(c["verdict"], "pass", "{subject} {name}: {c}");
    }
    let back = &check(&report, "critical", "running-after-daemon-start")["facts"]["delays_ms"];
    let back = back[0].as_i64().unwrap();
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
    for name in ["counter-matches-starts", "events", "restart-delays"] {
        assert_eq!(
            check(&report, "critical", name)["verdict"],
            "pass",
            "{name}"
        );
    }
    for name in [
        "running-after-daemon-start",
        "counter-frozen-while-daemon-down",
    ] {
        assert_eq!(
            check(&report, "critical", name)["verdict"],
            "not-run",
            "{name}"
        );
    }
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
    let c = check(&report, "critical", "counter-matches-starts");
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
        check(&report, "critical", "counter-never-decreases")["verdict"],
        "fail",
        "{}",
        report["checks"]
    );
    assert_eq!(
        check(&report, "critical", "counter-matches-starts")["verdict"],
        "fail"
    );
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
