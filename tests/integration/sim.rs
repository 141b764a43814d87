//! `--runtime sim`: the seed scenario in the simulator, judged by the same checks into the same
//! report as a real run.

use serde_json::Value;

use crate::support::*;

fn sim_run(state: &StateDir, seed: &str, extra: &[&str]) -> Value {
    let args = [
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
        ][..],
        extra,
    ]
    .concat();
    let out = run(halab(state, &args));
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
    let full = sim_run(&state, "0", &[]);
    assert_eq!(full["verdict"], "pass", "{}", full["checks"]);
    assert_eq!(full["target"]["kind"], "sim");
    let critical = &full["services"]["critical"];
    assert_eq!(critical["counter"], critical["starts"]);
    assert!(critical["starts"].as_u64().unwrap() >= 6, "{critical}");
    for (subject, name) in [
        ("daemon", "daemon-stop-time"),
        ("daemon", "daemon-start-time"),
        ("critical", "running-after-daemon-start"),
    ] {
        assert_eq!(check(&full, subject, name)["verdict"], "pass");
    }

    // The same shape as a real run's report (both without the daemon phases, which the
    // machine's daemon may not have): every key, and the same checks.
    let sim = sim_run(&state, "0", &["--skip-daemon-phases"]);
    let real = seed_on_machine_daemon(&state);
    let real = real.json();
    for part in ["", "services", "timings", "target"] {
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
            .map(|c| format!("{} {}", c["subject"], c["name"]))
            .collect()
    };
    assert_eq!(names(&sim), names(&real));
    // Each kind of entry has the same fields in both (the first entries differ: the simulated
    // daemon's own start is recorded, the machine's daemon was running already) — but `seen`,
    // when halab recorded a real daemon's event, which virtual time has no use for.
    let kinds = |v: &Value| -> std::collections::BTreeMap<String, Vec<String>> {
        v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut fields = keys(e);
                fields.retain(|k| k != "seen");
                (e["kind"].as_str().unwrap().to_owned(), fields)
            })
            .collect()
    };
    let (sim_kinds, real_kinds) = (kinds(&sim), kinds(&real));
    for kind in ["op", "container", "counter", "probe"] {
        if kind == "probe" {
            assert!(
                real_kinds.contains_key(kind),
                "a real run probes its daemon"
            );
            continue;
        }
        assert_eq!(sim_kinds.get(kind), real_kinds.get(kind), "{kind} entries");
    }
}

#[test]
fn the_simulator_is_deterministic_for_a_seed() {
    let state = StateDir::new();
    let (a, b, c) = (
        sim_run(&state, "7", &[]),
        sim_run(&state, "7", &[]),
        sim_run(&state, "8", &[]),
    );
    assert_eq!(a["history"], b["history"]);
    assert_ne!(a["history"], c["history"], "another seed, another jitter");
}
