//! Starts that fail: the source of a container's bind mount (`--mount type=bind`) is taken away
//! on the host ([`ServiceOp::BindSource`]). Docker's documentation says "a restart policy only
//! takes effect after a container starts successfully … This prevents a container which does
//! not start at all from going into a restart loop". What the engine does, transition by
//! transition (moby 20.10: `ContainerStart`'s `verifyContainerSettings`, `containerStart` and its
//! deferred clean-up, the back-off goroutine of `handleContainerExit`, `restore`):
//! - a failed start is not an exit: it logs no event and never asks the restart manager, so a
//!   container that never started stays `created`, whatever its policy;
//! - a back-off restart that fails leaves the container `exited` with the exit it was restarting
//!   from, and the policy tries no more;
//! - the next start from outside (the API, the daemon's start-up) tries again.

use halab_model::{
    ApiCall, ContainerModel, DaemonOp, EngineVersion, ModelConfig, Nanos, Output, RestartPolicy,
    ServiceOp, Status,
};

const MS: i64 = 1_000_000;
const POLICIES: [RestartPolicy; 4] = [
    RestartPolicy::No,
    RestartPolicy::OnFailure { max_retries: 0 },
    RestartPolicy::Always,
    RestartPolicy::UnlessStopped,
];
/// The model's restart transitions do not differ between the engines here (moby master's
/// `containerStart` and `handleContainerExit` fail the same way, from source).
const ENGINES: [EngineVersion; 2] = [EngineVersion::V20_10, EngineVersion::V29];
/// Longer than the back-off ever waits (its cap is a minute).
const LONG_MS: i64 = 120_000;

struct Lab {
    model: ContainerModel,
    now: i64,
}

impl Lab {
    fn new(policy: RestartPolicy, engine: EngineVersion) -> Lab {
        Lab {
            model: ContainerModel::with_config(ModelConfig::new(policy, engine)),
            now: 1_000_000 * MS,
        }
    }

    fn on(&mut self, op: ServiceOp) -> Vec<String> {
        self.now += MS;
        short(self.model.apply(op, Nanos(self.now)))
    }

    fn api(&mut self, call: ApiCall) -> Vec<String> {
        self.on(ServiceOp::Api(call))
    }

    fn source(&mut self, present: bool) -> Vec<String> {
        self.on(ServiceOp::BindSource { present })
    }

    /// A clean daemon stop, then its start (with the restore's own timers run out).
    fn daemon_restart(&mut self) -> Vec<String> {
        self.now += MS;
        let mut out = short(self.model.apply_daemon(DaemonOp::Stop, Nanos(self.now)));
        out.extend(self.run_out());
        self.now += MS;
        out.extend(short(
            self.model.apply_daemon(DaemonOp::Start, Nanos(self.now)),
        ));
        out.extend(self.run_out());
        out
    }

    /// Lets every timer due within [`LONG_MS`] fire.
    fn run_out(&mut self) -> Vec<String> {
        let until = self.now + LONG_MS * MS;
        let mut out = Vec::new();
        while let Some(at) = self.model.next_deadline().filter(|at| at.0 <= until) {
            out.extend(short(self.model.advance(at)));
            self.now = at.0;
        }
        self.now = until;
        out.extend(short(self.model.advance(Nanos(until))));
        out
    }

    /// (status, exit code, `RestartCount`), as inspect shows them.
    fn inspect(&self) -> (Status, i64, u32) {
        let s = self.model.state();
        (s.status, s.exit_code, s.restart_count)
    }
}

fn short(outputs: Vec<Output>) -> Vec<String> {
    outputs.iter().map(Output::short).collect()
}

fn running(policy: RestartPolicy, engine: EngineVersion) -> Lab {
    let mut lab = Lab::new(policy, engine);
    assert_eq!(lab.api(ApiCall::Start), ["start", "→204"]);
    lab
}

#[test]
fn taking_the_source_away_changes_nothing_until_the_next_start() {
    for engine in ENGINES {
        for policy in POLICIES {
            let mut lab = running(policy, engine);
            assert!(lab.source(false).is_empty());
            assert_eq!(lab.inspect(), (Status::Running, 0, 0), "{policy}");
            assert!(lab.run_out().is_empty(), "{policy}");
        }
    }
}

