//! The container's process as containerd and its shim hold it: the world the daemon only hears
//! about through events, and which outlives the daemon.
//!
//! Keeping it apart from the daemon's own record is what lets the model say what the daemon
//! finds when it starts again: a process still alive, one that exited while nobody listened
//! (its exit status waits in the shim), or nothing at all. The `impl` at the end is how exits and
//! signals reach the process, and how containerd reports them to a daemon that is there.

use std::collections::VecDeque;
use std::mem;

use serde::{Deserialize, Serialize};

use crate::config::CgroupVersion;
use crate::container::ContainerModel;
use crate::history::Nanos;
use crate::observed::DaemonPhase;
use crate::signal::{SIGKILL, killed_by};

/// A signal that reached a frozen (paused) process and waits for the thaw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct HeldSignal {
    pub(crate) signal: i32,
    /// Sent from the host to kill ([`crate::ServiceOp::Signal`]): it kills whatever handlers the
    /// process has. Signals from the daemon are answered as the workload answers them.
    pub(crate) fatal: bool,
}

/// containerd's task for the container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Task {
    /// No task: never started, its exit already handled (the daemon deletes the task), or lost
    /// with the host.
    None,
    /// The process runs, or is frozen by `docker pause` with the signals that reached it since.
    Alive { frozen: bool, held: Vec<HeldSignal> },
    /// The process exited and the task waits to be deleted: the daemon was down, or has not
    /// processed the exit event yet.
    Exited { code: i64, at: Nanos },
}

impl Task {
    pub(crate) fn is_alive(&self) -> bool {
        matches!(self, Task::Alive { .. })
    }

    pub(crate) fn is_frozen(&self) -> bool {
        matches!(self, Task::Alive { frozen: true, .. })
    }
}

/// An event containerd publishes and the daemon has not processed yet. containerd does not
/// replay events: those the daemon misses while down are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum ShimEvent {
    /// `TaskOOM`.
    Oom,
    /// `TaskExit` of the container's init process.
    Exit { code: i64 },
    /// `TaskResumed`.
    Resumed,
}

/// The events on their way to the daemon, in containerd's order (libcontainerd handles one
/// container's events one at a time, in order: `queue.Queue` keyed by container ID).
pub(crate) type ShimQueue = VecDeque<ShimEvent>;

impl ContainerModel {
    /// The process ends (by itself, by a host signal, or by the OOM killer). The shim records the
    /// exit and, if a daemon is there to hear it, containerd publishes it.
    pub(crate) fn process_exits(&mut self, code: i64, oom: bool, now: Nanos) {
        if !matches!(self.task, Task::Alive { frozen: false, .. }) {
            return;
        }
        self.task = Task::Exited { code, at: now };
        if self.phase != DaemonPhase::Down {
            if oom {
                self.mem.shim_events.push_back(ShimEvent::Oom);
            }
            self.mem.shim_events.push_back(ShimEvent::Exit { code });
        }
    }

    /// A signal from the host, without the daemon knowing. SIGKILL kills the process (exit
    /// 137); a frozen one holds it until thawed, except on cgroup v2. Any other signal is
    /// answered as the workload answers it, exactly as when the daemon sends it: the process is
    /// its PID namespace's init, and the kernel delivers to an init only the signals it has a
    /// handler for, from the host as from inside — SIGKILL and SIGSTOP excepted
    /// (`SIGNAL_UNKILLABLE`, kernel/signal.c `sig_task_ignored`). A SIGTERM from the host to a
    /// busybox `sh` without a trap does nothing (seen on a lab, by a drawn chaos schedule).
    pub(crate) fn host_signal(&mut self, signal: i32, now: Nanos) {
        if signal != SIGKILL {
            self.send_signal(signal, now);
            return;
        }
        let kills_frozen = self.config.daemon.cgroup == CgroupVersion::V2;
        match &mut self.task {
            Task::Alive { frozen: true, held } if !kills_frozen => held.push(HeldSignal {
                signal,
                fatal: true,
            }),
            Task::Alive { frozen, .. } => {
                *frozen = false;
                self.process_exits(killed_by(signal), false, now);
            }
            _ => {}
        }
    }

    /// A signal from the daemon reaches the process (containerd `SignalProcess`), which answers
    /// it as the workload does; a frozen process holds it until thawed, except SIGKILL on
    /// cgroup v2, which kills it frozen.
    pub(crate) fn send_signal(&mut self, signal: i32, now: Nanos) {
        let cgroup = self.config.daemon.cgroup;
        let Task::Alive { frozen, held } = &mut self.task else {
            return;
        };
        if *frozen {
            if signal == SIGKILL && cgroup == CgroupVersion::V2 {
                *frozen = false;
                self.process_exits(killed_by(SIGKILL), false, now);
            } else {
                held.push(HeldSignal {
                    signal,
                    fatal: false,
                });
            }
            return;
        }
        if let Some(code) = self.config.container.exit_code_on_signal(signal) {
            self.process_exits(code, false, now);
        }
    }

    /// Thaws the process (containerd `Resume`) and delivers the signals it held. Returns whether
    /// anything was thawed (a process that died frozen cannot be resumed).
    ///
    /// Which of `TaskExit` and `TaskResumed` reaches the daemon first depends on how the process
    /// ends. containerd 1.6's runc shim publishes `TaskResumed` only once `runc resume` has
    /// returned (`task.(*service).Resume`), while the init process's exit is published by the
    /// shim's reaper (`(*service).checkProcesses`) as soon as the process is gone:
    /// - a process SIGKILL was held for dies in the kernel the moment it thaws, before `runc
    ///   resume` returns: `TaskExit` comes first, the exit handler's `SetStopped` clears
    ///   `Paused`, and `daemon.(*Daemon).ProcessEvent`'s `EventResumed` branch (20.10), which
    ///   logs `unpause` only `if c.Paused`, logs nothing. So `docker kill` (and `rm -f`) of a
    ///   paused container logs `kill`, `die` and no `unpause`;
    /// - any other signal ends a container's init only through its own code running after the
    ///   thaw (a trap, or an init such as `docker run --init`'s tini forwarding it and exiting
    ///   128+N: the kernel drops signals an init has no handler for), too late: `TaskResumed`
    ///   comes first and `docker stop` of a paused container logs `kill`, `unpause`, `die`,
    ///   `stop`.
    ///
    /// Both orders were seen every time on dockerd 20.10.24 / containerd 1.6.20 (cgroup v1), the
    /// second with a trap and with `--init`; the differential table
    /// (`tests/integration/differential.rs`) checks both.
    pub(crate) fn thaw(&mut self, now: Nanos) -> bool {
        let Task::Alive { frozen, held } = &mut self.task else {
            return false;
        };
        if !*frozen {
            return false;
        }
        *frozen = false;
        let held = mem::take(held);
        let spec = self.config.container;
        // The first held signal that ends the process decides; the rest find it gone.
        // A SIGKILL from the host held while frozen kills at the thaw (see `ServiceOp::Signal`).
        let ending = held.iter().find_map(|h| {
            if h.fatal {
                Some((killed_by(h.signal), true))
            } else {
                let code = spec.exit_code_on_signal(h.signal)?;
                Some((code, h.signal == SIGKILL))
            }
        });
        if let Some((code, true)) = ending {
            self.process_exits(code, false, now);
        }
        if self.phase != DaemonPhase::Down {
            self.mem.shim_events.push_back(ShimEvent::Resumed);
        }
        if let Some((code, false)) = ending {
            self.process_exits(code, false, now);
        }
        true
    }
}
