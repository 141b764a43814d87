//! The property-based suites: cases drawn by proptest, played on lab daemons, shrunk when they
//! fail, saved and replayed; the mutation check; the docs-versus-daemon rows. (The quick suite
//! itself runs in `just test`, after these, as `just chaos`: its output names the seed and the
//! number of cases and transitions.)

use std::path::{Path, PathBuf};

use crate::support::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("halab-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A planted failure — the suite judged by a model that treats `docker kill` as a crash — is
/// found on a lab, shrunk to a few transitions in minutes, saved as a scenario file, and that
/// file replays to the same failure (and passes the right model).
#[test]
fn a_planted_failure_shrinks_on_a_lab_and_replays_to_the_same_failure() {
    require_root();
    let state = StateDir::new();
    let report = temp_dir("planted");
    let out = run(halab(
        &state,
        &[
            "chaos",
            "suite",
            "quick",
            "--seed",
            "3",
            "--cases",
            "8",
            "--reference",
            "mutant:api-kill-as-crash",
            "--shrink-time",
            "150",
            "--no-regressions",
            "--report",
            report.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(out.code, 1, "{out}");
    let suite = out.json();
    let failure = &suite["failures"][0];
    let minimal = failure["minimal"]["transitions"].as_array().unwrap();
    assert!(
        !minimal.is_empty() && minimal.len() <= 4,
        "shrunk to {} transitions: {failure}",
        minimal.len()
    );
    assert!(
        failure["shrink_seconds"].as_f64().unwrap() < 300.0,
        "{failure}"
    );
    assert!(
        failure["shrink_lab_runs"].as_u64().unwrap() >= 1,
        "shrinking confirmed its steps on the lab: {failure}"
    );
    assert!(
        out.stderr.contains("seed 3"),
        "the seed is printed: {}",
        out.stderr
    );
    let file = PathBuf::from(failure["scenario_file"].as_str().unwrap());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("reference = \"mutant:api-kill-as-crash\""),
        "{text}"
    );

    let replayed = run(halab(
        &state,
        &[
            "chaos",
            "replay",
            file.to_str().unwrap(),
            "--report",
            report.join("replay").to_str().unwrap(),
        ],
    ));
    assert_eq!(replayed.code, 1, "{replayed}");
    assert!(replayed.stdout.contains("reproduced"), "{replayed}");
    assert!(!replayed.stdout.contains("NOT reproduced"), "{replayed}");
    // The right model passes the same schedule.
    let right = run(halab(
        &state,
        &[
            "chaos",
            "replay",
            file.to_str().unwrap(),
            "--reference",
            "engine",
            "--runtime",
            "sim",
            "--report",
            report.join("replay-engine").to_str().unwrap(),
        ],
    ));
    assert_eq!(right.code, 0, "{right}");
    assert!(state.labs().is_empty(), "labs left: {:?}", state.labs());
    let _ = std::fs::remove_dir_all(&report);
}

/// The docs-versus-daemon rows: each schedule replays on a lab to the failure it recorded for
/// its documented rule, and the engine's model passes the same run (`halab report` judges a
/// report directory again by the engine's model).
#[test]
fn every_docs_versus_daemon_row_replays_on_a_lab() {
    require_root();
    let state = StateDir::new();
    let report = temp_dir("docs-rows");
    let files = docs_rows();
    assert!(files.len() >= 4, "rows: {files:?}");
    for file in files {
        let dir = report.join(file.file_stem().unwrap());
        let replayed = run(halab(
            &state,
            &[
                "chaos",
                "replay",
                file.to_str().unwrap(),
                "--report",
                dir.to_str().unwrap(),
            ],
        ));
        assert_eq!(replayed.code, 1, "{}: {replayed}", file.display());
        assert!(
            replayed.stdout.contains("reproduced") && !replayed.stdout.contains("NOT reproduced"),
            "{}: {replayed}",
            file.display()
        );
        let by_engine = run(halab(&state, &["report", dir.to_str().unwrap()]));
        assert_eq!(by_engine.code, 0, "{}: {by_engine}", file.display());
    }
    assert!(state.labs().is_empty(), "labs left: {:?}", state.labs());
    let _ = std::fs::remove_dir_all(&report);
}

fn docs_rows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir().join("docs-vs-daemon"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn stems(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The rows are what the search finds: searched again from the same seed in the simulator, it
/// names the same documented rules, and the book's page has a section for each.
#[test]
fn the_docs_versus_daemon_report_is_what_the_search_finds() {
    let state = StateDir::new();
    let work = temp_dir("docs-sim");
    let out = run(halab(
        &state,
        &[
            "chaos",
            "docs",
            "--sim-only",
            "--seed",
            "1",
            "--report",
            work.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.code, 0, "{out}");
    let found: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("docs.json")).unwrap()).unwrap();
    let mut rules: Vec<String> = found["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["scenario_file"].is_string())
        .map(|r| r["rule"].as_str().unwrap().to_owned())
        .collect();
    rules.sort();
    assert_eq!(rules, stems(&docs_rows()), "{out}");
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book/src/docs-vs-daemon.md"),
    )
    .unwrap();
    for rule in &rules {
        assert!(
            page.contains(&format!("docs-vs-daemon/{rule}.toml")),
            "the book's page has no row for {rule}"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// `halab chaos suite quick --runtime sim --seed SEED --cases CASES EXTRA… --json`, its report
/// directory removed afterwards.
fn simulated_suite(
    state: &StateDir,
    name: &str,
    seed: &str,
    cases: &str,
    extra: &[&str],
) -> Outcome {
    let dir = temp_dir(name);
    let args = [
        &[
            "chaos",
            "suite",
            "quick",
            "--runtime",
            "sim",
            "--seed",
            seed,
            "--cases",
            cases,
            "--report",
        ][..],
        &[dir.to_str().unwrap(), "--json"],
        extra,
    ]
    .concat();
    let out = run(halab(state, &args));
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// The same seed draws the same cases; the simulator plays a suite at thousands of cases a
/// minute, and they pass (the harness agrees with its own model).
#[test]
fn a_seed_draws_the_same_suite_and_the_simulator_passes_it() {
    let state = StateDir::new();
    let played = |name: &str| simulated_suite(&state, name, "42", "400", &["--no-regressions"]);
    let (a, b) = (played("seed-a"), played("seed-b"));
    assert_eq!(a.code, 0, "{a}");
    let cases = |out: &Outcome| -> Vec<serde_json::Value> {
        out.json()["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case"].clone())
            .collect()
    };
    assert_eq!(cases(&a).len(), 400);
    assert_eq!(cases(&a), cases(&b), "the same seed drew other cases");
    for case in cases(&a) {
        let n = case["transitions"].as_array().unwrap().len();
        let services = case["services"].as_array().unwrap().len();
        assert!(
            (6..=9).contains(&n) && (3..=4).contains(&services),
            "{case}"
        );
    }
}

/// proptest's persisted failures are re-run before any new case: a seed in the lane's
/// regression file adds one case to the lane.
#[test]
fn persisted_failures_are_run_first() {
    let state = StateDir::new();
    let regressions = temp_dir("regressions");
    std::fs::create_dir_all(&regressions).unwrap();
    let count = |name: &str| {
        let out = simulated_suite(
            &state,
            name,
            "5",
            "4",
            &["--regressions", regressions.to_str().unwrap()],
        );
        assert_eq!(out.code, 0, "{out}");
        out.json()["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["lane_name"] == "restart")
            .count()
    };
    assert_eq!(count("persisted-none"), 2);
    std::fs::write(
        regressions.join("quick-restart.txt"),
        "# a seed that once failed\ncc 4d2a9f1c0b7e3a5d8c6b4a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d\n",
    )
    .unwrap();
    assert_eq!(count("persisted-one"), 3, "the persisted seed ran first");
    let _ = std::fs::remove_dir_all(&regressions);
}

/// Ctrl-C during a suite on labs: exit 130, every lab removed.
#[test]
fn an_interrupted_suite_removes_its_labs() {
    require_root();
    let state = StateDir::new();
    let report = temp_dir("interrupted");
    let mut live = Live::spawn(halab(
        &state,
        &[
            "chaos",
            "suite",
            "quick",
            "--seed",
            "9",
            "--no-regressions",
            "--report",
            report.to_str().unwrap(),
        ],
    ));
    live.wait_for("case 1:", std::time::Duration::from_secs(120));
    send_signal(live.child.id(), "INT");
    let out = live.finish(std::time::Duration::from_secs(120));
    assert_eq!(out.code, 130, "{out}");
    assert!(state.labs().is_empty(), "labs left: {:?}", state.labs());
    let _ = std::fs::remove_dir_all(&report);
}

/// What the suites found, kept as scenarios: each passes in the simulator and on a lab.
#[test]
fn the_regressions_the_suites_found_pass_on_a_lab_and_in_the_simulator() {
    require_root();
    let state = StateDir::new();
    for runtime in ["sim", "docker"] {
        let out = run(halab(
            &state,
            &["scenario", "run", "regressions", "--runtime", runtime],
        ));
        assert_eq!(out.code, 0, "{runtime}: {out}");
        let kept = scenario_stems(&scenarios_dir().join("regressions")).len();
        assert!(
            kept >= 8
                && out
                    .stdout
                    .contains(&format!("{kept} scenario(s), {kept} passed")),
            "{runtime}: {out}"
        );
    }
    assert!(state.labs().is_empty(), "labs left: {:?}", state.labs());
}
