//! What the model is told up front: the engine, the daemon's settings, the container's settings
//! and how the process inside behaves when it gets a signal.
//!
//! The engine only knows the container's configuration; how the *process* answers a signal is a
//! fact about the workload that a real run fixes by choosing the image and command. The model
//! needs it to know whether `docker stop` ends in the stop signal or in SIGKILL after the timeout.

use serde::{Deserialize, Serialize};

use crate::engine::EngineVersion;
use crate::health::HealthCheck;
use crate::policy::RestartPolicy;
use crate::reference::Reference;
use crate::signal::{SIGKILL, SIGTERM, killed_by};

/// What the process does when a catchable signal reaches it. SIGKILL always kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum SignalResponse {
    /// Keeps running (a handler that does nothing, or PID 1 without a handler: the kernel drops
    /// signals to a namespace's init that it has no handler for).
    Ignore,
    /// Dies of the signal: exit code 128+N.
    Die,
    /// Catches it and exits at once with `code` (a graceful shutdown).
    Exit { code: i64 },
}

impl SignalResponse {
    /// The exit code the process ends with after receiving `signal`, if it ends.
    pub fn exit_code(self, signal: i32) -> Option<i64> {
        match self {
            SignalResponse::Ignore => None,
            SignalResponse::Die => Some(killed_by(signal)),
            SignalResponse::Exit { code } => Some(code),
        }
    }
}

/// How the container's main process answers signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Workload {
    /// Its answer to the container's stop signal (what `docker stop` and the daemon's shutdown send).
    pub on_stop_signal: SignalResponse,
    /// Its answer to any other catchable signal sent with `docker kill --signal`.
    pub on_other_signal: SignalResponse,
}

impl Default for Workload {
    /// A process that dies of the stop signal and ignores the others.
    fn default() -> Workload {
        Workload {
            on_stop_signal: SignalResponse::Die,
            on_other_signal: SignalResponse::Ignore,
        }
    }
}

/// The container's settings that bear on restarts (`Config` and `HostConfig` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// `HostConfig.RestartPolicy`.
    pub policy: RestartPolicy,
    /// `Config.StopSignal`; `None` when unset (image without `STOPSIGNAL`, no `--stop-signal`),
    /// in which case the daemon stops with SIGTERM. Whether it is set changes which `docker kill`
    /// signals cancel the restart manager (see `ContainerModel::kill_with_signal`).
    pub stop_signal: Option<i32>,
    /// `Config.StopTimeout` in seconds; `None` means the engine default of 10. Negative waits
    /// for ever.
    pub stop_timeout_s: Option<i64>,
    pub workload: Workload,
    /// `Config.Healthcheck`, with whether its probe passes; `None`: no health check. It never
    /// bears on a restart (see `health.rs`), only on what inspect and the events show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthCheck>,
}

impl ContainerSpec {
    /// A container with `policy` and every other setting at its default.
    pub fn with_policy(policy: RestartPolicy) -> ContainerSpec {
        ContainerSpec {
            policy,
            stop_signal: None,
            stop_timeout_s: None,
            workload: Workload::default(),
            health: None,
        }
    }

    /// The signal `docker stop` sends: mirrors `container.(*Container).StopSignal`.
    pub fn effective_stop_signal(&self) -> i32 {
        self.stop_signal.unwrap_or(SIGTERM)
    }

    /// Mirrors `container.(*Container).StopTimeout` (`DefaultStopTimeout` = 10).
    pub fn effective_stop_timeout_s(&self) -> i64 {
        self.stop_timeout_s.unwrap_or(10)
    }

    /// How the process ends when `signal` reaches it, if it does.
    pub(crate) fn exit_code_on_signal(&self, signal: i32) -> Option<i64> {
        if signal == SIGKILL {
            Some(killed_by(SIGKILL))
        } else if signal == self.effective_stop_signal() {
            self.workload.on_stop_signal.exit_code(signal)
        } else {
            self.workload.on_other_signal.exit_code(signal)
        }
    }
}

/// The cgroup version of the host: it decides whether SIGKILL reaches a paused (frozen) process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CgroupVersion {
    /// The v1 freezer holds every signal, SIGKILL included, until the cgroup is thawed.
    V1,
    /// The v2 freezer lets a fatal signal kill a frozen process.
    V2,
}

/// The daemon's settings that bear on restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DaemonConfig {
    /// `"live-restore": true` in `daemon.json`.
    pub live_restore: bool,
    pub cgroup: CgroupVersion,
}

impl Default for DaemonConfig {
    /// No live-restore, cgroup v1 (what the lab machine mounts at `/sys/fs/cgroup`).
    fn default() -> DaemonConfig {
        DaemonConfig {
            live_restore: false,
            cgroup: CgroupVersion::V1,
        }
    }
}

/// Everything the model is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelConfig {
    pub engine: EngineVersion,
    pub daemon: DaemonConfig,
    pub container: ContainerSpec,
    /// Which reading of the semantics the model follows (see [`Reference`]): the engine's own
    /// unless it is told otherwise.
    #[serde(default, skip_serializing_if = "is_engine")]
    pub reference: Reference,
}

impl ModelConfig {
    /// `policy` on `engine`, everything else at its default.
    pub fn new(policy: RestartPolicy, engine: EngineVersion) -> ModelConfig {
        ModelConfig {
            engine,
            daemon: DaemonConfig::default(),
            container: ContainerSpec::with_policy(policy),
            reference: Reference::Engine,
        }
    }
}

fn is_engine(reference: &Reference) -> bool {
    *reference == Reference::Engine
}
