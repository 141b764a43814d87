//! `--runtime sim`: the seed scenario in the simulator, judged by the same checks into the same
//! report as a real run.

use serde_json::Value;

use crate::support::*;

fn sim_run(state: &StateDir, seed: &str) -> Value {
    let out = run(halab(
        state,
        &[
            "scenario",
            "run",
            "restart-always",
            "--runtime",
            "sim",
            "--seed",
            seed,
            "--set",
            "sleep=1",
            "--json",
        ],
    ));
    assert_eq!(out.code, 0, "{out}");
    out.json()
}

fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn the_seed_passes_in_the_simulator_with_the_checks_and_shape_of_a_real_run() {
    require_machine_daemon();
    let state = StateDir::new();
    let sim = sim_run(&state, "0");
    assert_eq!(sim["verdict"], "pass", "{}", sim["checks"]);
    assert_eq!(sim["target"]["kind"], "sim");
    assert_eq!(sim["counts"]["counter"], sim["counts"]["starts"]);
    assert!(
        sim["counts"]["restarts_before_daemon_phases"]
            .as_u64()
            .unwrap()
            >= 3
    );

    // The same shape as a real run's report: every key, and the same checks.
    let real = seed_on_machine_daemon(&state);
    let real = real.json();
    for part in ["", "counts", "timings", "target"] {
        let (s, r) = if part.is_empty() {
            (&sim, &real)
        } else {
            (&sim[part], &real[part])
        };
        assert_eq!(keys(s), keys(r), "keys of {part:?}");
    }
    let names = |v: &Value| -> Vec<String> {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&sim), names(&real));
    let entry_keys = |v: &Value| keys(&v["history"][0]);
    assert_eq!(entry_keys(&sim), entry_keys(&real));
}

#[test]
fn the_simulator_is_deterministic_for_a_seed() {
    let state = StateDir::new();
    let (a, b, c) = (
        sim_run(&state, "7"),
        sim_run(&state, "7"),
        sim_run(&state, "8"),
    );
    assert_eq!(a["history"], b["history"]);
    assert_ne!(a["history"], c["history"], "another seed, another jitter");
}
