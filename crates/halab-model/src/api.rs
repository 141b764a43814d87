//! The Engine API calls on one container: what each checks, does, logs and answers.
//!
//! Every call is answered with an [`Output::Reply`]; calls that wait for the container to stop
//! (stop, restart) are answered when the wait ends, which may be in a later step.

use crate::container::{AfterStop, ContainerModel};
use crate::history::{ContainerAction, Nanos};
use crate::observed::DaemonPhase;
use crate::op::ApiCall;
use crate::output::{Answer, Output};
use crate::policy::RestartPolicy;
use crate::restart_manager::RestartManager;
use crate::signal::SIGKILL;
use crate::task::Task;

impl ContainerModel {
    /// A client calls the API. Nothing answers unless the daemon is up; a removed container is
    /// 404 for every call.
    pub(crate) fn api(&mut self, call: ApiCall, now: Nanos, out: &mut Vec<Output>) {
        let answer = if self.phase != DaemonPhase::Up {
            Some(Answer::NoDaemon)
        } else if self.disk.removed {
            Some(Answer::status(404))
        } else {
            match call {
                ApiCall::Start => Some(self.api_start(now, out)),
                ApiCall::Stop { timeout_s } => self.api_stop(call, timeout_s, now, out),
                ApiCall::Kill { signal } => Some(self.api_kill(signal, now, out)),
                ApiCall::Restart { timeout_s } => self.api_restart(call, timeout_s, now, out),
                ApiCall::Pause => Some(self.api_pause(now, out)),
                ApiCall::Unpause => Some(self.api_unpause(now, out)),
                ApiCall::RemoveForce => Some(self.api_remove_force(now, out)),
                ApiCall::UpdateRestartPolicy { policy } => Some(self.api_update(policy, out)),
            }
        };
        if let Some(answer) = answer {
            // Events the call caused reach the daemon's event handler as the answer is written;
            // the model lists them first.
            self.drain(now, out);
            out.push(Output::Reply { call, answer });
        }
    }

    /// Mirrors `daemon.(*Daemon).ContainerStart` (its `validateState`), then `containerStart`
    /// with a reset restart manager. A restarting container counts as running: 304.
    ///
    /// Before `containerStart`, `verifyContainerSettings` (`validateHostConfig`:
    /// `ValidateMountConfig`, "check if host directories still exist") refuses a bind mount
    /// whose source is gone: 400, and nothing changes — not `RestartCount`, not the exit code.
    /// Only this API start checks; the restart manager, `docker restart` and the daemon's
    /// `restore` call `containerStart` directly, and fail inside it.
    fn api_start(&mut self, now: Nanos, out: &mut Vec<Output>) -> Answer {
        if self.disk.paused || self.disk.dead {
            return Answer::status(409);
        }
        if self.disk.running {
            return Answer::status(304);
        }
        if self.bind_source_gone {
            return Answer::status(400);
        }
        match self.container_start(true, now, out) {
            Ok(()) => Answer::status(204),
            Err(answer) => answer,
        }
    }

    /// Mirrors `daemon.(*Daemon).ContainerStop`: 304 unless running (restarting and paused count
    /// as running), else `containerStop` with the given or the container's timeout.
    fn api_stop(
        &mut self,
        call: ApiCall,
        timeout_s: Option<i64>,
        now: Nanos,
        out: &mut Vec<Output>,
    ) -> Option<Answer> {
        if !self.disk.running {
            return Some(Answer::status(304));
        }
        let timeout_s = timeout_s.unwrap_or(self.config.container.effective_stop_timeout_s());
        self.container_stop(timeout_s, AfterStop::Reply(call), now, out);
        None
    }

    /// Mirrors `daemon.(*Daemon).ContainerKill`: signal 0 and SIGKILL go through `Daemon.Kill`
    /// (signal, then wait for the exit), any other signal through `killWithSignal` alone. Both
    /// cancel the restart manager and set `HasBeenManuallyStopped` (see
    /// `ContainerModel::kill_with_signal`).
    fn api_kill(&mut self, signal: i32, now: Nanos, out: &mut Vec<Output>) -> Answer {
        self.mem.api_kill = true;
        let result = if signal == 0 || signal == SIGKILL {
            self.daemon_kill(now, out)
        } else {
            self.kill_with_signal(signal, now, out)
        };
        self.mem.api_kill = false;
        match result {
            Ok(()) => Answer::status(204),
            Err(answer) => answer,
        }
    }

