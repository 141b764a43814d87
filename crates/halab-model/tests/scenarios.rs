//! Named scenarios: each pins one behaviour of the engine that the model reproduces, most of
//! them ones the documentation does not state. The moby function responsible is named in the
//! model's doc comments.

use halab_model::signal::{SIGHUP, SIGINT, SIGTERM};
use halab_model::{
    ApiCall, CgroupVersion, ContainerModel, DaemonOp, EngineVersion, ModelConfig, Nanos,
    RestartPolicy, ServiceOp, SignalResponse, Status,
};

const MS: i64 = 1_000_000;

/// A model and a virtual clock, logging outputs in their short spelling.
struct Lab {
    model: ContainerModel,
    now: i64,
}

impl Lab {
    fn new(config: ModelConfig) -> Lab {
        Lab {
            model: ContainerModel::with_config(config),
            now: 1_000_000 * MS,
        }
    }

    fn policy(policy: RestartPolicy, engine: EngineVersion) -> Lab {
        Lab::new(ModelConfig::new(policy, engine))
    }

    fn on(&mut self, op: ServiceOp) -> Vec<String> {
        short(self.model.apply(op, Nanos(self.now)))
    }

    fn api(&mut self, call: ApiCall) -> Vec<String> {
        self.on(ServiceOp::Api(call))
    }

    fn daemon(&mut self, op: DaemonOp) -> Vec<String> {
        short(self.model.apply_daemon(op, Nanos(self.now)))
    }

    fn exit(&mut self, code: i64) -> Vec<String> {
        self.on(ServiceOp::Exit { code })
    }

    /// Lets `ms` pass.
    fn wait(&mut self, ms: i64) -> Vec<String> {
        self.now += ms * MS;
        short(self.model.advance(Nanos(self.now)))
    }

    /// Milliseconds until the next timer.
    fn next_in_ms(&self) -> Option<i64> {
        self.model.next_deadline().map(|d| (d.0 - self.now) / MS)
    }

    fn status(&self) -> Status {
        self.model.state().status
    }
}

fn short(outputs: Vec<halab_model::Output>) -> Vec<String> {
    outputs.iter().map(|o| o.short()).collect()
}

fn running(policy: RestartPolicy, engine: EngineVersion) -> Lab {
    let mut lab = Lab::policy(policy, engine);
    assert_eq!(lab.api(ApiCall::Start), ["start", "→204"]);
    lab
}

const V20: EngineVersion = EngineVersion::V20_10;
const V29: EngineVersion = EngineVersion::V29;

#[test]
fn always_restarts_with_doubling_backoff() {
    let mut lab = running(RestartPolicy::Always, V20);
    assert_eq!(lab.exit(1), ["die(1)"]);
    assert_eq!(lab.status(), Status::Restarting);
    assert_eq!(lab.model.state().restart_count, 1);
    assert_eq!(lab.next_in_ms(), Some(100));
    assert!(lab.wait(99).is_empty());
    assert_eq!(lab.wait(1), ["start"]);
    assert_eq!(lab.exit(0), ["die(0)"]);
    assert_eq!(lab.next_in_ms(), Some(200));
    assert_eq!(lab.wait(200), ["start"]);
    assert_eq!(lab.exit(2), ["die(2)"]);
    assert_eq!(lab.next_in_ms(), Some(400));
    assert_eq!(lab.model.state().restart_count, 3);
}

#[test]
fn a_ten_second_run_resets_the_backoff() {
    let mut lab = running(RestartPolicy::Always, V20);
    lab.exit(1);
    lab.wait(100);
    lab.exit(1);
    lab.wait(200);
    lab.wait(10_000);
    lab.exit(1);
    assert_eq!(lab.next_in_ms(), Some(100));
}

