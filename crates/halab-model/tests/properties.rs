//! Properties of the model over generated sequences of inputs and waits.
//!
//! Each property states one thing the engine's code guarantees about restarts, checked against
//! records of a driven model. The oracles here are written from the moby code independently of
//! the model (the back-off arithmetic included), so a slip in either shows up as a disagreement.
//! Case counts add up to well over 10,000 per `cargo test`.

use halab_model::signal::{SIGHUP, SIGINT, SIGKILL, SIGTERM};
use halab_model::{
    Answer, ApiCall, CgroupVersion, ContainerAction, ContainerModel, DaemonOp, DaemonPhase,
    EngineVersion, ModelConfig, Nanos, Observed, Op, Output, RestartPolicy, ServiceOp,
    SignalResponse, Status, Wait,
};
use proptest::prelude::*;

const MS: i64 = 1_000_000;
const T0: Nanos = Nanos(1_700_000_000_000 * MS);

// ----- driving ---------------------------------------------------------------------------------

/// The one container the properties drive, as ops name it.
const SVC: &str = "svc";

fn on(op: ServiceOp) -> Op {
    Op::on(SVC, op)
}

/// One call into the model: an op, or time reaching a timer.
#[derive(Debug, Clone)]
struct Record {
    at: Nanos,
    input: Option<Op>,
    outputs: Vec<Output>,
    before: Observed,
    after: Observed,
    pending_before: Option<Nanos>,
    pending_after: Option<Nanos>,
}

impl Record {
    fn count(&self, pred: impl Fn(&ContainerAction) -> bool) -> usize {
        self.outputs
            .iter()
            .filter_map(Output::action)
            .filter(|a| pred(a))
            .count()
    }

    fn starts(&self) -> usize {
        self.count(|a| matches!(a, ContainerAction::Start))
    }

    fn dies(&self) -> usize {
        self.count(|a| matches!(a, ContainerAction::Die { .. }))
    }

    fn has_restart_event(&self) -> bool {
        self.count(|a| matches!(a, ContainerAction::Restart)) > 0
    }

    fn answered(&self, call: fn(&ApiCall) -> bool) -> bool {
        self.outputs.iter().any(|o| {
            matches!(o, Output::Reply { call: c, answer: Answer::Status { code: 204 } } if call(c))
        })
    }

    /// The daemon finished restoring in this call (possibly after stopping the container).
    fn restored(&self) -> bool {
        self.outputs
            .iter()
            .any(|o| matches!(o, Output::Daemon(halab_model::DaemonAction::Ready)))
    }

    /// A start that threw the restart manager away: `docker start`, `docker restart`, or the
    /// daemon starting the container as it restores it.
    fn reset_start(&self) -> bool {
        self.starts() > 0
            && (self.answered(|c| matches!(c, ApiCall::Start))
                || self.has_restart_event()
                || self.restored())
    }

    /// A start the back-off timer made.
    fn automatic_start(&self) -> bool {
        self.starts() > 0 && !self.reset_start()
    }
}

/// Runs `steps` (ops, waits among them) after an initial `docker start`, recording every call.
fn run(config: ModelConfig, steps: &[Op]) -> (ContainerModel, Vec<Record>) {
    let mut model = ContainerModel::with_config(config);
    let mut records = Vec::new();
    let mut now = T0;
    let mut call = |model: &mut ContainerModel, at: Nanos, input: Option<Op>| {
        let before = model.state();
        let pending_before = model.pending_restart_at();
        let outputs = match &input {
            Some(input) => model.apply_op(input, at),
            None => model.advance(at),
        };
        records.push(Record {
            at,
            input,
            outputs,
            before,
            after: model.state(),
            pending_before,
            pending_after: model.pending_restart_at(),
        });
    };
    call(&mut model, now, Some(on(ServiceOp::Api(ApiCall::Start))));
    for step in steps {
        match step {
            Op::Wait(Wait::For { ms }) => {
                let target = Nanos(now.0 + *ms as i64 * MS);
                while let Some(at) = model.next_deadline().filter(|at| *at <= target) {
                    call(&mut model, at, None);
                }
                now = target;
                assert!(model.advance(now).is_empty(), "no timer was left behind");
            }
            op => call(&mut model, now, Some(op.clone())),
        }
    }
    (model, records)
}

