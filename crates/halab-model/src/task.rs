//! The container's process as containerd and its shim hold it: the world the daemon only hears
//! about through events, and which outlives the daemon.
//!
//! Keeping it apart from the daemon's own record is what lets the model say what the daemon
//! finds when it starts again: a process still alive, one that exited while nobody listened
//! (its exit status waits in the shim), or nothing at all.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::history::Nanos;

/// A signal that reached a frozen (paused) process and waits for the thaw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct HeldSignal {
    pub(crate) signal: i32,
    /// Sent from the host to kill ([`crate::Input::HostSignal`]): it kills whatever handlers the
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