#[test]
fn on_failure_stops_at_its_maximum_and_never_after_exit_zero() {
    let mut lab = running(RestartPolicy::OnFailure { max_retries: 2 }, V20);
    lab.exit(3);
    assert_eq!(lab.wait(100), ["start"]);
    lab.exit(3);
    assert_eq!(lab.wait(200), ["start"]);
    assert_eq!(lab.exit(3), ["die(3)"]);
    assert_eq!(lab.status(), Status::Exited);
    assert_eq!(lab.model.state().restart_count, 2);

    let mut lab = running(RestartPolicy::OnFailure { max_retries: 0 }, V20);
    assert_eq!(lab.exit(0), ["die(0)"]);
    assert_eq!(lab.status(), Status::Exited);
    assert_eq!(lab.next_in_ms(), None);
}

#[test]
fn docker_stop_on_always_stays_down() {
    let mut lab = running(RestartPolicy::Always, V20);
    assert_eq!(
        lab.api(ApiCall::Stop { timeout_s: None }),
        ["kill(15)", "die(143)", "stop", "→204"]
    );
    let state = lab.model.state();
    assert_eq!((state.status, state.exit_code), (Status::Exited, 143));
    assert!(state.manually_stopped);
    assert_eq!(lab.next_in_ms(), None);
}

#[test]
fn stop_events_order_differs_between_engines() {
    let mut lab = running(RestartPolicy::Always, V29);
    assert_eq!(
        lab.api(ApiCall::Restart { timeout_s: None }),
        ["kill(15)", "stop", "die(143)", "start", "restart", "→204"]
    );
    let mut lab = running(RestartPolicy::Always, V20);
    assert_eq!(
        lab.api(ApiCall::Restart { timeout_s: None }),
        ["kill(15)", "die(143)", "stop", "start", "restart", "→204"]
    );
}

#[test]
fn kill_with_a_harmless_signal_cancels_the_restart_manager() {
    // `docker kill -s HUP` on a process that survives HUP: the next exit is not restarted,
    // even with `always` (moby #26087).
    let mut lab = running(RestartPolicy::Always, V20);
    assert_eq!(
        lab.api(ApiCall::Kill { signal: SIGHUP }),
        ["kill(1)", "→204"]
    );
    assert_eq!(lab.status(), Status::Running);
    assert!(lab.model.state().manually_stopped);
    assert_eq!(lab.exit(1), ["die(1)"]);
    assert_eq!(lab.status(), Status::Exited);
    // A start throws the canceled manager away.
    lab.api(ApiCall::Start);
    assert_eq!(lab.exit(1), ["die(1)"]);
    assert_eq!(lab.status(), Status::Restarting);
}

#[test]
fn with_a_stop_signal_set_only_that_signal_cancels() {
    let mut config = ModelConfig::new(RestartPolicy::Always, V20);
    config.container.stop_signal = Some(SIGINT);
    let mut lab = Lab::new(config);
    lab.api(ApiCall::Start);
    lab.api(ApiCall::Kill { signal: SIGHUP });
    assert_eq!(lab.exit(1), ["die(1)"]);
    assert_eq!(
        lab.status(),
        Status::Restarting,
        "always ignores the manual-stop flag"
    );

    config.container.policy = RestartPolicy::UnlessStopped;
    let mut lab = Lab::new(config);
    lab.api(ApiCall::Start);
    lab.api(ApiCall::Kill { signal: SIGHUP });
    assert_eq!(lab.exit(1), ["die(1)"]);
    assert_eq!(
        lab.status(),
        Status::Exited,
        "but unless-stopped honours it"
    );
}

#[test]
fn stopping_a_restarting_container_logs_only_stop() {
    let mut lab = running(RestartPolicy::Always, V20);
    lab.exit(7);
    assert_eq!(lab.api(ApiCall::Stop { timeout_s: None }), ["stop", "→204"]);
    let state = lab.model.state();
    assert_eq!(
        (state.status, state.exit_code, state.restart_count),
        (Status::Exited, 7, 1)
    );
    assert!(lab.wait(60_000).is_empty());
}

