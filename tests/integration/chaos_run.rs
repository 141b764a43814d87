//! `halab chaos run` and `halab report`: a schedule drawn from a seed is the same every time
//! and `--dry-run` touches nothing; the shipped random schedule passes in the simulator for
//! many seeds and on a lab; and a runner killed with SIGKILL leaves a history prefix that
//! `halab report` judges as undecided, never a pass, while `halab gc` removes the rest.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A fresh directory for a test's reports.
fn reports_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("halab-reports-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_seed_draws_the_same_schedule_and_a_dry_run_touches_nothing() {
    let state = StateDir::new();
    let cwd = reports_dir("dry-run");
    let dry = |seed: &str| {
        let mut cmd = halab(
            &state,
            &["chaos", "run", "chaos/mixed", "--seed", seed, "--dry-run"],
        );
        cmd.current_dir(&cwd);
        let out = run(cmd);
        assert_eq!(out.code, 0, "{out}");
        out.stdout
    };
    let first = dry("42");
    assert_eq!(first, dry("42"), "seed 42 drew two schedules");
    assert_ne!(first, dry("43"));
    assert!(first.starts_with("# mixed: seed 42, "), "{first}");
    assert!(first.contains("[[phases]]\nname = \"chaos\""), "{first}");
    // Nothing made: no report directory, no lab, no run directory of this test's.
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "a dry run wrote files"
    );
    assert!(state.labs().is_empty());
    // The same with a shorter --duration: fewer faults, all within it.
    let mut cmd = halab(
        &state,
        &[
            "chaos",
            "run",
            "chaos/mixed",
            "--seed",
            "42",
            "--duration",
            "10",
            "--dry-run",
        ],
    );
    cmd.current_dir(&cwd);
    let short = run(cmd);
    assert_eq!(short.code, 0, "{short}");
    assert!(short.stdout.len() < first.len());
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn bad_chaos_flags_are_refused_and_lose_nothing() {
    let state = StateDir::new();
    for (args, says) in [
        (&["--duration", "0"][..], "--duration 0"),
        (&["--duration", "nan"][..], "--duration"),
        (&["--duration", "86400"][..], "at most 2000"),
        (
            &["--runtime", "sim", "--lab", "x"][..],
            "takes no --docker-host or --lab",
        ),
        (&["--engine", "29"][..], "--engine is the simulator's"),
    ] {
        let out = run(halab(
            &state,
            &[&["chaos", "run", "chaos/mixed", "--dry-run"][..], args].concat(),
        ));
        assert_eq!(out.code, 2, "{args:?}: {out}");
        assert!(out.stderr.contains(says), "{args:?}: {out}");
    }
    let not_chaos = run(halab(
        &state,
        &["chaos", "run", "kill-vs-crash", "--duration", "5"],
    ));
    assert_eq!(not_chaos.code, 2, "{not_chaos}");
    assert!(not_chaos.stderr.contains("has none"), "{not_chaos}");
    let not_a_report = run(halab(&state, &["report", "/nonexistent-halab-report"]));
    assert_eq!(not_a_report.code, 2, "{not_a_report}");
    assert!(
        not_a_report.stderr.contains("not a halab report directory"),
        "{not_a_report}"
    );
    assert!(state.labs().is_empty());
}

