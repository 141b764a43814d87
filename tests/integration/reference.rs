//! Reference pages generated from the code must match the committed copies.

use crate::support::*;

/// `book/src/reference/scenario-limits.txt` is `halab scenario limits`: the ranges the parser
/// enforces, as the format reference shows them. Regenerate with `just reference`.
#[test]
fn the_committed_scenario_limits_are_up_to_date() {
    let state = StateDir::new();
    let out = run(halab(&state, &["scenario", "limits"]));
    assert_eq!(out.code, 0, "{out}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../book/src/reference/scenario-limits.txt");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == out.stdout,
        "{} is out of date with the parser's limits: run `just reference` and commit the result",
        path.display()
    );
}

/// `book/src/reference/restart-model-<engine>.md` is `halab model table --engine <engine>`.
/// Regenerate with `just reference`.
#[test]
fn the_committed_model_tables_are_up_to_date() {
    let state = StateDir::new();
    for engine in ["20.10", "29"] {
        let out = run(halab(&state, &["model", "table", "--engine", engine]));
        assert_eq!(out.code, 0, "{out}");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
            "../../book/src/reference/restart-model-{engine}.md"
        ));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == out.stdout,
            "{} is out of date with the model: run `just reference` and commit the result",
            path.display()
        );
    }
}

/// `book/src/reference/scenarios.md` is `halab scenario list --markdown`: the page chapters link
/// a scenario to. Regenerate with `just reference`.
#[test]
fn the_committed_scenarios_page_is_up_to_date() {
    let state = StateDir::new();
    let out = run(halab(&state, &["scenario", "list", "--markdown"]));
    assert_eq!(out.code, 0, "{out}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../book/src/reference/scenarios.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == out.stdout,
        "{} is out of date with scenarios/: run `just reference` and commit the result",
        path.display()
    );
}
