//! What `docker inspect` (and the container's `config.v2.json`) would show.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::health::HealthStatus;
use crate::history::Nanos;
use crate::policy::RestartPolicy;

/// `State.Status`, as `container.(*State).StateString` derives it from the state's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// The status as inspect spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the daemon process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaemonPhase {
    /// Running and answering the API.
    Up,
    /// Stopping containers after a SIGTERM; the API no longer answers.
    ShuttingDown,
    /// Not running.
    Down,
    /// Started and restoring containers; the API does not answer yet.
    Starting,
}

/// The container as the daemon records it.
///
/// While the daemon is down nobody can inspect, and this is what its `config.v2.json` says —
/// which is also what inspect will show at first when it comes back, before `restore` corrects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Observed {
    pub status: Status,
    /// `docker rm` went through: the API answers 404 from now on. `status` keeps the last state
    /// the daemon held (`dead`).
    pub removed: bool,
    /// `RestartCount`.
    pub restart_count: u32,
    /// `State.ExitCode`: 0 while running (`SetRunning` clears it), the last exit's code while
    /// restarting or exited.
    pub exit_code: i64,
    /// `State.OOMKilled` (when it is set and cleared depends on the engine version).
    pub oom_killed: bool,
    /// `HasBeenManuallyStopped`: not shown by inspect, but persisted in `config.v2.json`; it is
    /// what keeps `unless-stopped` down across daemon restarts.
    pub manually_stopped: bool,
    /// `State.StartedAt` (`None` for the zero time: never started).
    pub started_at: Option<Nanos>,
    /// `State.FinishedAt` (`None` for the zero time: never exited).
    pub finished_at: Option<Nanos>,
    /// `HostConfig.RestartPolicy`.
    pub policy: RestartPolicy,
    pub daemon: DaemonPhase,
    /// `State.Health.Status`: `None` without a health check, or before the first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
}
