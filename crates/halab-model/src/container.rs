//! The per-container state machine: the daemon's record of one container, the restart manager and
//! timers it keeps in memory, and the process under it.
//!
//! The model is driven by [`ContainerModel::apply`] (an operation on the container at `now`),
//! [`ContainerModel::apply_daemon`] (one on its daemon) and [`ContainerModel::advance`] (time
//! passes to `now`, firing due timers: a back-off restart, or the SIGKILL that ends a stop's
//! grace period). [`ContainerModel::next_deadline`] says when the
//! next timer fires, so a driver can jump virtual time from deadline to deadline.
//!
//! Each transition is written as the moby function it mirrors (named in its doc comment), so the
//! order of state changes and events follows the engine's code rather than its documentation.
//! The API calls are in `api.rs`, the daemon's own life in `daemon.rs`.

use std::mem;

use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::engine::{EngineVersion, OomFlag};
use crate::health::{HealthState, Monitor};
use crate::history::{ContainerAction, Nanos};
use crate::mutant::Mutant;
use crate::observed::{DaemonPhase, Observed, Status};
use crate::op::{ApiCall, DaemonOp, Op, ServiceOp};
use crate::output::{Answer, Output};
use crate::policy::RestartPolicy;
use crate::reference::DocRule;
use crate::restart_manager::{Decision, RestartManager};
use crate::signal::{SIGKILL, killed_by};
use crate::task::{ShimEvent, ShimQueue, Task};

/// How a run ended: `container.ExitStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct ExitStatus {
    pub(crate) code: i64,
    pub(crate) at: Nanos,
    pub(crate) oom: bool,
}

/// What the daemon persists in `config.v2.json`/`hostconfig.json` at every checkpoint, and so
/// finds again when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Persisted {
    pub(crate) policy: RestartPolicy,
    pub(crate) running: bool,
    pub(crate) paused: bool,
    pub(crate) restarting: bool,
    pub(crate) dead: bool,
    pub(crate) removed: bool,
    pub(crate) exit_code: i64,
    pub(crate) oom_killed: bool,
    pub(crate) started_at: Option<Nanos>,
    pub(crate) finished_at: Option<Nanos>,
    pub(crate) restart_count: u32,
    pub(crate) manually_stopped: bool,
    pub(crate) started_before: bool,
    /// Under the documentation's [`DocRule::TenSeconds`] only: a run of 10 s or more ended since
    /// the last start by hand (or by the daemon's start-up) — the container "started
    /// successfully", and its restart policy has taken effect. The engine keeps no such thing.
    pub(crate) started_successfully: bool,
    /// `State.Health`: `None` until the first start of a container with a health check.
    pub(crate) health: Option<HealthState>,
}

/// A back-off restart waiting for its timer: the goroutine `handleContainerExit` leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct PendingRestart {
    pub(crate) at: Nanos,
    /// The exit it follows, recorded again if the restart is canceled (`SetStopped(&exitStatus)`).
    pub(crate) exit: ExitStatus,
}

/// What runs once a `containerStop` has seen the container stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum AfterStop {
    /// `docker stop`: answer the call.
    Reply(ApiCall),
    /// `docker restart`: start again, log `restart`, answer.
    Restart(ApiCall),
    /// The daemon's clean shutdown: the daemon exits.
    Shutdown,
    /// `restore` stopping a container that outlived a crashed daemon without live-restore.
    Restore,
}

/// A `containerStop` waiting for the container to stop (`container.Wait(WaitConditionNotRunning)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct StopWaiter {
    /// When the grace period ends and SIGKILL follows; `None` once sent, or for a negative timeout.
    pub(crate) kill_at: Option<Nanos>,
    pub(crate) then: AfterStop,
}

/// Everything the daemon holds only in memory, lost whenever its process ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct DaemonMemory {
    pub(crate) rm: Option<RestartManager>,
    pub(crate) pending_restart: Option<PendingRestart>,
    pub(crate) waiters: Vec<StopWaiter>,
    /// `daemon.shutdown`, set by `Shutdown`.
    pub(crate) shutting_down: bool,
    /// libcontainerd's `oom` map entry (20.10), handed to the exit handler.
    pub(crate) oom_seen: bool,
    /// An API kill is under way (for [`Mutant::ApiKillAsCrash`]).
    pub(crate) api_kill: bool,
    pub(crate) shim_events: ShimQueue,
    /// The health-check monitor goroutine, while one runs (see `health.rs`).
    pub(crate) health_monitor: Option<Monitor>,
}