#[test]
fn kill_and_rm_of_a_restarting_container_log_no_kill() {
    let mut lab = running(RestartPolicy::Always, V20);
    lab.exit(7);
    assert_eq!(lab.api(ApiCall::Kill { signal: 0 }), ["→204"]);
    assert_eq!(lab.status(), Status::Exited);

    let mut lab = running(RestartPolicy::Always, V20);
    lab.exit(7);
    assert_eq!(lab.api(ApiCall::RemoveForce), ["destroy", "→204"]);
    assert!(lab.model.state().removed);
    assert_eq!(lab.api(ApiCall::Start), ["→404"]);
}

#[test]
fn stop_escalates_to_sigkill_after_the_timeout() {
    let mut config = ModelConfig::new(RestartPolicy::No, V20);
    config.container.workload.on_stop_signal = SignalResponse::Ignore;
    let mut lab = Lab::new(config);
    lab.api(ApiCall::Start);
    assert_eq!(lab.api(ApiCall::Stop { timeout_s: Some(3) }), ["kill(15)"]);
    assert_eq!(lab.next_in_ms(), Some(3000));
    assert_eq!(lab.wait(3000), ["kill(9)", "die(137)", "stop", "→204"]);
}

#[test]
fn stop_with_zero_timeout_always_sends_sigkill() {
    let mut lab = running(RestartPolicy::No, V20);
    assert_eq!(
        lab.api(ApiCall::Stop { timeout_s: Some(0) }),
        ["kill(15)", "kill(9)", "die(143)", "stop", "→204"]
    );
}

#[test]
fn stopping_a_paused_container_resumes_it() {
    // The process's own code ends it after the thaw, by which time `TaskResumed` is published:
    // `unpause` comes before `die`.
    let mut lab = running(RestartPolicy::No, V20);
    assert_eq!(lab.api(ApiCall::Pause), ["pause", "→204"]);
    assert_eq!(
        lab.api(ApiCall::Stop { timeout_s: None }),
        ["kill(15)", "unpause", "die(143)", "stop", "→204"]
    );
}

#[test]
fn sigkill_reaches_a_frozen_process_only_on_cgroup_v2() {
    let mut config = ModelConfig::new(RestartPolicy::No, V20);
    config.daemon.cgroup = CgroupVersion::V2;
    let mut lab = Lab::new(config);
    lab.api(ApiCall::Start);
    lab.api(ApiCall::Pause);
    assert_eq!(
        lab.api(ApiCall::Kill { signal: 0 }),
        ["kill(9)", "die(137)", "→204"]
    );

    // On v1 it waits for the resume that `killWithSignal` does, and kills the process before
    // `TaskResumed` is published: no `unpause`.
    let mut lab = running(RestartPolicy::No, V20);
    lab.api(ApiCall::Pause);
    assert_eq!(
        lab.api(ApiCall::Kill { signal: 0 }),
        ["kill(9)", "die(137)", "→204"]
    );
}

#[test]
fn rm_force_kills_then_destroys() {
    let mut lab = running(RestartPolicy::Always, V20);
    assert_eq!(
        lab.api(ApiCall::RemoveForce),
        ["kill(9)", "die(137)", "destroy", "→204"]
    );
}

#[test]
fn oom_flag_timing_differs_between_engines() {
    let mut lab = running(RestartPolicy::Always, V20);
    assert_eq!(lab.on(ServiceOp::Oom), ["oom", "die(137)"]);
    assert!(lab.model.state().oom_killed);
    lab.wait(100);
    assert!(
        lab.model.state().oom_killed,
        "20.10 keeps it while running again"
    );

    let mut lab = running(RestartPolicy::Always, V29);
    assert_eq!(lab.on(ServiceOp::Oom), ["oom", "die(137)"]);
    assert!(lab.model.state().oom_killed);
    lab.wait(100);
    assert!(
        !lab.model.state().oom_killed,
        "29 clears it at the next start"
    );
}

