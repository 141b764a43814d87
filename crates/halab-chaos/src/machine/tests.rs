//! The state machine: drawing, compiling and shrinking cases, in the simulator.

use super::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng};

const QUICK: Shape = Shape {
    services: (3, 4),
    transitions: (6, 9),
    daemon_faults: (1, 2),
    longest_wait_ms: 11_000,
    rare_faults: false,
};

fn rng(seed: u8) -> TestRng {
    TestRng::from_seed(RngAlgorithm::XorShift, &[seed; 16])
}

#[test]
fn a_seed_draws_the_same_case_and_cases_have_their_shape() {
    for seed in 0..50 {
        let case = draw(QUICK, seed % 2 == 0, &mut rng(seed));
        assert_eq!(case, draw(QUICK, seed % 2 == 0, &mut rng(seed)));
        assert!((3..=4).contains(&case.services.len()), "{case}");
        assert!((6..=9).contains(&case.transitions.len()), "{case}");
        assert!((1..=2).contains(&case.daemon_faults()), "{case}");
        assert_eq!(normalize(case.clone()), case, "a drawn case is normal");
    }
}

#[test]
fn a_compiled_case_waits_for_what_the_model_predicts_and_inspects_after_each_transition() {
    let case = Case {
        live_restore: false,
        services: vec![
            ServicePlan {
                name: "always".into(),
                policy: RestartPolicy::Always,
                on_stop_signal: SignalResponse::Ignore,
            },
            ServicePlan {
                name: "no".into(),
                policy: RestartPolicy::No,
                on_stop_signal: SignalResponse::Ignore,
            },
        ],
        transitions: vec![
            Op::on("always", ServiceOp::Signal { signal: SIGKILL }),
            Op::Daemon(DaemonOp::Crash),
        ],
    };
    let scenario = compile(&case, "c", "");
    let ops: Vec<String> = scenario.phases[0].tracks[0]
        .ops
        .iter()
        .map(|op| op.to_string())
        .collect();
    assert_eq!(ops[0], "crash (SIGKILL from the host) always");
    assert!(
        ops[1].starts_with("wait for 1 start(s) of always"),
        "{ops:?}"
    );
    assert_eq!(&ops[2..4], ["docker inspect always", "docker inspect no"]);
    // The crash, then the daemon started again by the run (no inspection while it is down);
    // restore stops both (it finds them alive) and brings `always` back.
    assert_eq!(ops[4], "daemon-crash");
    assert_eq!(ops[5], "daemon-start");
    assert!(
        ops[6].starts_with("wait for 1 start(s) of always"),
        "{ops:?}"
    );
    assert!(ops[7].starts_with("wait for 1 die(s) of no"), "{ops:?}");
    assert_eq!(ops.len(), 10, "{ops:?}");
}

#[test]
fn shrinking_removes_most_first_and_never_repeats_the_case() {
    let case = draw(QUICK, false, &mut rng(3));
    let candidates = simplifications(&case);
    assert!(!candidates.is_empty());
    assert!(candidates.iter().all(|c| *c != case));
    assert_eq!(
        candidates[0].services.len(),
        case.services.len() - 1,
        "a whole service goes first"
    );
    for c in &candidates {
        assert_eq!(normalize(c.clone()), *c);
    }
}

#[test]
fn normalizing_drops_daemon_operations_that_make_no_sense_then() {
    let case = Case {
        live_restore: false,
        services: vec![],
        transitions: vec![
            Op::Daemon(DaemonOp::Start),
            Op::Daemon(DaemonOp::Stop),
            Op::Daemon(DaemonOp::Crash),
            Op::Daemon(DaemonOp::Start),
            Op::Daemon(DaemonOp::Start),
        ],
    };
    let names: Vec<String> = normalize(case)
        .transitions
        .iter()
        .map(Op::to_string)
        .collect();
    assert_eq!(names, ["daemon-stop", "daemon-start"]);
}

/// The shrinker finds the smallest case that keeps a failure: here, "an API kill of the
/// `always` service", buried in a drawn case.
#[test]
fn the_tree_shrinks_to_the_one_transition_that_fails() {
    let fails = |case: &Case| {
        case.transitions.iter().any(|op| {
            matches!(op, Op::Service { service, op: ServiceOp::Api(ApiCall::Kill { .. }) } if service == "always")
        })
    };
    let mut case = None;
    for seed in 0..=255 {
        let c = draw(QUICK, false, &mut rng(seed));
        if fails(&c) && c.transitions.len() >= 7 {
            case = Some(c);
            break;
        }
    }
    let case = case.expect("some seed draws an API kill of `always`");
    let mut tree = CaseTree::new(case);
    let mut runs = 0;
    let mut smallest = tree.current();
    if tree.simplify() {
        loop {
            runs += 1;
            let current = tree.current();
            let more = if fails(&current) {
                smallest = current;
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !more {
                break;
            }
        }
    }
    assert_eq!(smallest.transitions.len(), 1, "{smallest}");
    assert_eq!(smallest.services.len(), 1, "{smallest}");
    assert!(runs < 40, "{runs} runs to shrink");
}