// ----- generators ------------------------------------------------------------------------------

fn any_policy() -> impl Strategy<Value = RestartPolicy> {
    prop_oneof![
        Just(RestartPolicy::No),
        (0u32..=3).prop_map(|max_retries| RestartPolicy::OnFailure { max_retries }),
        Just(RestartPolicy::Always),
        Just(RestartPolicy::UnlessStopped),
    ]
}

fn any_response() -> impl Strategy<Value = SignalResponse> {
    prop_oneof![
        3 => Just(SignalResponse::Die),
        2 => Just(SignalResponse::Ignore),
        1 => Just(SignalResponse::Exit { code: 0 }),
        1 => Just(SignalResponse::Exit { code: 1 }),
    ]
}

fn any_config(policy: impl Strategy<Value = RestartPolicy>) -> impl Strategy<Value = ModelConfig> {
    (
        policy,
        prop_oneof![Just(EngineVersion::V20_10), Just(EngineVersion::V29)],
        any::<bool>(),
        prop_oneof![Just(CgroupVersion::V1), Just(CgroupVersion::V2)],
        prop_oneof![3 => Just(None), 1 => Just(Some(SIGINT))],
        prop_oneof![2 => Just(None), 1 => Just(Some(0)), 1 => Just(Some(1)), 1 => Just(Some(2))],
        any_response(),
        prop_oneof![3 => Just(SignalResponse::Ignore), 1 => Just(SignalResponse::Die)],
    )
        .prop_map(
            |(
                policy,
                engine,
                live_restore,
                cgroup,
                stop_signal,
                stop_timeout,
                on_stop,
                on_other,
            )| {
                let mut config = ModelConfig::new(policy, engine);
                config.daemon.live_restore = live_restore;
                config.daemon.cgroup = cgroup;
                config.container.stop_signal = stop_signal;
                config.container.stop_timeout_s = stop_timeout;
                config.container.workload.on_stop_signal = on_stop;
                config.container.workload.on_other_signal = on_other;
                config
            },
        )
}

fn process_input() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop_oneof![Just(0i64), Just(1), Just(2), Just(137)]
            .prop_map(|code| on(ServiceOp::Exit { code })),
        2 => prop_oneof![Just(SIGKILL), Just(SIGTERM), Just(SIGINT), Just(SIGHUP)]
            .prop_map(|signal| on(ServiceOp::Signal { signal })),
        1 => Just(on(ServiceOp::Oom)),
    ]
}

fn timeout() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![3 => Just(None), 1 => Just(Some(0)), 1 => Just(Some(1)), 1 => Just(Some(-1))]
}

fn api_call(updates: bool) -> BoxedStrategy<ApiCall> {
    let calls = prop_oneof![
        4 => Just(ApiCall::Start),
        3 => timeout().prop_map(|timeout_s| ApiCall::Stop { timeout_s }),
        3 => prop_oneof![Just(0), Just(SIGKILL), Just(SIGHUP), Just(SIGTERM), Just(SIGINT)]
            .prop_map(|signal| ApiCall::Kill { signal }),
        2 => timeout().prop_map(|timeout_s| ApiCall::Restart { timeout_s }),
        1 => Just(ApiCall::Pause),
        1 => Just(ApiCall::Unpause),
    ];
    let rare_remove = prop_oneof![19 => calls, 1 => Just(ApiCall::RemoveForce)];
    if updates {
        prop_oneof![
            12 => rare_remove,
            1 => any_policy().prop_map(|policy| ApiCall::UpdateRestartPolicy { policy }),
        ]
        .boxed()
    } else {
        rare_remove.boxed()
    }
}

