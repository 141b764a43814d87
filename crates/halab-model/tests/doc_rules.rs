//! The documentation's reference: each documented rule changes the model only where the
//! documentation promises something the engine does otherwise, and nowhere else.

use halab_model::{
    ApiCall, DaemonOp, DocRule, DocRules, EngineVersion, ModelConfig, Nanos, Reference, ServiceOp,
    SignalResponse, Status,
};
use halab_model::{ContainerModel, signal::SIGHUP};

const S: i64 = 1_000_000_000;

/// A started container of `policy` under `reference`, whose process dies of SIGTERM and ignores
/// every other catchable signal, and a clock.
fn started(policy: &str, reference: Reference) -> (ContainerModel, i64) {
    let mut config = ModelConfig::new(policy.parse().unwrap(), EngineVersion::V20_10);
    config.container.workload.on_stop_signal = SignalResponse::Die;
    config.container.workload.on_other_signal = SignalResponse::Ignore;
    config.reference = reference;
    let mut model = ContainerModel::with_config(config);
    model.apply(ServiceOp::Api(ApiCall::Start), Nanos(S));
    (model, S)
}

fn only(rule: DocRule) -> Reference {
    Reference::Docs(DocRules::only(rule))
}

/// Plays `steps` (an op at seconds after the start) on `policy` under each reference, then lets
/// a minute pass; returns the final status under the engine, under the rule alone and under the
/// documentation with every other rule.
fn outcomes(policy: &str, rule: DocRule, steps: &[(i64, Step)]) -> [Status; 3] {
    let others = Reference::Docs(DocRules::ALL.without(rule));
    [Reference::Engine, only(rule), others].map(|reference| {
        let (mut model, start) = started(policy, reference);
        for (at, step) in steps {
            let now = Nanos(start + at * S);
            match step {
                Step::Op(op) => {
                    model.apply(*op, now);
                }
                Step::Daemon(op) => {
                    model.apply_daemon(*op, now);
                }
            }
        }
        model.advance(Nanos(start + 120 * S));
        model.state().status
    })
}

enum Step {
    Op(ServiceOp),
    Daemon(DaemonOp),
}

#[test]
fn ten_seconds_an_early_exit_is_not_restarted_by_the_documentation() {
    let early = outcomes(
        "always",
        DocRule::TenSeconds,
        &[(1, Step::Op(ServiceOp::Exit { code: 1 }))],
    );
    assert_eq!(early, [Status::Running, Status::Exited, Status::Running]);
    // After a run of 10 s the policy has taken effect: then a quick exit is restarted too.
    let late = outcomes(
        "always",
        DocRule::TenSeconds,
        &[
            (11, Step::Op(ServiceOp::Exit { code: 1 })),
            (13, Step::Op(ServiceOp::Exit { code: 1 })),
        ],
    );
    assert_eq!(late, [Status::Running; 3]);
}

#[test]
fn on_failure_is_not_restarted_at_daemon_start_by_the_documentation() {
    // `docker stop` ends in 143: a failure, which the engine restarts when the daemon starts
    // (moby #35166).
    let stopped = outcomes(
        "on-failure",
        DocRule::OnFailureNotAtDaemonStart,
        &[
            (
                1,
                Step::Op(ServiceOp::Api(ApiCall::Stop { timeout_s: Some(1) })),
            ),
            (2, Step::Daemon(DaemonOp::Stop)),
            (3, Step::Daemon(DaemonOp::Start)),
        ],
    );
    assert_eq!(stopped, [Status::Running, Status::Exited, Status::Running]);
}

#[test]
fn a_crash_is_not_a_stop_for_the_documentation() {
    let crashed = outcomes(
        "unless-stopped",
        DocRule::CrashIsNotAStop,
        &[
            (1, Step::Daemon(DaemonOp::Crash)),
            (2, Step::Daemon(DaemonOp::Start)),
        ],
    );
    assert_eq!(crashed, [Status::Exited, Status::Running, Status::Exited]);
    // `docker stop` is a stop for both.
    let stopped = outcomes(
        "unless-stopped",
        DocRule::CrashIsNotAStop,
        &[
            (
                1,
                Step::Op(ServiceOp::Api(ApiCall::Stop { timeout_s: Some(1) })),
            ),
            (2, Step::Daemon(DaemonOp::Crash)),
            (3, Step::Daemon(DaemonOp::Start)),
        ],
    );
    assert_eq!(stopped, [Status::Exited; 3]);
}

#[test]
fn a_survived_signal_is_not_a_stop_for_the_documentation() {
    let hup = Step::Op(ServiceOp::Api(ApiCall::Kill { signal: SIGHUP }));
    // `always`: the engine's kill -s HUP cancels the policy, so the next exit stays down.
    let always = outcomes(
        "always",
        DocRule::SurvivedSignalIsNotAStop,
        &[(1, hup), (2, Step::Op(ServiceOp::Exit { code: 0 }))],
    );
    assert_eq!(always, [Status::Exited, Status::Running, Status::Exited]);
    // `unless-stopped`: it counts as a manual stop across a daemon restart (moby #41302).
    let hup = Step::Op(ServiceOp::Api(ApiCall::Kill { signal: SIGHUP }));
    let unless = outcomes(
        "unless-stopped",
        DocRule::SurvivedSignalIsNotAStop,
        &[
            (1, hup),
            (2, Step::Daemon(DaemonOp::Stop)),
            (3, Step::Daemon(DaemonOp::Start)),
        ],
    );
    assert_eq!(unless, [Status::Exited, Status::Running, Status::Exited]);
}

#[test]
fn a_stop_by_the_daemon_is_a_stop_for_the_current_documentation() {
    let restarted = outcomes(
        "unless-stopped",
        DocRule::StoppedByDaemonStaysDown,
        &[
            (1, Step::Daemon(DaemonOp::Stop)),
            (3, Step::Daemon(DaemonOp::Start)),
        ],
    );
    assert_eq!(
        restarted,
        [Status::Running, Status::Exited, Status::Running]
    );
}

#[test]
fn on_failure_counts_failures_in_a_row_for_the_documentation() {
    // on-failure:1: one failure is restarted; after a run of 10 s the row starts again for
    // the documentation, while the engine counts every restart since the last manual start.
    let fail = || Step::Op(ServiceOp::Exit { code: 1 });
    let counted = outcomes(
        "on-failure:1",
        DocRule::OnFailureInARow,
        &[(1, fail()), (20, fail())],
    );
    assert_eq!(counted, [Status::Exited, Status::Running, Status::Exited]);
}
