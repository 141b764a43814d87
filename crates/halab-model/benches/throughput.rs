//! Throughput of the model and the simulator, printed with the machine it ran on.
//!
//! `cargo bench -p halab-model` (or `just bench`). Figures, each measured in this run:
//! - **model alone** (the baseline): outputs per second from driving a bare `ContainerModel`
//!   through exit → back-off → restart cycles;
//! - **simulator**: events per second from the seed service (`always`, runs 1 s, exits 0) in
//!   virtual time, history recording included, and its ratio to the baseline;
//! - **property cases**: generated operation sequences per second through the model, each checked
//!   for `RestartCount` and status consistency, and their ratio to the `cargo test` budget.
//!
//! The target is ≥ 1,000,000 simulated events per second on one core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use halab_model::sim::{Latencies, SimConfig, SimService, Simulator};
use halab_model::{
    ApiCall, ContainerModel, ContainerSpec, DaemonConfig, DaemonOp, EngineVersion, Nanos, Op,
    RestartPolicy, ServiceBehaviour, ServiceOp, Status,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// How long each measurement runs: long enough to be steady, short enough for CI.
const BUDGET: Duration = Duration::from_millis(1500);
const TARGET_EVENTS_PER_SEC: f64 = 1_000_000.0;

fn main() {
    println!("halab-model throughput");
    println!("  machine: {}", machine());
    let model = per_second(model_alone);
    let sim = per_second(simulated_seed);
    let cases = per_second(property_cases);
    println!("  model alone (baseline)   {:>12.0} outputs/s", model);
    println!(
        "  simulator                {:>12.0} events/s   {:.2}× the baseline   target ≥ {:.0}/s: {}",
        sim,
        sim / model,
        TARGET_EVENTS_PER_SEC,
        if sim >= TARGET_EVENTS_PER_SEC {
            "met"
        } else {
            "NOT MET"
        }
    );
    println!(
        "  property cases           {:>12.0} cases/s    (10,000 cases ≈ {:.2} s)",
        cases,
        10_000.0 / cases
    );
}

/// Runs `work` (which returns how many units it did) repeatedly for [`BUDGET`] on this thread.
fn per_second(mut work: impl FnMut() -> u64) -> f64 {
    work(); // warm up
    let started = Instant::now();
    let mut units = 0;
    while started.elapsed() < BUDGET {
        units += work();
    }
    units as f64 / started.elapsed().as_secs_f64()
}

/// The baseline: the bare model, an `always` container exiting as soon as it is restarted.
fn model_alone() -> u64 {
    let mut model = ContainerModel::new(RestartPolicy::Always, EngineVersion::V20_10);
    let mut now = Nanos(0);
    let mut outputs = model.apply(ServiceOp::Api(ApiCall::Start), now).len() as u64;
    for _ in 0..10_000 {
        // Run 11 s so the back-off resets, as a long-lived service's would.
        now = Nanos(now.0 + 11_000_000_000);
        outputs += model.apply(ServiceOp::Exit { code: 0 }, now).len() as u64;
        if let Some(at) = model.next_deadline() {
            now = at;
            outputs += model.advance(now).len() as u64;
        }
    }
    black_box(&model);
    outputs
}

/// The simulator playing the seed service for a while of virtual time.
fn simulated_seed() -> u64 {
    let config = SimConfig {
        engine: EngineVersion::V20_10,
        daemon: DaemonConfig::default(),
        latencies: Latencies::default(),
        seed: 1,
    };
    let service = SimService {
        name: "svc".into(),
        spec: ContainerSpec::with_policy(RestartPolicy::Always),
        behaviour: ServiceBehaviour::exits_after(1_000, 0),
        counter_initial: 0,
    };
    let mut sim = Simulator::new(config, "bench", vec![service], Nanos(0));
    sim.perform(&Op::on("svc", ServiceOp::Api(ApiCall::Start)));
    // Back-off grows to its 1 min cap; 6 hours of virtual time is a few thousand cycles.
    sim.run_until(Nanos(6 * 3_600 * 1_000_000_000), |_| false);
    sim.perform(&Op::Daemon(DaemonOp::Stop));
    sim.run_until(Nanos(7 * 3_600 * 1_000_000_000), |_| false);
    let events = sim.history().entries().len() as u64;
    black_box(sim);
    events
}

/// 256 generated cases through the model, each checked as the property tests check it.
fn property_cases() -> u64 {
    const CASES: u32 = 256;
    let service = |op: ServiceOp| Op::on("c", op);
    let input = prop_oneof![
        (0i64..3).prop_map(move |code| service(ServiceOp::Exit { code })),
        Just(service(ServiceOp::Signal { signal: 9 })),
        Just(service(ServiceOp::Api(ApiCall::Start))),
        Just(service(ServiceOp::Api(ApiCall::Stop {
            timeout_s: Some(1)
        }))),
        Just(service(ServiceOp::Api(ApiCall::Kill { signal: 9 }))),
        Just(Op::Daemon(DaemonOp::Stop)),
        Just(Op::Daemon(DaemonOp::Crash)),
        Just(Op::Daemon(DaemonOp::Start)),
    ];
    let steps = proptest::collection::vec((input, 0i64..20_000), 1..40);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&steps, |steps| {
            let mut model = ContainerModel::new(RestartPolicy::Always, EngineVersion::V20_10);
            let mut now = Nanos(0);
            let mut count = 0;
            for (op, wait_ms) in steps {
                model.apply_op(&op, now);
                now = Nanos(now.0 + wait_ms * 1_000_000);
                model.advance(now);
                let state = model.state();
                prop_assert!(state.restart_count >= count || state.restart_count <= 1);
                prop_assert!(state.status != Status::Removing);
                count = state.restart_count;
            }
            Ok(())
        })
        .expect("the model holds its invariants");
    u64::from(CASES)
}

/// One line about the machine: CPU model and how many cores (the bench uses one).
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores ({} {}), one core used",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