/// One container under one Docker daemon: the reference model of the engine's restart semantics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerModel {
    pub(crate) config: ModelConfig,
    pub(crate) disk: Persisted,
    pub(crate) mem: DaemonMemory,
    pub(crate) phase: DaemonPhase,
    pub(crate) task: Task,
    /// Whether containerd still has the container object (created by each start, deleted by the
    /// daemon's `Cleanup` after each exit; survives a power loss).
    pub(crate) c8d_container: bool,
    /// The host's side: the source directory of the container's bind mount is gone
    /// ([`ServiceOp::BindSource`]). Neither daemon nor containerd state: it outlives both.
    pub(crate) bind_source_gone: bool,
    /// The latest time the model was given; time never goes back.
    pub(crate) now: Nanos,
    /// Under a [`crate::DaemonModel`] with other containers: the restart that ends `restore` waits
    /// until every container is restored (see [`ContainerModel::restored`]).
    pub(crate) managed: bool,
    /// Restored, waiting for the daemon's other containers: whether the task was alive, and the
    /// exit the daemon found.
    pub(crate) restore_waiting: Option<(bool, Option<ExitStatus>)>,
}

impl ContainerModel {
    /// A container created (not started) with `policy` on `engine`, other settings at their
    /// defaults, under a running daemon.
    pub fn new(policy: RestartPolicy, engine: EngineVersion) -> ContainerModel {
        ContainerModel::with_config(ModelConfig::new(policy, engine))
    }