    /// Mirrors `daemon.(*Daemon).containerRestart` (20.10): `containerStop` if running, then
    /// `containerStart` with a reset restart manager, then the `restart` event.
    fn api_restart(
        &mut self,
        call: ApiCall,
        timeout_s: Option<i64>,
        now: Nanos,
        out: &mut Vec<Output>,
    ) -> Option<Answer> {
        if self.disk.running {
            let timeout_s = timeout_s.unwrap_or(self.config.container.effective_stop_timeout_s());
            self.container_stop(timeout_s, AfterStop::Restart(call), now, out);
        } else {
            self.restart_after_stop(call, now, out);
        }
        None
    }

    /// The second half of `containerRestart`.
    pub(crate) fn restart_after_stop(&mut self, call: ApiCall, now: Nanos, out: &mut Vec<Output>) {
        let answer = match self.container_start(true, now, out) {
            Ok(()) => {
                out.push(Output::Event(ContainerAction::Restart));
                Answer::status(204)
            }
            // `ContainerRestart` wraps the error in a plain `fmt.Errorf`: no status type left.
            Err(_) => Answer::status(500),
        };
        out.push(Output::Reply { call, answer });
    }

    /// Mirrors `daemon.(*Daemon).containerPause`: only a running container that is neither
    /// paused nor restarting.
    fn api_pause(&mut self, now: Nanos, out: &mut Vec<Output>) -> Answer {
        if !self.disk.running || self.disk.paused || self.disk.restarting {
            return Answer::status(409);
        }
        if let Task::Alive { frozen, .. } = &mut self.task {
            *frozen = true;
        }
        self.disk.paused = true;
        self.update_health_monitor(now);
        out.push(Output::Event(ContainerAction::Pause));
        Answer::status(204)
    }

    /// Mirrors `daemon.(*Daemon).containerUnpause`. Its error for a container that is not
    /// paused is an untyped `fmt.Errorf`, hence 500 rather than 409.
    fn api_unpause(&mut self, now: Nanos, out: &mut Vec<Output>) -> Answer {
        if !self.disk.paused {
            return Answer::status(500);
        }
        self.thaw(now);
        self.disk.paused = false;
        self.update_health_monitor(now);
        out.push(Output::Event(ContainerAction::Unpause));
        Answer::status(204)
    }

    /// Mirrors `daemon.(*Daemon).ContainerRm` with `force` (`cleanupContainer`): `Daemon.Kill`
    /// if running (on a restarting container that is only the cancel: no `kill`, no `die`), a
    /// `containerStop` that finds it stopped and logs nothing, then `destroy`.
    fn api_remove_force(&mut self, now: Nanos, out: &mut Vec<Output>) -> Answer {
        if self.disk.running {
            let _ = self.daemon_kill(now, out);
        }
        self.disk.dead = true;
        self.disk.removed = true;
        if let Some(rm) = self.mem.rm.as_mut() {
            rm.cancel();
        }
        self.mem.pending_restart = None;
        self.task = Task::None;
        self.c8d_container = false;
        out.push(Output::Event(ContainerAction::Destroy));
        Answer::status(204)
    }

    /// Mirrors `daemon.(*Daemon).update` for a restart policy: the new policy is persisted and
    /// handed to the restart manager (`UpdateMonitor`, which creates one if there is none). A
    /// back-off restart already scheduled still happens; a canceled manager stays canceled.
    fn api_update(&mut self, policy: RestartPolicy, out: &mut Vec<Output>) -> Answer {
        self.disk.policy = policy;
        match self.mem.rm.as_mut() {
            Some(rm) => rm.set_policy(policy),
            None => self.mem.rm = Some(RestartManager::new(policy, self.disk.restart_count)),
        }
        out.push(Output::UpdateEvent);
        Answer::status(200)
    }
}