fn daemon_input() -> impl Strategy<Value = DaemonOp> {
    prop_oneof![
        2 => Just(DaemonOp::Stop),
        2 => Just(DaemonOp::Crash),
        1 => Just(DaemonOp::PowerLoss),
        4 => Just(DaemonOp::Start),
    ]
}

fn any_input(updates: bool) -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => process_input(),
        6 => api_call(updates).prop_map(|call| on(ServiceOp::Api(call))),
        3 => daemon_input().prop_map(Op::Daemon),
    ]
}

fn any_wait() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..150,
        2 => 150i64..2_000,
        1 => 2_000i64..15_000,
        1 => 15_000i64..70_000,
    ]
}

fn steps(input: impl Strategy<Value = Op>) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => input,
            2 => any_wait().prop_map(|ms| Op::Wait(Wait::For { ms: ms as u64 })),
        ],
        1..40,
    )
}

fn any_steps(updates: bool) -> impl Strategy<Value = Vec<Op>> {
    steps(any_input(updates))
}

// ----- oracles ---------------------------------------------------------------------------------

const ALLOWED_DELAYS_MS: [i64; 11] = [
    100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 51_200, 60_000,
];

/// The restart manager's delay after `previous` for a run of `ran_ns`, written from
/// `restartmanager.go` for the tests' own use.
fn next_delay(previous_ns: i64, ran_ns: i64) -> i64 {
    let previous = if ran_ns >= 10_000 * MS {
        0
    } else {
        previous_ns
    };
    if previous == 0 {
        100 * MS
    } else {
        (previous * 2).min(60_000 * MS)
    }
}

fn ran_for(record: &Record) -> i64 {
    record.at.0 - record.before.started_at.expect("it ran").0
}

fn cancels(config: &ModelConfig, call: ApiCall) -> bool {
    match call {
        ApiCall::Stop { .. } | ApiCall::Restart { .. } | ApiCall::RemoveForce => true,
        ApiCall::Kill { signal } => {
            signal == 0
                || signal == SIGKILL
                || config.container.stop_signal.is_none_or(|s| s == signal)
        }
        _ => false,
    }
}

fn is_up(state: &Observed) -> bool {
    matches!(
        state.status,
        Status::Running | Status::Paused | Status::Restarting
    )
}