#[test]
fn unless_stopped_stays_down_after_a_crash_without_live_restore() {
    // The daemon stops the container it finds alive, and that stop marks it manually stopped
    // (docker/for-linux#652).
    let mut lab = running(RestartPolicy::UnlessStopped, V20);
    assert_eq!(lab.daemon(DaemonOp::Crash), ["[daemon down]"]);
    assert_eq!(lab.status(), Status::Running, "on disk");
    assert_eq!(
        lab.daemon(DaemonOp::Start),
        ["kill(15)", "die(143)", "stop", "[daemon ready]"]
    );
    assert_eq!(lab.status(), Status::Exited);
    assert!(lab.model.state().manually_stopped);
    // And it stays down across further daemon restarts.
    lab.daemon(DaemonOp::Stop);
    assert_eq!(lab.daemon(DaemonOp::Start), ["[daemon ready]"]);
}

#[test]
fn always_comes_back_after_a_crash_without_live_restore() {
    let mut lab = running(RestartPolicy::Always, V20);
    lab.exit(1);
    lab.wait(100);
    assert_eq!(lab.model.state().restart_count, 1);
    lab.daemon(DaemonOp::Crash);
    assert_eq!(
        lab.daemon(DaemonOp::Start),
        ["kill(15)", "die(143)", "stop", "start", "[daemon ready]"]
    );
    let state = lab.model.state();
    assert_eq!((state.status, state.restart_count), (Status::Running, 0));
    assert!(!state.manually_stopped);
}

#[test]
fn a_clean_daemon_stop_does_not_count_as_a_manual_stop() {
    let mut lab = running(RestartPolicy::UnlessStopped, V20);
    assert_eq!(
        lab.daemon(DaemonOp::Stop),
        ["kill(15)", "die(143)", "stop", "[daemon down]"]
    );
    assert!(!lab.model.state().manually_stopped);
    assert_eq!(lab.daemon(DaemonOp::Start), ["start", "[daemon ready]"]);
}

#[test]
fn on_failure_stopped_by_hand_starts_with_the_daemon() {
    // moby #35166: the 143 of `docker stop` is a failure for the restore's ShouldRestart.
    let mut lab = running(RestartPolicy::OnFailure { max_retries: 0 }, V20);
    lab.api(ApiCall::Stop { timeout_s: None });
    lab.daemon(DaemonOp::Stop);
    assert_eq!(lab.daemon(DaemonOp::Start), ["start", "[daemon ready]"]);

    // …unless the process exits 0 on its stop signal (moby #46465).
    let mut config = ModelConfig::new(RestartPolicy::OnFailure { max_retries: 0 }, V20);
    config.container.workload.on_stop_signal = SignalResponse::Exit { code: 0 };
    let mut lab = Lab::new(config);
    lab.api(ApiCall::Start);
    lab.daemon(DaemonOp::Stop);
    assert_eq!(lab.daemon(DaemonOp::Start), ["[daemon ready]"]);
}

#[test]
fn docker_stop_of_always_is_undone_by_a_daemon_restart() {
    let mut lab = running(RestartPolicy::Always, V20);
    lab.api(ApiCall::Stop { timeout_s: None });
    lab.daemon(DaemonOp::Stop);
    assert_eq!(lab.daemon(DaemonOp::Start), ["start", "[daemon ready]"]);

    let mut lab = running(RestartPolicy::UnlessStopped, V20);
    lab.api(ApiCall::Stop { timeout_s: None });
    lab.daemon(DaemonOp::Stop);
    assert_eq!(lab.daemon(DaemonOp::Start), ["[daemon ready]"]);
}

#[test]
fn a_container_restarting_when_the_daemon_dies_comes_back_as_exit_0_in_20_10() {
    let mut lab = running(RestartPolicy::OnFailure { max_retries: 0 }, V20);
    lab.exit(1);
    lab.daemon(DaemonOp::Crash);
    assert_eq!(lab.daemon(DaemonOp::Start), ["[daemon ready]"]);
    let state = lab.model.state();
    assert_eq!((state.status, state.exit_code), (Status::Exited, 0));

    let mut lab = running(RestartPolicy::OnFailure { max_retries: 0 }, V29);
    lab.exit(1);
    lab.daemon(DaemonOp::Crash);
    assert_eq!(lab.daemon(DaemonOp::Start), ["start", "[daemon ready]"]);
}

