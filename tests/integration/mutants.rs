//! A deliberately wrong model makes the oracle fail the runs that show the difference. The
//! oracle judges every run by replaying it through the model, so a model that misreads Docker
//! must be caught by the scenarios — on a real lab, and in the simulator for every mutant.

use crate::support::*;

/// `unless-stopped` treated as `always` at daemon start: on a lab, after dockerd is killed,
/// Docker 20.10 leaves `unless-stopped` down (restore's stop counts as a manual one) and the
/// wrong model predicts its restart — the oracle fails that service, and only that service.
#[test]
fn a_wrong_model_fails_the_scenario_that_shows_the_difference_on_a_lab() {
    require_root();
    let state = StateDir::new();
    let out = run(halab(
        &state,
        &[
            "scenario",
            "run",
            "policies-under-daemon-crash",
            "--reference",
            "mutant:unless-stopped-as-always",
            "--json",
        ],
    ));
    assert_eq!(out.code, 1, "{out}");
    let report = out.json();
    assert_eq!(report["verdict"], "fail");
    let events = check(&report, "unless-stopped", "events");
    assert_eq!(events["verdict"], "fail", "{events}");
    let evidence = &events["evidence"][0];
    assert_eq!(evidence["predicted"]["text"], "start", "{evidence}");
    assert_eq!(evidence["op"]["text"], "daemon-start", "{evidence}");
    assert_eq!(
        check(&report, "unless-stopped", "final-status")["facts"]["observed"],
        "exited"
    );
    for service in ["no", "on-failure", "always"] {
        assert_eq!(
            check(&report, service, "events")["verdict"],
            "pass",
            "the mutant changes nothing for {service}"
        );
    }
    assert!(state.labs().is_empty(), "labs left: {:?}", state.labs());
}

/// Every mutant of the model is caught by a shipped scenario (played in the simulator, which
/// plays the right model, and judged with the wrong one), and the same scenario passes when
/// judged with the right model.
#[test]
fn every_mutant_is_caught_by_a_shipped_scenario() {
    let caught_by = [
        ("unless-stopped-as-always", "unless-stopped-after-stop"),
        ("backoff-never-reset", "restart-always"),
        ("backoff-reset-after-1s", "on-failure"),
        ("api-kill-as-crash", "kill-vs-crash"),
        ("on-failure-consecutive", "daemon-crash"),
        ("restart-count-not-reset", "restart-always"),
    ];
    let state = StateDir::new();
    for (mutant, scenario) in caught_by {
        let judged = |extra: &[&str]| {
            let args = [
                &["scenario", "run", scenario, "--runtime", "sim", "--json"][..],
                extra,
            ]
            .concat();
            run(halab(&state, &args))
        };
        let reference = format!("mutant:{mutant}");
        let wrong = judged(&["--reference", &reference]);
        assert_eq!(wrong.code, 1, "{mutant} not caught by {scenario}: {wrong}");
        let failing: Vec<String> = wrong.json()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["verdict"] == "fail")
            .map(|c| format!("{} {}", c["subject"], c["name"]))
            .collect();
        assert!(!failing.is_empty(), "{mutant}: {wrong}");
        let right = judged(&[]);
        assert_eq!(right.code, 0, "{scenario} with the right model: {right}");
    }
}