#[test]
fn a_container_that_never_started_stays_created_whatever_its_policy() {
    for engine in ENGINES {
        for policy in POLICIES {
            let mut lab = Lab::new(policy, engine);
            lab.source(false);
            // `ContainerStart`'s `verifyContainerSettings` refuses it before anything starts.
            assert_eq!(lab.api(ApiCall::Start), ["→400"], "{policy}");
            assert_eq!(lab.inspect(), (Status::Created, 0, 0), "{policy}");
            // `containerRestart` calls `containerStart` itself: it fails in runc, exit 127.
            assert_eq!(
                lab.api(ApiCall::Restart { timeout_s: None }),
                ["→500"],
                "{policy}"
            );
            assert_eq!(lab.inspect(), (Status::Created, 127, 0), "{policy}");
            // No exit, so no restart manager: nothing follows, not even across a daemon restart
            // (`restore` starts only what `HasBeenStartedBefore`).
            assert!(lab.run_out().is_empty(), "{policy}");
            assert_eq!(
                lab.daemon_restart(),
                ["[daemon down]", "[daemon ready]"],
                "{policy}"
            );
            assert_eq!(lab.inspect(), (Status::Created, 127, 0), "{policy}");
            // Put back, the source is found by the next start, and the policy takes effect
            // from the first exit on.
            lab.source(true);
            assert_eq!(lab.api(ApiCall::Start), ["start", "→204"], "{policy}");
            assert_eq!(lab.on(ServiceOp::Exit { code: 1 }), ["die(1)"]);
            let restarts = !matches!(policy, RestartPolicy::No);
            assert_eq!(lab.run_out().contains(&"start".to_owned()), restarts);
        }
    }
}

#[test]
fn a_back_off_restart_that_fails_ends_the_policy() {
    for engine in ENGINES {
        for policy in [
            RestartPolicy::OnFailure { max_retries: 0 },
            RestartPolicy::Always,
            RestartPolicy::UnlessStopped,
        ] {
            let mut lab = running(policy, engine);
            lab.source(false);
            assert_eq!(lab.on(ServiceOp::Exit { code: 3 }), ["die(3)"]);
            // Restarting, with the restart already counted.
            assert_eq!(lab.inspect(), (Status::Restarting, 3, 1), "{policy}");
            // The back-off's start fails and logs nothing; `SetStopped(&exitStatus)` puts back
            // the exit it was restarting from; nothing is ever tried again.
            assert!(lab.run_out().is_empty(), "{policy}");
            assert_eq!(lab.inspect(), (Status::Exited, 3, 1), "{policy}");
            assert_eq!(lab.model.next_deadline(), None);
            // Putting the source back does not wake the policy either.
            lab.source(true);
            assert!(lab.run_out().is_empty(), "{policy}");
            assert_eq!(lab.inspect(), (Status::Exited, 3, 1), "{policy}");
        }
    }
}

#[test]
fn docker_start_is_refused_and_changes_nothing_while_the_source_is_gone() {
    for engine in ENGINES {
        let mut lab = running(RestartPolicy::Always, engine);
        lab.source(false);
        lab.on(ServiceOp::Exit { code: 3 });
        lab.run_out();
        assert_eq!(lab.api(ApiCall::Start), ["→400"]);
        assert_eq!(lab.inspect(), (Status::Exited, 3, 1));
        lab.source(true);
        assert_eq!(lab.api(ApiCall::Start), ["start", "→204"]);
        assert_eq!(lab.inspect(), (Status::Running, 0, 0));
        // The policy is back: the next exit is restarted.
        assert_eq!(lab.on(ServiceOp::Exit { code: 3 }), ["die(3)"]);
        assert_eq!(lab.run_out(), ["start"]);
    }
}

#[test]
fn docker_restart_and_the_daemon_start_try_again_and_fail_with_127() {
    for engine in ENGINES {
        let mut lab = running(RestartPolicy::Always, engine);
        lab.source(false);
        lab.on(ServiceOp::Exit { code: 0 });
        lab.run_out();
        assert_eq!(lab.inspect(), (Status::Exited, 0, 1));
        // `containerRestart` → `containerStart(reset)`: `RestartCount` is reset before the
        // start fails, and 127 stays.
        assert_eq!(lab.api(ApiCall::Restart { timeout_s: None }), ["→500"]);
        assert_eq!(lab.inspect(), (Status::Exited, 127, 0));
        // `restore` asks a fresh restart manager (`always`: yes) and starts it: it fails the same
        // way, and logs nothing.
        assert_eq!(lab.daemon_restart(), ["[daemon down]", "[daemon ready]"]);
        assert_eq!(lab.inspect(), (Status::Exited, 127, 0));
        // With the source back, the daemon's next start brings it up.
        lab.source(true);
        assert_eq!(
            lab.daemon_restart(),
            ["[daemon down]", "start", "[daemon ready]"]
        );
        assert_eq!(lab.inspect(), (Status::Running, 0, 0));
    }
}

#[test]
fn a_failed_restart_of_on_failure_still_counts_for_its_maximum() {
    // The restart that failed was counted when it was decided (`RestartCount++` before the
    // back-off): `on-failure:1` has used its one restart, and after a start by hand that resets
    // the count, it has it again.
    let mut lab = running(
        RestartPolicy::OnFailure { max_retries: 1 },
        EngineVersion::V20_10,
    );
    lab.source(false);
    lab.on(ServiceOp::Exit { code: 2 });
    assert!(lab.run_out().is_empty());
    assert_eq!(lab.inspect(), (Status::Exited, 2, 1));
    lab.source(true);
    assert_eq!(lab.api(ApiCall::Start), ["start", "→204"]);
    assert_eq!(lab.on(ServiceOp::Exit { code: 2 }), ["die(2)"]);
    assert_eq!(lab.run_out(), ["start"]);
    assert_eq!(lab.inspect(), (Status::Running, 0, 1));
}
