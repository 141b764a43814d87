//! The daemon's own life as one container lives it: a clean stop, a crash, a power loss, and the
//! restore at the next start.
//!
//! What survives is exactly what the daemon persisted (the container's config and state on disk)
//! and what containerd holds (the task, its exit status, the container object). The restart
//! manager, a pending back-off restart, a stop waiting for its grace period and the
//! "shutting down" flag are memory, and go with the process.

use crate::container::{AfterStop, ContainerModel, DaemonMemory, ExitStatus};
use crate::history::{DaemonAction, Nanos};
use crate::observed::DaemonPhase;
use crate::op::DaemonOp;
use crate::output::{Answer, Output};
use crate::task::Task;

impl ContainerModel {
    /// Something happens to the daemon process. Inputs that make no sense in the daemon's phase
    /// (start a running daemon, stop a stopped one, stop one still restoring) do nothing.
    pub(crate) fn daemon(&mut self, op: DaemonOp, now: Nanos, out: &mut Vec<Output>) {
        match op {
            DaemonOp::Stop if self.phase == DaemonPhase::Up => self.shutdown(now, out),
            DaemonOp::Crash if self.phase != DaemonPhase::Down => self.go_down(out),
            DaemonOp::PowerLoss => {
                if self.phase != DaemonPhase::Down {
                    self.go_down(out);
                }
                // The process dies and containerd's task state is lost; its metadata is not.
                self.task = Task::None;
            }
            DaemonOp::Start if self.phase == DaemonPhase::Down => self.restore(now, out),
            _ => {}
        }
    }

    /// SIGTERM to dockerd.
    ///
    /// Mirrors `daemon.(*Daemon).Shutdown` (20.10). The API listener is closed first
    /// (`DaemonCli.stop`); then, with live-restore, `Shutdown` returns as soon as it sees a
    /// running container and leaves everything as it is. Without it, every running container
    /// (paused and restarting included) gets `shutdownContainer`: a `containerStop` with the
    /// container's own timeout, during which `IsShuttingDown()` is true — so the stop does *not*
    /// set `HasBeenManuallyStopped`, and the exit is judged as manually stopped only for that
    /// one decision, which the cancel makes moot anyway.
    fn shutdown(&mut self, now: Nanos, out: &mut Vec<Output>) {
        self.mem.shutting_down = true;
        if self.config.daemon.live_restore || self.disk.removed || !self.disk.running {
            self.go_down(out);
            return;
        }
        self.phase = DaemonPhase::ShuttingDown;
        let timeout_s = self.config.container.effective_stop_timeout_s();
        self.container_stop(timeout_s, AfterStop::Shutdown, now, out);
    }

    /// The daemon process is gone (the end of `Shutdown`, or a SIGKILL): everything it held in
    /// memory goes with it, and API calls still waiting lose their connection.
    pub(crate) fn go_down(&mut self, out: &mut Vec<Output>) {
        for waiter in &self.mem.waiters {
            if let AfterStop::Reply(call) | AfterStop::Restart(call) = waiter.then {
                out.push(Output::Reply {
                    call,
                    answer: Answer::Dropped,
                });
            }
        }
        self.mem = DaemonMemory::default();
        self.restore_waiting = None;
        self.phase = DaemonPhase::Down;
        out.push(Output::Daemon(DaemonAction::Stopped));
    }

    /// dockerd starts and restores the container, before its API answers.
    ///
    /// Mirrors the per-container part of `daemon.(*Daemon).restore` (20.10): ask containerd
    /// whether the task is alive (`containerd.Restore`); if it is and live-restore is off, stop it
    /// with `shutdownContainer` — which, the daemon not shutting down, sets
    /// `HasBeenManuallyStopped`, so an `unless-stopped` container that was running when the
    /// daemon crashed stays down — then go on in [`ContainerModel::restore_rest`].
    ///
    /// If the task is dead, the exit status comes from the shim when it kept one (the process
    /// exited while the daemon was down: no `die` event is ever logged for it), 255 when
    /// containerd has the container but no task (`restoredProcess.Delete` on a nil process), and
    /// the engine's [`crate::EngineVersion`]-dependent code when containerd has no container at
    /// all (0 in 20.10).
    fn restore(&mut self, now: Nanos, out: &mut Vec<Output>) {
        self.phase = DaemonPhase::Starting;
        self.mem = DaemonMemory::default();
        if self.disk.removed {
            self.phase = DaemonPhase::Up;
            out.push(Output::Daemon(DaemonAction::Ready));
            return;
        }
        let alive = self.task.is_alive();
        let exit = match self.task {
            Task::Exited { code, at } => Some(ExitStatus {
                code,
                at,
                oom: false,
            }),
            Task::None if self.c8d_container => Some(ExitStatus {
                code: 255,
                at: now,
                oom: false,
            }),
            _ => None,
        };
        if !alive {
            // `process.Delete`: the shim's task is gone from here on.
            self.task = Task::None;
        }
        if alive && !self.config.daemon.live_restore {
            let timeout_s = self.config.container.effective_stop_timeout_s();
            self.container_stop(timeout_s, AfterStop::Restore, now, out);
            return;
        }
        self.restored(alive, exit, now, out);
    }

