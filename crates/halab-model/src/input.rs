//! What can happen to a container: its process ends, the host or the kernel kills it, a client
//! calls the Engine API, or the daemon is stopped, killed or started.

use serde::{Deserialize, Serialize};

use crate::policy::RestartPolicy;

/// One thing that happens to the container or its daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "kebab-case")]
pub enum Input {
    /// The main process exits by itself with `code`. Ignored when no process runs, or while it
    /// is paused (a frozen process cannot exit).
    ProcessExit { code: i64 },
    /// Something on the host (not the Engine API) kills the main process with `signal`: it dies
    /// with exit code 128+`signal`. The daemon never hears of the signal, only of the exit. While
    /// paused the signal waits for the thaw, except SIGKILL on cgroup v2.
    HostSignal { signal: i32 },
    /// The kernel's OOM killer kills the main process (exit code 137, plus an `oom` event).
    /// Ignored while paused.
    Oom,
    /// A client calls the Engine API.
    Api(ApiCall),
    /// The daemon process is stopped, killed or started.
    Daemon(DaemonInput),
}

/// An Engine API call on the container (API 1.41 spellings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "kebab-case")]
pub enum ApiCall {
    /// `POST /containers/{id}/start`.
    Start,
    /// `POST /containers/{id}/stop?t=`: the stop signal, then SIGKILL after `timeout_s`
    /// (`None`: the container's `StopTimeout`, default 10; negative: never).
    Stop { timeout_s: Option<i64> },
    /// `POST /containers/{id}/kill?signal=`; 0 means SIGKILL, as in the API.
    Kill { signal: i32 },
    /// `POST /containers/{id}/restart?t=`: a stop as above, then a start.
    Restart { timeout_s: Option<i64> },
    /// `POST /containers/{id}/pause`.
    Pause,
    /// `POST /containers/{id}/unpause`.
    Unpause,
    /// `DELETE /containers/{id}?force=1`.
    RemoveForce,
    /// `POST /containers/{id}/update` with only `RestartPolicy` set.
    UpdateRestartPolicy { policy: RestartPolicy },
}

impl ApiCall {
    /// The call as the docker CLI spells it, for tables.
    pub fn cli(self) -> String {
        match self {
            ApiCall::Start => "start".into(),
            ApiCall::Stop { timeout_s: None } => "stop".into(),
            ApiCall::Stop { timeout_s: Some(t) } => format!("stop -t {t}"),
            ApiCall::Kill { signal } => match crate::signal::name(signal) {
                Some(name) if signal != 0 => format!("kill -s {}", &name[3..]),
                _ if signal == 0 => "kill".into(),
                _ => format!("kill -s {signal}"),
            },
            ApiCall::Restart { timeout_s: None } => "restart".into(),
            ApiCall::Restart { timeout_s: Some(t) } => format!("restart -t {t}"),
            ApiCall::Pause => "pause".into(),
            ApiCall::Unpause => "unpause".into(),
            ApiCall::RemoveForce => "rm -f".into(),
            ApiCall::UpdateRestartPolicy { policy } => format!("update --restart {policy}"),
        }
    }
}

/// What happens to the daemon process. Whether containers survive it depends on the model's
/// [`crate::DaemonConfig::live_restore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaemonInput {
    /// SIGTERM to dockerd: a clean `Daemon.Shutdown`. The API stops answering at once.
    Stop,
    /// SIGKILL to dockerd: it dies on the spot, with everything it held in memory. containerd and
    /// the container's shim and process live on.
    Crash,
    /// The whole host loses power: dockerd dies, and so do containerd's tasks and the
    /// container's process, without any exit being recorded. containerd's metadata (its
    /// container objects) survives on disk. Not one of the daemon inputs the brief listed; kept
    /// because it is how on-failure containers come back with exit code 255.
    PowerLoss,
    /// dockerd starts: `Daemon.restore`, then the API answers.
    Start,
}
