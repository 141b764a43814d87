use halab_model::{
    ApiCall, ContainerAction, DaemonOp, Entry, Happening, History, Nanos, Op, OpStep, ServiceOp,
    Source,
};

use super::*;
use crate::testing::simulated;

#[test]
fn percentiles_are_nearest_rank_samples() {
    assert_eq!(Distribution::of(&[]), None);
    let d = Distribution::of(&[5.0, 1.0, 3.0]).unwrap();
    assert_eq!(
        (d.count, d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms),
        (3, 3.0, 5.0, 5.0, 5.0)
    );
    let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
    let d = Distribution::of(&hundred).unwrap();
    assert_eq!(
        (d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms),
        (50.0, 90.0, 99.0, 100.0)
    );
    assert_eq!(Distribution::of(&[f64::NAN]), None);
}

#[test]
fn a_crash_recovers_and_a_docker_kill_does_not() {
    let (_, report) = simulated("kill-vs-crash");
    let m = &report.metrics.services["critical"];
    let kinds: Vec<FaultKind> = m.faults.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FaultKind::Crash, FaultKind::ApiKill], "{m:#?}");
    let crash = &m.recovery["crash"];
    assert_eq!((crash.faults, crash.not_recovered), (1, 0));
    let ttr = crash.time_to_recover.unwrap();
    // The restart waits out the first back-off (100 ms) after the exit.
    assert!((100.0..1_000.0).contains(&ttr.max_ms), "{ttr:?}");
    let kill = &m.recovery["api-kill"];
    assert_eq!(
        (kill.faults, kill.not_recovered, kill.time_to_recover),
        (1, 1, None)
    );
    assert_eq!(m.restarts.len(), 1, "{:#?}", m.restarts);
    let r = &m.restarts[0];
    assert_eq!(r.expected_ms, Some(100.0));
    assert!((100.0..200.0).contains(&r.observed_ms), "{r:?}");
    // Down after the kill, for the watch that follows it.
    let a = m.availability.unwrap();
    assert!(0.2 < a && a < 0.95, "{a}");
    assert_eq!(
        report.metrics.detection, None,
        "the simulator sees no delay"
    );
}

#[test]
fn a_daemon_crash_is_a_fault_of_every_service() {
    let (_, report) = simulated("daemon-crash");
    let m = &report.metrics.services["critical"];
    let crash = &m.recovery["daemon-crash"];
    assert_eq!((crash.faults, crash.not_recovered), (1, 0), "{m:#?}");
    assert!(crash.time_to_recover.unwrap().max_ms > 0.0);
    // The daemon's restore is not a back-off restart.
    assert!(
        m.restarts.iter().all(|r| r.at_ms < m.faults[0].at_ms),
        "{m:#?}"
    );
}

#[test]
fn the_summary_has_a_line_per_service() {
    let (_, report) = simulated("kill-vs-crash");
    let summary = report.summary();
    let line = summary
        .lines()
        .find(|l| l.starts_with("  critical metrics: "))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(line.contains("crash ×1 back in p50"), "{line}");
    assert!(line.contains("api-kill ×1, 1 not recovered"), "{line}");
    assert!(line.contains("1 automatic restarts, ms: "), "{line}");
    assert!(!summary.contains("events reached halab"), "{summary}");
}

fn entry(ms: i64, what: Happening) -> Entry {
    Entry::new(Nanos::from_millis(ms), Source::Events, what)
}

fn event(ms: i64, action: ContainerAction) -> Entry {
    entry(
        ms,
        Happening::Container {
            node: "lab".into(),
            service: "critical".into(),
            action,
        },
    )
}

#[test]
fn detection_latency_is_seen_less_at_of_events() {
    let mut history = History::new();
    for (i, late) in [1, 2, 10].into_iter().enumerate() {
        let mut e = event(i as i64 * 100, ContainerAction::Start);
        e.seen = Some(e.at.plus_nanos(late * 1_000_000));
        history.record(e);
    }
    // The harness's own entries carry no such delay.
    let mut harness = entry(500, Happening::Phase { name: "p".into() });
    harness.source = Source::Harness;
    history.record(harness);
    let d = detection(&history).unwrap();
    assert_eq!((d.count, d.p50_ms, d.max_ms), (3, 2.0, 10.0));
}

#[test]
fn odd_histories_do_not_panic() {
    let (scenario, _) = simulated("kill-vs-crash");
    let op = |ms, id, step, op| {
        entry(
            ms,
            Happening::Op {
                node: "lab".into(),
                id,
                step,
                op,
            },
        )
    };
    let kill = Op::on("critical", ServiceOp::Api(ApiCall::Kill { signal: 9 }));
    let odd = [
        // A die before any start, an end of an operation never begun, a fault never ended.
        event(0, ContainerAction::Die { exit_code: 1 }),
        op(1, 7, OpStep::Ok { read: None }, kill.clone()),
        event(2, ContainerAction::Start),
        op(3, 8, OpStep::Invoke, Op::Daemon(DaemonOp::Crash)),
        op(3, 9, OpStep::Invoke, kill),
        event(3, ContainerAction::Start),
        event(
            i64::MAX / 1_000_000,
            ContainerAction::Die { exit_code: 137 },
        ),
        entry(
            -5,
            Happening::Phase {
                name: "late".into(),
            },
        ),
    ];
    let phases = [PhaseReport {
        name: "late".into(),
        skipped: false,
        duration_ms: i64::MAX,
        problem: None,
    }];
    for n in 0..=odd.len() {
        let history = History::from(odd[..n].to_vec());
        let m = metrics(&scenario, &history, &phases, &Replayed::default());
        let _ = m.summary();
    }
    let empty = metrics(&scenario, &History::new(), &[], &Replayed::default());
    assert_eq!(empty.services["critical"].availability, None);
}