    /// The container's part of `restore`'s first loop is done. `restore` waits for every
    /// container's part (`group.Wait()`) before any restart-policy start: under a
    /// [`crate::DaemonModel`] the container waits here until the daemon releases it
    /// ([`ContainerModel::release_restore`]); alone, it goes on at once.
    pub(crate) fn restored(
        &mut self,
        alive: bool,
        exit: Option<ExitStatus>,
        now: Nanos,
        out: &mut Vec<Output>,
    ) {
        if self.managed {
            self.restore_waiting = Some((alive, exit));
        } else {
            self.restore_rest(alive, exit, now, out);
        }
    }

    /// Whether the container is still in `restore`'s first loop (stopping what it found alive).
    pub(crate) fn restoring(&self) -> bool {
        self.phase == DaemonPhase::Starting && self.restore_waiting.is_none()
    }

    /// `restore`'s second part for this container, once every container finished the first.
    pub(crate) fn release_restore(&mut self, now: Nanos, out: &mut Vec<Output>) {
        if let Some((alive, exit)) = self.restore_waiting.take() {
            self.restore_rest(alive, exit, now, out);
        }
    }

    /// The rest of `restore` for one container, then the restart-policy start.
    ///
    /// A container the daemon believed running (or paused, or restarting) but whose process is
    /// gone is marked stopped with `exit` (see [`ContainerModel::restore`]). Then, for *every*
    /// container, `c.ShouldRestart()` asks a fresh restart manager — seeded with the persisted
    /// `RestartCount`, exit code and `HasBeenManuallyStopped` — and `restartContainers` starts it
    /// with `containerStart(reset=true)` if the answer is yes and it was ever started. So:
    /// - `always` starts even if it was stopped through the API (the manager ignores the flag);
    /// - `unless-stopped` starts unless `HasBeenManuallyStopped`;
    /// - `on-failure` starts if the recorded exit code is not 0 and the count is below the
    ///   maximum — a `docker stop` that ended in 143 or 137 counts as a failure (moby #35166);
    /// - the start resets `RestartCount` to 0.
    ///
    /// The docs disagree twice, and the model follows the code: they say `on-failure` "doesn't
    /// restart the container if the daemon restarts" (it does, from a non-zero last exit), and
    /// that `unless-stopped` stopped "manually or otherwise" stays down across a daemon restart
    /// (stopped by the daemon's own clean shutdown, it comes back).
    ///
    /// That `ShouldRestart` is not free: on a container still running (live-restore) the
    /// manager it leaves behind has already counted one restart, set its back-off to 100 ms and
    /// marked itself active for 100 ms — an exit within those 100 ms is not restarted at all
    /// ("invalid call on an active restart manager"), and later back-offs start at 200 ms.
    pub(crate) fn restore_rest(
        &mut self,
        alive: bool,
        exit: Option<ExitStatus>,
        now: Nanos,
        out: &mut Vec<Output>,
    ) {
        if self.disk.running || self.disk.paused {
            if self.disk.paused && alive && !self.task.is_frozen() {
                self.disk.paused = false;
            }
            if !alive {
                let exit = exit.unwrap_or(ExitStatus {
                    code: self.config.engine.exit_code_for_missing_container(),
                    at: now,
                    oom: false,
                });
                self.set_stopped(exit);
                // `Cleanup` deletes containerd's container object.
                self.c8d_container = false;
            }
            // `c.RestartManager().Cancel()`, then `c.ResetRestartManager(false)`.
            self.mem.rm = None;
        }
        let exit_code = self.disk.exit_code;
        let manually_stopped = self.disk.manually_stopped
            && !(self.config.reference.mutant()
                == Some(crate::mutant::Mutant::UnlessStoppedAsAlways)
                && self.disk.policy == crate::policy::RestartPolicy::UnlessStopped);
        let ran_for_ns = match (self.disk.started_at, self.disk.finished_at) {
            (Some(started), Some(finished)) => finished.0.saturating_sub(started.0),
            _ => 0,
        };
        let ran_for_ns = self.mutated_run_length(ran_for_ns);
        let decision = self
            .rm_mut()
            .should_restart(exit_code, manually_stopped, ran_for_ns, now);
        // The documentation's `on-failure` is never restarted by the daemon's start-up.
        let documented_no = self
            .config
            .reference
            .follows(crate::reference::DocRule::OnFailureNotAtDaemonStart)
            && matches!(
                self.disk.policy,
                crate::policy::RestartPolicy::OnFailure { .. }
            );
        if decision.restarts() && self.disk.started_before && !documented_no {
            let _ = self.container_start(true, now, out);
        }
        self.phase = DaemonPhase::Up;
        out.push(Output::Daemon(DaemonAction::Ready));
    }
}
