//! Reference pages generated from the code must match the committed copies.

use crate::support::*;

/// `book/src/reference/FILE` is what `halab ARGS` prints now; `from` says what it is generated
/// from, for the message. Regenerate with `just reference`.
fn assert_committed_page_is_current(file: &str, args: &[&str], from: &str) {
    let state = StateDir::new();
    let out = run(halab(&state, args));
    assert_eq!(out.code, 0, "{out}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../book/src/reference")
        .join(file);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == out.stdout,
        "{} is out of date with {from}: run `just reference` and commit the result",
        path.display()
    );
}

/// `scenario-limits.txt` is `halab scenario limits`: the ranges the parser enforces, as the
/// format reference shows them.
#[test]
fn the_committed_scenario_limits_are_up_to_date() {
    assert_committed_page_is_current(
        "scenario-limits.txt",
        &["scenario", "limits"],
        "the parser's limits",
    );
}

/// `restart-model-<engine>.md` is `halab model table --engine <engine>`.
#[test]
fn the_committed_model_tables_are_up_to_date() {
    for engine in ["20.10", "29"] {
        assert_committed_page_is_current(
            &format!("restart-model-{engine}.md"),
            &["model", "table", "--engine", engine],
            "the model",
        );
    }
}

/// `scenarios.md` is `halab scenario list --markdown`: the page chapters link a scenario to.
#[test]
fn the_committed_scenarios_page_is_up_to_date() {
    assert_committed_page_is_current(
        "scenarios.md",
        &["scenario", "list", "--markdown"],
        "scenarios/",
    );
}

/// `halab model table --json` is the same table as data: every starting state × condition ×
/// input, each policy's outcome, and on which other engine a row comes out otherwise.
#[test]
fn the_model_table_as_json_has_every_row_and_the_engines_differences() {
    let state = StateDir::new();
    let table = |engine: &str| {
        let out = run(halab(
            &state,
            &["model", "table", "--json", "--engine", engine],
        ));
        assert_eq!(out.code, 0, "{out}");
        out.json()
    };
    let (old, new) = (table("20.10"), table("29"));
    assert_eq!(old["engine"], "20.10");
    assert_eq!(old["compared_with"], serde_json::json!(["29"]));
    assert_eq!(new["compared_with"], serde_json::json!(["20.10"]));
    assert_eq!(
        old["policies"],
        serde_json::json!(["no", "on-failure:1", "always", "unless-stopped"])
    );
    let rows = old["rows"].as_array().expect("rows");
    let states = old["states"].as_array().expect("states").len();
    let conditions = old["conditions"].as_array().expect("conditions").len();
    assert_eq!((states, conditions), (7, 5));
    // 13 container inputs, 4 stops of a process that ignores SIGTERM, 4 daemon inputs with
    // live-restore off and 4 with it on, and 4 after the bind source is removed, from each
    // starting state.
    assert_eq!(rows.len(), states * (13 + 4 + 4 + 4 + 4));
    for row in rows {
        let policies: Vec<&str> = row["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .map(|o| o["policy"].as_str().expect("policy"))
            .collect();
        assert_eq!(policies, ["no", "on-failure:1", "always", "unless-stopped"]);
    }

    let find = |table: &serde_json::Value, state: &str, condition: &str, input: &str| {
        table["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["state"] == state && r["condition"] == condition && r["input"] == input)
            .unwrap_or_else(|| panic!("no row {state} / {condition} / {input}"))
            .clone()
    };
    // A crash restarts under every policy but `no`, after the first back-off.
    let crash = find(&old, "running", "container", "process exits 1");
    assert_eq!(crash["same_for_every_policy"], false);
    assert_eq!(crash["outcomes"][0]["log"], serde_json::json!(["die(1)"]));
    assert_eq!(crash["outcomes"][0]["end"]["status"], "exited");
    assert_eq!(
        crash["outcomes"][3]["log"],
        serde_json::json!(["die(1) +100ms: start"])
    );
    assert_eq!(crash["outcomes"][3]["end"]["restart_count"], 1);
    assert_eq!(crash["differs_on"], serde_json::json!([]));
    // `no` never restarts, so it never reaches `restarting`.
    let pending = find(
        &old,
        "restarting (after exit 1)",
        "container",
        "`docker stop`",
    );
    assert_eq!(pending["outcomes"][0]["reached"], false);
    assert_eq!(pending["outcomes"][0]["end"], serde_json::Value::Null);
    // A refused call changes nothing.
    let refused = find(&old, "created", "container", "`docker kill`");
    assert_eq!(refused["nothing_happens"], true);
    // A stop's `stop` and `die` events come in the other order on 29, and both tables say so.
    let (stop_old, stop_new) = (
        find(&old, "running", "container", "`docker stop`"),
        find(&new, "running", "container", "`docker stop`"),
    );
    assert_eq!(
        stop_old["outcomes"][0]["log"],
        serde_json::json!(["kill(15) die(143) stop →204"])
    );
    assert_eq!(
        stop_new["outcomes"][0]["log"],
        serde_json::json!(["kill(15) stop die(143) →204"])
    );
    assert_eq!(stop_old["differs_on"], serde_json::json!(["29"]));
    assert_eq!(stop_new["differs_on"], serde_json::json!(["20.10"]));
    let marked = |table: &serde_json::Value| -> Vec<serde_json::Value> {
        table["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["differs_on"] != serde_json::json!([]))
            .map(|r| serde_json::json!([r["state"], r["condition"], r["input"]]))
            .collect()
    };
    assert_eq!(marked(&old), marked(&new));
    assert_eq!(old["backoff"][10]["delay_ms"], 60_000);
}