// ----- properties ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// `no`: the daemon never starts the container by itself; every start is a `docker start`
    /// or a `docker restart`, and `RestartCount` stays 0.
    #[test]
    fn no_is_never_restarted_by_the_daemon(
        config in any_config(Just(RestartPolicy::No)),
        steps in any_steps(false),
    ) {
        let (_, records) = run(config, &steps);
        for r in &records {
            // Two `docker restart`s waiting on the same stop both log `restart`; the second
            // finds the container running and starts nothing (`containerStart` with reset).
            let by_hand = usize::from(r.answered(|c| matches!(c, ApiCall::Start)))
                + r.count(|a| matches!(a, ContainerAction::Restart));
            prop_assert!(r.starts() <= by_hand, "{:?}", r);
            prop_assert_eq!(r.after.restart_count, 0);
        }
    }

    /// `on-failure:N`: never more than N back-off restarts between two resets, `RestartCount`
    /// never above N, and never a restart pending after an exit 0.
    #[test]
    fn on_failure_restarts_at_most_n_times_never_after_exit_0(
        config in any_config((1u32..=3).prop_map(|max_retries| RestartPolicy::OnFailure { max_retries })),
        steps in any_steps(false),
    ) {
        let RestartPolicy::OnFailure { max_retries } = config.container.policy else { unreachable!() };
        let (_, records) = run(config, &steps);
        let mut since_reset = 0;
        for r in &records {
            if r.reset_start() {
                since_reset = 0;
            }
            if r.automatic_start() {
                since_reset += 1;
            }
            prop_assert!(since_reset <= max_retries, "{:?}", r);
            prop_assert!(r.after.restart_count <= max_retries, "{:?}", r);
            if r.after.status == Status::Restarting {
                prop_assert_ne!(r.after.exit_code, 0, "{:?}", r);
            }
        }
    }

    /// A container stopped or killed through the API stays down until `docker start` or
    /// `docker restart` — or a daemon start, and then exactly as `restore` dictates: `always`
    /// yes, `on-failure` if its last exit code is not 0 and the count allows, `unless-stopped`
    /// and `no` never.
    #[test]
    fn stopped_through_the_api_stays_down_until_started(
        config in any_config(any_policy()),
        steps in any_steps(true),
    ) {
        let (_, records) = run(config, &steps);
        let mut signalled = false;
        let mut stopped_by_api = false;
        for r in &records {
            if stopped_by_api && r.starts() > 0 && !r.reset_start() {
                prop_assert!(false, "started by the back-off after an API stop: {:?}", r);
            }
            if stopped_by_api && r.input == Some(Op::Daemon(DaemonOp::Start))
                && r.before.daemon == DaemonPhase::Down
                && !r.before.removed
            {
                let b = &r.before;
                let expected = match b.policy {
                    RestartPolicy::Always => true,
                    RestartPolicy::OnFailure { max_retries } => {
                        b.exit_code != 0 && (max_retries == 0 || b.restart_count < max_retries)
                    }
                    RestartPolicy::No | RestartPolicy::UnlessStopped => false,
                };
                prop_assert_eq!(r.starts() > 0, expected, "{:?}", r);
            }
            if let Some(Op::Service { op: ServiceOp::Api(call), .. }) = r.input
                && r.before.daemon == DaemonPhase::Up
                && is_up(&r.before)
                && !r.before.removed
                && cancels(&config, call)
            {
                signalled = true;
            }
            if r.reset_start() {
                signalled = false;
                stopped_by_api = false;
            }
            if signalled && r.after.status == Status::Exited {
                stopped_by_api = true;
            }
        }
    }

    /// Back-off delays are 100 ms × 2ᵏ capped at 60 s; a run of 10 s or more, or a fresh restart
    /// manager (any start but the back-off's own), starts them again at 100 ms; and the restart
    /// happens exactly when it was scheduled.
    #[test]
    fn backoff_is_bounded_and_resets(
        config in any_config(any_policy()),
        steps in any_steps(true),
    ) {
        let (_, records) = run(config, &steps);
        let mut fresh_manager = true;
        for r in &records {
            if r.automatic_start() {
                prop_assert_eq!(Some(r.at), r.pending_before, "{:?}", r);
            }
            if r.dies() > 0 && r.after.status == Status::Restarting && r.pending_before.is_none() {
                let delay = r.pending_after.expect("scheduled").0 - r.at.0;
                prop_assert!(ALLOWED_DELAYS_MS.contains(&(delay / MS)), "delay {} in {:?}", delay, r);
                if ran_for(r) >= 10_000 * MS || fresh_manager {
                    prop_assert_eq!(delay, 100 * MS, "{:?}", r);
                }
            }
            if r.reset_start() {
                fresh_manager = true;
            }
            if r.dies() > 0 || matches!(r.input, Some(Op::Daemon(_)) | Some(Op::Service { op: ServiceOp::Api(ApiCall::UpdateRestartPolicy { .. }), .. })) {
                fresh_manager = r.reset_start();
            }
        }
    }

    /// `RestartCount` never decreases except to 0 at a start that resets it, and grows by at most
    /// one per `die`.
    #[test]
    fn restart_count_only_resets_at_a_start(
        config in any_config(any_policy()),
        steps in any_steps(true),
    ) {
        let (_, records) = run(config, &steps);
        for r in &records {
            let (before, after) = (r.before.restart_count, r.after.restart_count);
            if after < before {
                prop_assert!(r.reset_start(), "{:?}", r);
                prop_assert!(after as usize <= r.dies(), "{:?}", r);
            } else {
                prop_assert!((after - before) as usize <= r.dies(), "{:?}", r);
            }
        }
    }

    /// The model's bookkeeping holds together: a `die` only for a container the daemon thought
    /// running and never twice without a start between; running means exit code 0; a restarting
    /// container under a live daemon has its restart scheduled; a daemon that is down holds no
    /// timer; a removed container does nothing more; every API call is answered once.
    #[test]
    fn the_model_stays_consistent(
        config in any_config(any_policy()),
        steps in any_steps(true),
    ) {
        let (mut model, records) = run(config, &steps);
        let mut died_since_start = false;
        let mut calls = 0;
        let mut replies = 0;
        for r in &records {
            for o in &r.outputs {
                match o {
                    Output::Event(ContainerAction::Start) => died_since_start = false,
                    Output::Event(ContainerAction::Die { .. }) => {
                        prop_assert!(!died_since_start, "two dies: {:?}", r);
                        prop_assert!(is_up(&r.before), "die of a stopped container: {:?}", r);
                        died_since_start = true;
                    }
                    Output::Reply { .. } => replies += 1,
                    _ => {}
                }
            }
            if matches!(r.input, Some(Op::Service { op: ServiceOp::Api(_), .. })) {
                calls += 1;
            }
            let s = &r.after;
            if matches!(s.status, Status::Running | Status::Paused) {
                prop_assert_eq!(s.exit_code, 0, "{:?}", r);
            }
            if s.status == Status::Restarting && s.daemon == DaemonPhase::Up {
                prop_assert!(r.pending_after.is_some(), "{:?}", r);
            }
            if s.daemon == DaemonPhase::Down {
                prop_assert!(r.pending_after.is_none(), "{:?}", r);
            }
            if r.before.removed {
                prop_assert!(r.outputs.iter().all(|o| !matches!(o, Output::Event(_) | Output::UpdateEvent)), "{:?}", r);
            }
        }
        // Let every stop that can end, end.
        let far = Nanos(model.next_deadline().map_or(0, |d| d.0).max(records.last().unwrap().at.0) + 3_600_000 * MS);
        for o in model.advance(far) {
            if matches!(o, Output::Reply { .. }) {
                replies += 1;
            }
        }
        prop_assert!(replies <= calls);
        if !model.stop_in_progress() {
            prop_assert_eq!(replies, calls);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2500))]

    /// `always` and `unless-stopped` come back after every exit not caused through the API (the
    /// process's own exit, a host signal, the OOM killer), after exactly the predicted back-off,
    /// and count each restart.
    #[test]
    fn always_comes_back_within_the_predicted_backoff(
        config in any_config(prop_oneof![Just(RestartPolicy::Always), Just(RestartPolicy::UnlessStopped)]),
        steps in steps(process_input()),
    ) {
        let (_, records) = run(config, &steps);
        let mut delay = 0;
        let mut expected_start = None;
        for r in records.iter().skip(1) {
            if r.input.is_none() {
                prop_assert_eq!(r.starts(), 1, "{:?}", r);
                prop_assert_eq!(Some(r.at), expected_start.take(), "{:?}", r);
                continue;
            }
            if r.dies() == 0 {
                continue;
            }
            delay = next_delay(delay, ran_for(r));
            prop_assert_eq!(r.after.status, Status::Restarting, "{:?}", r);
            prop_assert_eq!(r.after.restart_count, r.before.restart_count + 1);
            prop_assert_eq!(r.pending_after, Some(Nanos(r.at.0 + delay)), "{:?}", r);
            expected_start = r.pending_after;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The same inputs at the same times give the same outputs and states.
    #[test]
    fn the_model_is_deterministic(
        config in any_config(any_policy()),
        steps in any_steps(true),
    ) {
        let (a, ra) = run(config, &steps);
        let (b, rb) = run(config, &steps);
        prop_assert_eq!(a, b);
        let outputs = |rs: &[Record]| rs.iter().map(|r| (r.at, r.outputs.clone(), r.after)).collect::<Vec<_>>();
        prop_assert_eq!(outputs(&ra), outputs(&rb));
    }
}
