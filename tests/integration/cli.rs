//! The command line around the runs: completions, flags that belong to one runtime, the
//! scenario list, and which scenarios directory is used.

use crate::support::*;

#[test]
fn completions_are_printed_for_each_shell() {
    let state = StateDir::new();
    for (shell, marker) in [
        ("bash", "complete -F _halab"),
        ("zsh", "#compdef halab"),
        ("fish", "complete -c halab"),
    ] {
        let out = run(halab(&state, &["completions", shell]));
        assert_eq!(out.code, 0, "{out}");
        assert!(
            out.stdout.contains(marker),
            "{shell}: no {marker:?}:\n{out}"
        );
        for word in ["scenario", "lab", "gc", "runtime", "skip-daemon-phases"] {
            assert!(out.stdout.contains(word), "{shell} completes no {word}");
        }
    }
    let out = run(halab(&state, &["completions", "cmd.exe"]));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("possible values"), "{out}");
}

#[test]
fn simulator_flags_are_refused_on_a_real_daemon() {
    let state = StateDir::new();
    for flag in [["--seed", "3"], ["--engine", "29"]] {
        let args = [&["scenario", "run", "restart-always"][..], &flag[..]].concat();
        let out = run(halab(&state, &args));
        assert_eq!(out.code, 2, "{out}");
        assert!(
            out.stderr
                .contains(&format!("{} is the simulator's", flag[0])),
            "{out}"
        );
        assert!(out.stdout.is_empty(), "{out}");
    }
    assert!(state.labs().is_empty(), "a refused run made a lab");
}

/// `--engine 29` simulates, and judges with, the model of Docker 29: the same file gives what
/// that engine does, and the report names the model it was judged by.
#[test]
fn the_simulator_models_the_engine_it_is_given() {
    let state = StateDir::new();
    for (engine, model) in [("20.10", "model of 20.10"), ("29", "model of 29")] {
        let out = run(halab(
            &state,
            &[
                "scenario",
                "run",
                "kill-vs-crash",
                "--runtime",
                "sim",
                "--engine",
                engine,
                "--json",
            ],
        ));
        assert_eq!(out.code, 0, "{out}");
        let report = out.json();
        assert_eq!(report["verdict"], "pass", "{out}");
        assert_eq!(report["target"]["engine_version"], model, "{out}");
        assert!(
            out.stderr
                .contains(&format!("simulating engine {engine} in virtual time")),
            "{out}"
        );
    }
}

#[test]
fn the_scenario_list_aligns_its_summaries() {
    let state = StateDir::new();
    let out = run(halab(&state, &["scenario", "list"]));
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len() >= 16, "{out}");
    let name_width = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().chars().count())
        .max()
        .unwrap();
    for line in &lines {
        let summary_at = line.char_indices().nth(name_width + 2).map(|(i, _)| i);
        let (name, summary) = line.split_at(summary_at.expect("a summary"));
        assert!(
            name.ends_with("  ") && !summary.starts_with(' '),
            "summary not in its column: {line:?}"
        );
    }
}

/// A ./scenarios of the current directory replaces the built-in scenarios: halab says so.
#[test]
fn a_scenarios_folder_here_is_named_when_it_hides_the_built_in_one() {
    let state = StateDir::new();
    let here = state.0.join("project");
    std::fs::create_dir_all(here.join("scenarios")).unwrap();
    std::fs::copy(
        scenarios_dir().join("backoff.toml"),
        here.join("scenarios/mine.toml"),
    )
    .unwrap();
    let mut cmd = halab(&state, &["scenario", "list"]);
    cmd.env_remove("HALAB_SCENARIOS").current_dir(&here);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("mine "), "{out}");
    assert!(
        out.stderr
            .contains("scenarios from ./scenarios (the current directory's, not the built-in"),
        "{out}"
    );
    // In the repository itself ./scenarios is the built-in directory: nothing to say.
    let mut cmd = halab(&state, &["scenario", "list"]);
    cmd.env_remove("HALAB_SCENARIOS")
        .current_dir(scenarios_dir().join(".."));
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.is_empty(), "{out}");
}

/// `scenario compare`: the simulator's prediction and a lab's run of `kill-vs-crash`, event by
/// event. Docker 20.10 does what the model says here, so every row matches.
#[test]
fn compare_puts_the_prediction_beside_a_real_run() {
    require_root();
    let state = StateDir::new();
    let out = run(halab(&state, &["scenario", "compare", "kill-vs-crash"]));
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("side by side: predicted by sim seed 0 | observed on lab "),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("the real daemon did what the simulator predicted, event for event"),
        "{out}"
    );
    let table = out.stdout.split("side by side:").nth(1).expect("a table");
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("die(137)")).collect();
    assert_eq!(
        rows.len(),
        2,
        "a crash and a docker kill, each on both sides:\n{out}"
    );
    assert!(
        rows.iter().all(|r| r.matches("die(137)").count() == 2),
        "{out}"
    );
    assert!(!out.stdout.contains('≠'), "{out}");
    assert!(out.stderr.contains("simulating engine 20.10"), "{out}");
    assert!(state.labs().is_empty(), "the run's lab was not removed");
}