    /// A created (not started) container under a running daemon. The `create` event, if wanted,
    /// precedes everything the model emits.
    pub fn with_config(config: ModelConfig) -> ContainerModel {
        ContainerModel {
            config,
            disk: Persisted {
                policy: config.container.policy,
                running: false,
                paused: false,
                restarting: false,
                dead: false,
                removed: false,
                exit_code: 0,
                oom_killed: false,
                started_at: None,
                finished_at: None,
                restart_count: 0,
                manually_stopped: false,
                started_before: false,
                started_successfully: false,
                health: None,
            },
            mem: DaemonMemory::default(),
            phase: DaemonPhase::Up,
            task: Task::None,
            c8d_container: false,
            bind_source_gone: false,
            now: Nanos(i64::MIN),
            managed: false,
            restore_waiting: None,
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn engine(&self) -> EngineVersion {
        self.config.engine
    }

    /// The restart manager, if the daemon currently holds one.
    pub fn restart_manager(&self) -> Option<&RestartManager> {
        self.mem.rm.as_ref()
    }

    /// When a pending back-off restart will start the container.
    pub fn pending_restart_at(&self) -> Option<Nanos> {
        self.mem.pending_restart.map(|p| p.at)
    }

    /// Whether a stop (API stop or restart, daemon shutdown or restore) is waiting for the
    /// container to exit.
    pub fn stop_in_progress(&self) -> bool {
        !self.mem.waiters.is_empty()
    }

    /// What inspect would show (see [`Observed`]).
    pub fn state(&self) -> Observed {
        let d = &self.disk;
        // Mirrors `container.(*State).StateString`.
        let status = if d.running {
            if d.paused {
                Status::Paused
            } else if d.restarting {
                Status::Restarting
            } else {
                Status::Running
            }
        } else if d.dead {
            Status::Dead
        } else if d.started_at.is_none() {
            Status::Created
        } else {
            Status::Exited
        };
        Observed {
            status,
            removed: d.removed,
            restart_count: d.restart_count,
            exit_code: d.exit_code,
            oom_killed: d.oom_killed,
            manually_stopped: d.manually_stopped,
            started_at: d.started_at,
            finished_at: d.finished_at,
            policy: d.policy,
            daemon: self.phase,
            health: self.health_status(),
        }
    }

    /// When the next timer fires: a back-off restart, the SIGKILL at the end of a stop's grace
    /// period, or a health probe. `None` when nothing will happen without an input.
    pub fn next_deadline(&self) -> Option<Nanos> {
        let restart = self.mem.pending_restart.map(|p| p.at);
        let kills = self.mem.waiters.iter().filter_map(|w| w.kill_at);
        restart
            .into_iter()
            .chain(kills)
            .chain(self.next_probe_at())
            .min()
    }

    /// Lets time pass up to `now`, firing every timer due by then, each at its own time.
    pub fn advance(&mut self, now: Nanos) -> Vec<Output> {
        let now = self.clock(now);
        let mut out = Vec::new();
        self.fire_due(now, &mut out);
        out
    }

    /// `op` is done to the container at `now`. Timers due by `now` fire first, as
    /// [`ContainerModel::advance`] would fire them. A `now` earlier than one already seen counts
    /// as that one: time does not go back.
    pub fn apply(&mut self, op: ServiceOp, now: Nanos) -> Vec<Output> {
        let now = self.clock(now);
        let mut out = Vec::new();
        self.fire_due(now, &mut out);
        match op {
            ServiceOp::Exit { code } => self.process_exits(code, false, now),
            ServiceOp::Signal { signal } => self.host_signal(signal, now),
            ServiceOp::Oom => self.process_exits(killed_by(SIGKILL), true, now),
            ServiceOp::Api(call) => self.api(call, now, &mut out),
            ServiceOp::Inspect => {}
            ServiceOp::BindSource { present } => self.bind_source_gone = !present,
        }
        self.drain(now, &mut out);
        out
    }

    /// `op` is done to the container's daemon at `now` (see [`ContainerModel::apply`]).
    pub fn apply_daemon(&mut self, op: DaemonOp, now: Nanos) -> Vec<Output> {
        let now = self.clock(now);
        let mut out = Vec::new();
        self.fire_due(now, &mut out);
        self.daemon(op, now, &mut out);
        self.drain(now, &mut out);
        out
    }

    /// Any [`Op`], this container being the service it names (the name is not checked): a
    /// wait only lets time pass.
    pub fn apply_op(&mut self, op: &Op, now: Nanos) -> Vec<Output> {
        match op {
            Op::Daemon(op) => self.apply_daemon(*op, now),
            Op::Service { op, .. } => self.apply(*op, now),
            Op::Wait(_) => self.advance(now),
        }
    }

    fn clock(&mut self, now: Nanos) -> Nanos {
        self.now = self.now.max(now);
        self.now
    }

    /// Fires the timers due by `now`, earliest first, each at its own time. In the daemon they
    /// are goroutines: the restart manager's back-off timer (`ShouldRestart`'s `time.NewTimer`),
    /// `containerStop`'s wait with a timeout, and the health monitor's interval timer.
    fn fire_due(&mut self, now: Nanos, out: &mut Vec<Output>) {
        while let Some(at) = self.next_deadline().filter(|at| *at <= now) {
            if self.mem.pending_restart.is_some_and(|p| p.at == at) {
                self.restart_timer_fires(at, out);
            } else if let Some(w) = self.mem.waiters.iter_mut().find(|w| w.kill_at == Some(at)) {
                w.kill_at = None;
                let _ = self.daemon_kill(at, out);
            } else if self.next_probe_at() == Some(at) {
                self.health_probe(at, out);
            }
            self.drain(at, out);
        }
    }

    /// The daemon processes the containerd events waiting for it, in order.
    ///
    /// Mirrors `daemon.(*Daemon).ProcessEvent` for `EventOOM`, `EventExit` (init process) and
    /// `EventResumed`.
    pub(crate) fn drain(&mut self, now: Nanos, out: &mut Vec<Output>) {
        while let Some(event) = self.mem.shim_events.pop_front() {
            match event {
                ShimEvent::Oom => {
                    // 20.10 keeps it for the exit (libcontainerd `c.oom`); 24+ sets the flag now.
                    self.mem.oom_seen = true;
                    if self.config.engine.oom_flag() == OomFlag::AtOomEvent {
                        self.disk.oom_killed = true;
                    }
                    self.update_health_monitor(now);
                    out.push(Output::Event(ContainerAction::Oom));
                }
                ShimEvent::Exit { code } => {
                    if self.disk.running {
                        self.handle_container_exit(code, now, out);
                    } else {
                        self.task = Task::None;
                    }
                }
                ShimEvent::Resumed => {
                    if self.disk.paused {
                        self.disk.paused = false;
                        self.update_health_monitor(now);
                        out.push(Output::Event(ContainerAction::Unpause));
                    }
                }
            }
        }
    }

    // ----- the daemon's transitions ------------------------------------------------------------

    /// The restart manager, created on first use from the persisted policy and count.
    ///
    /// Mirrors `container.(*Container).RestartManager`.
    pub(crate) fn rm_mut(&mut self) -> &mut RestartManager {
        let (policy, count) = (self.disk.policy, self.disk.restart_count);
        self.mem
            .rm
            .get_or_insert_with(|| RestartManager::new(policy, count))
    }

    /// The main process exited: decide about a restart, record the exit, log `die`, and let
    /// every waiting stop go on.
    ///
    /// Mirrors `daemon.(*Daemon).handleContainerExit` (20.10). The decision uses
    /// `daemon.IsShuttingDown() || c.HasBeenManuallyStopped` as "manually stopped" and the time
    /// since `StartedAt` as the run's length. `RestartCount` is incremented when the restart is
    /// *decided*, before the back-off delay, so a restart canceled during its back-off still
    /// counts.
    pub(crate) fn handle_container_exit(&mut self, code: i64, now: Nanos, out: &mut Vec<Output>) {
        // DeleteTask, then Cleanup deletes the containerd container (and libcontainerd's oom mark).
        self.task = Task::None;
        self.c8d_container = false;
        let oom = self.config.engine.oom_flag() == OomFlag::AtExit && self.mem.oom_seen;
        self.mem.oom_seen = false;
        let exit = ExitStatus { code, at: now, oom };

        let manually_stopped = self.mem.shutting_down || self.disk.manually_stopped;
        let ran_for_ns =
            self.mutated_run_length(now.0.saturating_sub(self.disk.started_at.unwrap_or(now).0));
        let decision = if self.policy_not_yet_in_effect(ran_for_ns) {
            Decision::DontRestart
        } else {
            self.rm_mut()
                .should_restart(code, manually_stopped, ran_for_ns, now)
        };
        if let Decision::Restart { delay_ns } = decision {
            self.disk.restart_count = self.disk.restart_count.saturating_add(1);
            self.set_restarting(exit);
            self.mem.pending_restart = Some(PendingRestart {
                at: now.plus_nanos(delay_ns),
                exit,
            });
        } else {
            self.set_stopped(exit);
        }
        // "cancel healthcheck here, they will be automatically restarted if/when the container
        // is started again": the only thing an exit does to health, whatever the decision.
        self.stop_healthchecks();

        // SetStopped and SetRestarting both wake every `Wait(NotRunning)`.
        let waiters = mem::take(&mut self.mem.waiters);
        let die = Output::Event(ContainerAction::Die { exit_code: code });
        if self.config.engine.stop_event_before_die() {
            out.extend(waiters.iter().map(|_| Output::Event(ContainerAction::Stop)));
            out.push(die);
            self.after_stops(&waiters, now, out);
        } else {
            out.push(die);
            self.stops_done(waiters, now, out);
        }
    }

    /// Under the documentation's [`DocRule::TenSeconds`]: the container has not yet "started
    /// successfully" (no run of 10 s since the last start by hand) and this run was shorter, so
    /// its restart policy has not taken effect. Always false for the engine, which has no such
    /// rule (`restartmanager.ShouldRestart` uses the 10 s only to reset the back-off).
    fn policy_not_yet_in_effect(&mut self, ran_for_ns: i64) -> bool {
        use crate::backoff::RESET_AFTER_RUN_NS;
        if !self.config.reference.follows(DocRule::TenSeconds) {
            return false;
        }
        if ran_for_ns >= RESET_AFTER_RUN_NS {
            self.disk.started_successfully = true;
        }
        !self.disk.started_successfully
    }

    /// How long a run lasted, as the restart manager is told it: the truth, except under the
    /// back-off mutants. Under [`Mutant::OnFailureConsecutive`] a long run also resets the
    /// manager's count.
    pub(crate) fn mutated_run_length(&mut self, ran_for_ns: i64) -> i64 {
        use crate::backoff::RESET_AFTER_RUN_NS;
        match self.config.reference.mutant() {
            Some(Mutant::BackoffNeverReset) => 0,
            Some(Mutant::BackoffResetAfter1s) if ran_for_ns >= 1_000_000_000 => RESET_AFTER_RUN_NS,
            Some(Mutant::OnFailureConsecutive) if ran_for_ns >= RESET_AFTER_RUN_NS => {
                let policy = self.disk.policy;
                self.mem.rm = Some(RestartManager::new(policy, 0));
                ran_for_ns
            }
            _ if ran_for_ns >= RESET_AFTER_RUN_NS
                && self.config.reference.follows(DocRule::OnFailureInARow) =>
            {
                // The documentation's row of failures ends with a successful run.
                self.rm_mut().forget_restarts();
                ran_for_ns
            }
            _ => ran_for_ns,
        }
    }

    /// Each waiting `containerStop` logs `stop`, then whatever follows it runs.
    pub(crate) fn stops_done(
        &mut self,
        waiters: Vec<StopWaiter>,
        now: Nanos,
        out: &mut Vec<Output>,
    ) {
        out.extend(waiters.iter().map(|_| Output::Event(ContainerAction::Stop)));
        self.after_stops(&waiters, now, out);
    }

    /// What follows each finished stop: answers first, then the daemon's own continuations (they
    /// may end the daemon, which would drop answers not yet written).
    fn after_stops(&mut self, waiters: &[StopWaiter], now: Nanos, out: &mut Vec<Output>) {
        let (answers, daemon): (Vec<_>, Vec<_>) = waiters
            .iter()
            .map(|w| w.then)
            .partition(|then| matches!(then, AfterStop::Reply(_) | AfterStop::Restart(_)));
        for then in answers.into_iter().chain(daemon) {
            self.after_stop(then, now, out);
        }
    }

    fn after_stop(&mut self, then: AfterStop, now: Nanos, out: &mut Vec<Output>) {
        match then {
            AfterStop::Reply(call) => out.push(Output::Reply {
                call,
                answer: Answer::status(204),
            }),
            AfterStop::Restart(call) => self.restart_after_stop(call, now, out),
            AfterStop::Shutdown => self.go_down(out),
            AfterStop::Restore => {
                // `restore` resets the manager after `shutdownContainer`, then goes on.
                self.mem.rm = None;
                self.restored(false, None, now, out);
            }
        }
    }

    /// The back-off timer fires and the container starts again, without resetting the restart
    /// manager or `RestartCount`.
    ///
    /// Mirrors the goroutine at the end of `handleContainerExit`: `<-wait`, then
    /// `containerStart(c, "", "", false)`; on failure, `SetStopped(&exitStatus)` — the exit it
    /// was restarting from, so `ExitCode` is that exit's again, not the start's 127, and
    /// `RestartCount` keeps the restart it counted. No event is logged, and nothing tries
    /// again: the goroutine ends, and only an exit asks the restart manager, which a process
    /// that never started cannot have. The policy has given up until a start from outside
    /// (the API, or the daemon's next `restore`).
    fn restart_timer_fires(&mut self, at: Nanos, out: &mut Vec<Output>) {
        let Some(pending) = self.mem.pending_restart.take() else {
            return;
        };
        if self.container_start(false, at, out).is_err() {
            self.set_stopped(pending.exit);
            let waiters = mem::take(&mut self.mem.waiters);
            self.stops_done(waiters, at, out);
        }
    }

    /// A canceled restart manager wakes the back-off goroutine with `ErrRestartCanceled`: the
    /// container is marked stopped with the exit it was waiting to restart from, and no event is
    /// logged (the `die` was logged already).
    ///
    /// Mirrors the error branch of the goroutine at the end of `handleContainerExit`.
    pub(crate) fn settle_canceled_restart(&mut self, now: Nanos, out: &mut Vec<Output>) {
        if !self.mem.rm.is_some_and(|rm| rm.is_canceled()) {
            return;
        }
        let Some(pending) = self.mem.pending_restart.take() else {
            return;
        };
        self.set_stopped(pending.exit);
        let waiters = mem::take(&mut self.mem.waiters);
        self.stops_done(waiters, now, out);
    }

    // ANCHOR: container_start
    /// Starts the container's process.
    ///
    /// Mirrors `daemon.(*Daemon).containerStart`. With `reset` (every start except the back-off
    /// restart) it is a no-op on a running container, and it throws the restart manager away
    /// (`ResetRestartManager(true)`): `RestartCount` goes back to 0, the back-off to 100 ms, a
    /// cancel is forgotten, and `HasBeenManuallyStopped` is cleared.
    ///
    /// With the bind mount's source gone it fails, after that reset: `createSpec` does not look
    /// at a `--mount` source (`MountPoint.Setup` skips it, `SkipMountpointCreation`; a `-v`
    /// bind would be created again, empty), so runc's mount fails in `containerd.Start`
    /// ("no such file or directory"), `translateContainerdStartErr` sets exit code 127, and the
    /// deferred clean-up records the error (`SetError`), checkpoints, deletes containerd's
    /// container and logs *no* event. Running, paused, restarting and `StartedAt` are not
    /// touched: a container never started stays `created`. The error is a
    /// `startInvalidConfigError` (400).
    pub(crate) fn container_start(
        &mut self,
        reset: bool,
        now: Nanos,
        out: &mut Vec<Output>,
    ) -> Result<(), Answer> {
        if reset && self.disk.running {
            return Ok(());
        }
        if self.disk.dead || self.disk.removed {
            return Err(Answer::status(409));
        }
        if reset {
            self.mem.rm = None;
            if self.config.reference.mutant() != Some(Mutant::RestartCountNotReset) {
                self.disk.restart_count = 0;
            }
            self.disk.manually_stopped = false;
            self.disk.started_successfully = false;
        }
        if self.bind_source_gone {
            self.disk.exit_code = 127;
            self.c8d_container = false;
            return Err(Answer::status(400));
        }
        self.task = Task::Alive {
            frozen: false,
            held: Vec::new(),
        };
        self.c8d_container = true;
        self.set_running(now);
        self.disk.started_before = true;
        self.init_health_monitor(now);
        out.push(Output::Event(ContainerAction::Start));
        Ok(())
    }
    // ANCHOR_END: container_start

    /// Sends `signal` to the container on behalf of the daemon.
    ///
    /// Mirrors `daemon.(*Daemon).killWithSignal` (20.10), which every API kill, stop, restart,
    /// `rm -f` and the daemon's own shutdown go through. What it does besides signalling, which
    /// the docs do not say:
    /// - it cancels the restart manager (`ExitOnNext`) for *any* signal when `Config.StopSignal`
    ///   is unset — so `docker kill -s HUP` on a process that survives HUP still means the next
    ///   exit will not be restarted, `always` included — and, when `Config.StopSignal` is set,
    ///   only for that signal or SIGKILL;
    /// - it sets `HasBeenManuallyStopped` for every signal unless the daemon is shutting down —
    ///   also when the daemon itself is stopping a container it found alive at startup;
    /// - on a restarting container it sends nothing and logs no `kill`: the cancel alone ends
    ///   the back-off, and the container becomes `exited`;
    /// - on a paused container it resumes the process after signalling it (when it canceled).
    pub(crate) fn kill_with_signal(
        &mut self,
        signal: i32,
        now: Nanos,
        out: &mut Vec<Output>,
    ) -> Result<(), Answer> {
        if !self.disk.running {
            return Err(Answer::status(409));
        }
        let cancels = match self.config.container.stop_signal {
            Some(stop_signal) if signal != SIGKILL => signal == stop_signal,
            _ => true,
        };
        let as_crash =
            self.mem.api_kill && self.config.reference.mutant() == Some(Mutant::ApiKillAsCrash);
        // The documentation's readings of a stop (the engine has neither): a signal the process
        // survives, sent with `docker kill`, stops nothing; and `restore` stopping what outlived
        // a crashed daemon is the daemon's doing, not the user's.
        let survived = self
            .config
            .reference
            .follows(DocRule::SurvivedSignalIsNotAStop)
            && self.mem.api_kill
            && self.config.container.exit_code_on_signal(signal).is_none();
        let by_restore = self.config.reference.follows(DocRule::CrashIsNotAStop)
            && self.phase == DaemonPhase::Starting;
        let unpause = cancels && self.disk.paused;
        if cancels && !as_crash && !survived {
            self.rm_mut().cancel();
        }
        // The documentation's `unless-stopped` stays down after any stop, the daemon's own
        // shutdown's too; the engine's shutdown never marks a stop as manual.
        let shutdown_counts = self
            .config
            .reference
            .follows(DocRule::StoppedByDaemonStaysDown);
        if (!self.mem.shutting_down || shutdown_counts) && !as_crash && !survived && !by_restore {
            self.disk.manually_stopped = true;
        }
        if self.disk.restarting {
            self.settle_canceled_restart(now, out);
            return Ok(());
        }
        self.send_signal(signal, now);
        if unpause {
            self.thaw(now);
        }
        out.push(Output::Event(ContainerAction::Kill {
            signal: signal.to_string(),
        }));
        Ok(())
    }

    /// SIGKILL, then wait for the exit.
    ///
    /// Mirrors `daemon.(*Daemon).Kill` (20.10; `daemon.kill` in 29). The model's SIGKILL always
    /// kills (resuming a paused process first), so the 10 s wait and the direct kill that
    /// follows it never come into play.
    pub(crate) fn daemon_kill(&mut self, now: Nanos, out: &mut Vec<Output>) -> Result<(), Answer> {
        if !self.disk.running {
            return Err(Answer::status(409));
        }
        let _ = self.kill_with_signal(SIGKILL, now, out);
        self.drain(now, out);
        Ok(())
    }

    /// Sends the stop signal, waits up to `timeout_s` for the container to stop, then SIGKILLs
    /// it; `then` runs once it has stopped.
    ///
    /// Mirrors `daemon.(*Daemon).containerStop` (20.10). A running container only: on a stopped
    /// one it returns at once without a `stop` event. With a timeout of 0 the wait has expired
    /// before the exit can be processed, so SIGKILL (and its `kill` event) always follows, even
    /// if the process already died of the stop signal.
    pub(crate) fn container_stop(
        &mut self,
        timeout_s: i64,
        then: AfterStop,
        now: Nanos,
        out: &mut Vec<Output>,
    ) {
        let stop_signal = self.config.container.effective_stop_signal();
        let _ = self.kill_with_signal(stop_signal, now, out);
        if !self.disk.running {
            // Canceled out of its back-off: `Wait(NotRunning)` returns at once.
            self.stops_done(
                vec![StopWaiter {
                    kill_at: None,
                    then,
                }],
                now,
                out,
            );
            return;
        }
        let kill_at = (timeout_s >= 0).then(|| now.plus_secs(timeout_s));
        if timeout_s == 0 {
            self.mem.waiters.push(StopWaiter {
                kill_at: None,
                then,
            });
            let _ = self.kill_with_signal(SIGKILL, now, out);
        } else {
            self.mem.waiters.push(StopWaiter { kill_at, then });
        }
        self.drain(now, out);
    }

    // ----- state changes ---------------------------------------------------------------------

    /// See [`crate::DaemonModel::observed_start`].
    pub(crate) fn observed_start(&mut self, at: Nanos) {
        // A start seen more than this after the model's is not the same start.
        const LATEST_NS: i64 = 10_000_000_000;
        let d = &mut self.disk;
        if d.running
            && let Some(started) = d.started_at
            && started <= at
            && at.0 - started.0 <= LATEST_NS
        {
            d.started_at = Some(at);
            self.health_follows_start(started, at);
        }
    }

    /// Mirrors `container.(*State).SetRunning(pid, true)`.
    fn set_running(&mut self, now: Nanos) {
        let d = &mut self.disk;
        d.running = true;
        d.paused = false;
        d.restarting = false;
        d.exit_code = 0;
        d.started_at = Some(now);
        if self.config.engine.oom_flag() == OomFlag::AtOomEvent {
            d.oom_killed = false;
        }
    }

    /// Mirrors `container.(*State).SetStopped`.
    pub(crate) fn set_stopped(&mut self, exit: ExitStatus) {
        let d = &mut self.disk;
        d.running = false;
        d.paused = false;
        d.restarting = false;
        d.finished_at = Some(exit.at);
        d.exit_code = exit.code;
        if self.config.engine.oom_flag() == OomFlag::AtExit {
            d.oom_killed = exit.oom;
        }
    }

    /// Mirrors `container.(*State).SetRestarting`: still "running" for every API check.
    fn set_restarting(&mut self, exit: ExitStatus) {
        let d = &mut self.disk;
        d.running = true;
        d.restarting = true;
        d.paused = false;
        d.finished_at = Some(exit.at);
        d.exit_code = exit.code;
        if self.config.engine.oom_flag() == OomFlag::AtExit {
            d.oom_killed = exit.oom;
        }
    }
}