#[test]
fn the_random_schedule_passes_in_the_simulator_for_many_seeds() {
    let state = StateDir::new();
    let reports = reports_dir("sim-seeds");
    for seed in 0..24 {
        let dir = reports.join(seed.to_string());
        let out = run(halab(
            &state,
            &[
                "chaos",
                "run",
                "chaos/mixed",
                "--runtime",
                "sim",
                "--seed",
                &seed.to_string(),
                "--report",
                dir.to_str().unwrap(),
                "--junit",
                dir.join("junit.xml").to_str().unwrap(),
            ],
        ));
        assert_eq!(out.code, 0, "seed {seed}: {out}");
        assert!(
            out.stdout.contains(&format!("seed {seed}; report: ")),
            "{out}"
        );
        let result = read_json(&dir.join("result.json"));
        assert_eq!(result["verdict"], "pass");
        assert_eq!(result["params"]["chaos.seed"], seed.to_string());
        let lines = std::fs::read_to_string(dir.join("history.jsonl"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, result["history"].as_array().unwrap().len());
        assert!(
            std::fs::read_to_string(dir.join("junit.xml"))
                .unwrap()
                .contains("<testcase")
        );
        assert!(
            std::fs::read_to_string(dir.join("report.html"))
                .unwrap()
                .contains("<svg")
        );
        // Judged again from the directory: the same verdict.
        let again = run(halab(&state, &["report", dir.to_str().unwrap()]));
        assert_eq!(again.code, 0, "seed {seed}: {again}");
    }
    std::fs::remove_dir_all(&reports).unwrap();
}

/// A shipped random schedule, shortened, on a lab daemon: every fault kind it draws and a
/// daemon fault, judged by the model.
fn passes_on_a_lab(scenario: &str, seed: &str, duration: &str) {
    require_root();
    let state = StateDir::new();
    let reports = reports_dir(&scenario.replace('/', "-"));
    let dir = reports.join("run");
    let out = run(halab(
        &state,
        &[
            "chaos",
            "run",
            scenario,
            "--seed",
            seed,
            "--duration",
            duration,
            "--report",
            dir.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.code, 0, "{out}");
    let result = read_json(&dir.join("result.json"));
    let ops: Vec<String> = result["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "op" && e["type"] == "invoke")
        .map(|e| e["op"].to_string())
        .collect();
    assert!(
        ops.iter().any(|op| op.contains("daemon")),
        "no daemon fault: {ops:?}"
    );
    assert!(
        ops.iter().any(|op| op.contains("signal")),
        "no crash: {ops:?}"
    );
    assert!(state.labs().is_empty(), "the run's lab is left");
    std::fs::remove_dir_all(&reports).unwrap();
}

#[test]
fn the_random_schedule_passes_on_a_lab() {
    passes_on_a_lab("chaos/mixed", LAB_SEED, "30");
}

#[test]
fn the_eight_service_schedule_passes_on_a_lab() {
    passes_on_a_lab("chaos/mixed-eight", "5", "20");
}

/// A seed whose 30-second schedule draws crashes, API calls and a daemon fault.
const LAB_SEED: &str = "3";

#[test]
fn a_runner_killed_with_sigkill_leaves_a_prefix_that_is_never_a_pass() {
    require_root();
    let state = StateDir::new();
    let reports = reports_dir("killed");
    let dir = reports.join("run");
    let mut live = Live::spawn(halab(
        &state,
        &[
            "chaos",
            "run",
            "chaos/mixed",
            "--seed",
            LAB_SEED,
            "--report",
            dir.to_str().unwrap(),
        ],
    ));
    live.wait_for("phase 1/1: chaos", Duration::from_secs(120));
    // Some faults in, then SIGKILL: no teardown, no report.
    live.wait_for("die", Duration::from_secs(60));
    live.child.kill().unwrap();
    live.child.wait().unwrap();
    assert!(!dir.join("result.json").exists());
    let run_id = read_json(&dir.join("started.json"))["run_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let report = run(halab(&state, &["report", dir.to_str().unwrap()]));
    assert_eq!(
        report.code, 3,
        "a killed run's prefix must be undecided: {report}"
    );
    assert!(report.stdout.starts_with("UNKNOWN"), "{report}");
    assert!(report.stdout.contains("run-finished"), "{report}");
    assert!(
        !report
            .stdout
            .lines()
            .any(|l| l.contains("phases-completed") && l.trim_start().starts_with("ok")),
        "a prefix cannot show every phase completed: {report}"
    );
    assert!(dir.join("report.html").exists());
    assert!(
        !dir.join("result.json").exists(),
        "the prefix was made to look finished"
    );

    let gc = run(halab(&state, &["gc", "--run", &run_id]));
    assert_eq!(gc.code, 0, "{gc}");
    assert!(state.labs().is_empty());
    assert!(!netns_exists(&run_id));
    assert!(!Path::new(&format!("/tmp/halab-{run_id}")).exists());
    assert!(processes_mentioning(&state.0.display().to_string()).is_empty());
    std::fs::remove_dir_all(&reports).unwrap();
}