#[test]
fn after_a_power_loss_containers_come_back_from_exit_255() {
    let mut lab = running(RestartPolicy::OnFailure { max_retries: 0 }, V20);
    lab.daemon(DaemonOp::PowerLoss);
    assert_eq!(lab.daemon(DaemonOp::Start), ["start", "[daemon ready]"]);

    let mut lab = running(RestartPolicy::No, V20);
    lab.daemon(DaemonOp::PowerLoss);
    lab.daemon(DaemonOp::Start);
    let state = lab.model.state();
    assert_eq!((state.status, state.exit_code), (Status::Exited, 255));
}

fn live_restore(policy: RestartPolicy) -> Lab {
    let mut config = ModelConfig::new(policy, V20);
    config.daemon.live_restore = true;
    let mut lab = Lab::new(config);
    lab.api(ApiCall::Start);
    lab
}

#[test]
fn live_restore_keeps_the_container_running() {
    let mut lab = live_restore(RestartPolicy::Always);
    assert_eq!(lab.daemon(DaemonOp::Stop), ["[daemon down]"]);
    assert_eq!(lab.status(), Status::Running);
    assert_eq!(lab.api(ApiCall::Pause), ["→no-daemon"]);
    assert_eq!(lab.daemon(DaemonOp::Start), ["[daemon ready]"]);
    assert_eq!(lab.status(), Status::Running);
}

#[test]
fn after_live_restore_an_exit_within_100ms_is_not_restarted() {
    let mut lab = live_restore(RestartPolicy::Always);
    lab.daemon(DaemonOp::Stop);
    lab.daemon(DaemonOp::Start);
    lab.wait(50);
    assert_eq!(lab.exit(1), ["die(1)"]);
    assert_eq!(lab.status(), Status::Exited);

    let mut lab = live_restore(RestartPolicy::Always);
    lab.daemon(DaemonOp::Stop);
    lab.daemon(DaemonOp::Start);
    lab.wait(100);
    assert_eq!(lab.exit(1), ["die(1)"]);
    assert_eq!(
        lab.next_in_ms(),
        Some(200),
        "the restore already used the 100 ms step"
    );
}

#[test]
fn an_exit_while_the_daemon_is_down_logs_no_die() {
    let mut lab = live_restore(RestartPolicy::Always);
    lab.daemon(DaemonOp::Stop);
    lab.wait(1000);
    assert!(lab.exit(3).is_empty());
    lab.wait(1000);
    assert_eq!(lab.daemon(DaemonOp::Start), ["start", "[daemon ready]"]);
    assert_eq!(lab.model.state().restart_count, 0);
}

#[test]
fn a_shutdown_waits_for_the_stop_timeout() {
    let mut config = ModelConfig::new(RestartPolicy::Always, V20);
    config.container.workload.on_stop_signal = SignalResponse::Ignore;
    let mut lab = Lab::new(config);
    lab.api(ApiCall::Start);
    assert_eq!(lab.daemon(DaemonOp::Stop), ["kill(15)"]);
    assert_eq!(lab.api(ApiCall::Start), ["→no-daemon"]);
    assert_eq!(
        lab.wait(10_000),
        ["kill(9)", "die(137)", "stop", "[daemon down]"]
    );
    assert_eq!(lab.daemon(DaemonOp::Start), ["start", "[daemon ready]"]);
}

#[test]
fn update_does_not_cancel_a_pending_restart() {
    let mut lab = running(RestartPolicy::Always, V20);
    lab.exit(1);
    assert_eq!(
        lab.api(ApiCall::UpdateRestartPolicy {
            policy: RestartPolicy::No
        }),
        ["update", "→200"]
    );
    assert_eq!(lab.wait(100), ["start"]);
    assert_eq!(lab.exit(1), ["die(1)"]);
    assert_eq!(lab.status(), Status::Exited);
}

#[test]
fn a_host_signal_is_an_exit_the_daemon_cannot_tell_apart() {
    let mut lab = running(RestartPolicy::UnlessStopped, V20);
    assert_eq!(lab.on(ServiceOp::Signal { signal: SIGTERM }), ["die(143)"]);
    assert_eq!(lab.status(), Status::Restarting);
}
