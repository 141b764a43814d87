//! Operations: what is done to a daemon or to one of its services — the one vocabulary of
//! halab. Scenario files are written in it, both runtimes carry it out, the history records it
//! (each operation an `invoke` and then an `ok` or a `fail`), the model and the simulator take
//! it, and the oracle replays it.
//!
//! An [`Op`] is a [`DaemonOp`] (the daemon process), a [`ServiceOp`] aimed at a service (its
//! container: a signal from the host, the workload's own exit or OOM, an Engine API call), or a
//! bounded [`Wait`] (which only the harness does; the model lets time pass).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::health::HealthStatus;
use crate::policy::RestartPolicy;
use crate::signal;

/// One thing done to a daemon or one of its services.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// To the daemon process: every container under it feels it.
    Daemon(DaemonOp),
    /// To one service's container.
    Service { service: String, op: ServiceOp },
    /// Nothing is done: the harness waits, at most a bounded time.
    Wait(Wait),
}

impl Op {
    /// `op` aimed at `service`.
    pub fn on(service: impl Into<String>, op: ServiceOp) -> Op {
        Op::Service {
            service: service.into(),
            op,
        }
    }

    /// The service the op is aimed at (a wait on a service counts), if any.
    pub fn service(&self) -> Option<&str> {
        match self {
            Op::Service { service, .. } => Some(service),
            Op::Wait(wait) => wait.service(),
            Op::Daemon(_) => None,
        }
    }

    /// Whether carrying it out changes anything (waits and inspections do not).
    pub fn acts(&self) -> bool {
        !matches!(
            self,
            Op::Wait(_)
                | Op::Service {
                    op: ServiceOp::Inspect,
                    ..
                }
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Daemon(op) => write!(f, "{op}"),
            Op::Service { service, op } => write!(f, "{op} {service}"),
            Op::Wait(wait) => write!(f, "{wait}"),
        }
    }
}

// ANCHOR: daemon_op
/// What is done to the daemon process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaemonOp {
    /// SIGTERM to dockerd: a clean `Daemon.Shutdown`. The API stops answering at once. Whether
    /// containers survive it depends on [`crate::DaemonConfig::live_restore`].
    Stop,
    /// SIGKILL to dockerd: it dies on the spot, with everything it held in memory. containerd and
    /// the containers' shims and processes live on.
    Crash,
    /// The whole host loses power: dockerd dies, and so do containerd's tasks and the
    /// containers' processes, without any exit being recorded. containerd's metadata (its
    /// container objects) survives on disk, which is how `on-failure` containers come back
    /// with exit code 255. On a lab: dockerd, containerd, every shim and every container
    /// process of the lab get SIGKILL at once.
    PowerLoss,
    /// dockerd starts: `Daemon.restore`, then the API answers.
    Start,
}
// ANCHOR_END: daemon_op

impl DaemonOp {
    /// The op as a scenario file spells it.
    pub fn name(self) -> &'static str {
        match self {
            DaemonOp::Stop => "daemon-stop",
            DaemonOp::Crash => "daemon-crash",
            DaemonOp::PowerLoss => "power-loss",
            DaemonOp::Start => "daemon-start",
        }
    }

    /// Whether it ends the daemon process.
    pub fn ends_daemon(self) -> bool {
        !matches!(self, DaemonOp::Start)
    }
}

impl fmt::Display for DaemonOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ANCHOR: service_op
/// What is done to one service's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceOp {
    /// A crash: `signal` sent from the host to the container's main process, outside the
    /// Engine API. The daemon never hears of the signal, only of the exit. SIGKILL always kills
    /// (exit 137); any other signal only as the workload answers it, for the process is its PID
    /// namespace's init, which the kernel sends only the signals it handles. While paused the
    /// signal waits for the thaw, except SIGKILL on cgroup v2.
    Signal { signal: i32 },
    /// The workload exits by itself with `code` (told to through its control file, on a real
    /// daemon). Ignored when no process runs, or while it is paused (a frozen process cannot
    /// exit).
    Exit { code: i64 },
    /// The workload exceeds its memory limit and the kernel's OOM killer kills it (exit code
    /// 137, plus an `oom` event). Ignored while paused.
    Oom,
    /// An Engine API call on the container.
    Api(ApiCall),
    /// `docker inspect`: reads `State` and `RestartCount`, changes nothing. The oracle compares
    /// what it read with the model's state at that moment.
    Inspect,
    /// The service's directory on the host, the source of its bind mount (`--mount
    /// type=bind`), is taken away (`present: false`; on a lab it is renamed aside, contents
    /// kept) or put back. Nothing happens to the container then — a running process keeps the
    /// directory it has mounted — and the daemon is not told: only the next start finds the
    /// source gone, and fails (see `ContainerModel::container_start`). An environmental fault,
    /// done on the host, so it is done whatever the daemon's state.
    BindSource { present: bool },
}
// ANCHOR_END: service_op

impl fmt::Display for ServiceOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceOp::Signal { signal } => match signal::name(*signal) {
                Some(name) => write!(f, "crash ({name} from the host)"),
                None => write!(f, "crash (signal {signal} from the host)"),
            },
            ServiceOp::Exit { code } => write!(f, "exit {code}"),
            ServiceOp::Oom => f.write_str("oom"),
            ServiceOp::Api(call) => write!(f, "docker {}", call.cli()),
            ServiceOp::Inspect => f.write_str("docker inspect"),
            ServiceOp::BindSource { present: false } => f.write_str("remove the bind source of"),
            ServiceOp::BindSource { present: true } => f.write_str("restore the bind source of"),
        }
    }
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

/// A bounded wait. Counts are of events after the last acting operation before the wait (see
/// [`Wait::Starts`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wait {
    /// Lets `ms` pass.
    For { ms: u64 },
    /// Until `ms` after the run's first phase began (a schedule's fixed point in time).
    Until { ms: u64 },
    /// Until `service` has started `count` more times, at most `timeout_ms`. "More" counts from
    /// the invoke of the last acting operation before the wait in its list (so `docker-start`
    /// then a wait for 1 start waits for the start it causes, even if its event arrives late;
    /// and after `daemon-start`, a wait for each service counts that service's restart), or,
    /// after another counting wait on the same service, from the wait's own invoke.
    Starts {
        service: String,
        count: u64,
        timeout_ms: u64,
    },
    /// Until `service` has died `count` more times (counted as for [`Wait::Starts`]), at most
    /// `timeout_ms`.
    Dies {
        service: String,
        count: u64,
        timeout_ms: u64,
    },
    /// Until `service` is in `state` as its events show it, at most `timeout_ms`.
    State {
        service: String,
        state: ServiceState,
        timeout_ms: u64,
    },
    /// Until `service`'s latest `health_status` event since its latest start says `health`,
    /// at most `timeout_ms`.
    Health {
        service: String,
        health: HealthStatus,
        timeout_ms: u64,
    },
}

impl Wait {
    pub fn service(&self) -> Option<&str> {
        match self {
            Wait::For { .. } | Wait::Until { .. } => None,
            Wait::Starts { service, .. }
            | Wait::Dies { service, .. }
            | Wait::State { service, .. }
            | Wait::Health { service, .. } => Some(service),
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |ms: u64| ms as f64 / 1000.0;
        match self {
            Wait::For { ms } => write!(f, "wait {} s", secs(*ms)),
            Wait::Until { ms } => write!(f, "wait until +{} s", secs(*ms)),
            Wait::Starts {
                service,
                count,
                timeout_ms,
            } => write!(
                f,
                "wait for {count} start(s) of {service} (at most {} s)",
                secs(*timeout_ms)
            ),
            Wait::Dies {
                service,
                count,
                timeout_ms,
            } => write!(
                f,
                "wait for {count} die(s) of {service} (at most {} s)",
                secs(*timeout_ms)
            ),
            Wait::State {
                service,
                state,
                timeout_ms,
            } => write!(
                f,
                "wait until {service} is {} (at most {} s)",
                state.name(),
                secs(*timeout_ms)
            ),
            Wait::Health {
                service,
                health,
                timeout_ms,
            } => write!(
                f,
                "wait until {service} is {health} (at most {} s)",
                secs(*timeout_ms)
            ),
        }
    }
}

/// A service's state as its events show it (what a wait can wait for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    /// Started (or unpaused) and not died since.
    Running,
    /// Died and not started since.
    Exited,
    Paused,
    /// Destroyed.
    Removed,
}

impl ServiceState {
    pub fn name(self) -> &'static str {
        match self {
            ServiceState::Running => "running",
            ServiceState::Exited => "exited",
            ServiceState::Paused => "paused",
            ServiceState::Removed => "removed",
        }
    }

    /// The state after `action`, if the action changes it.
    pub fn after(action: &crate::history::ContainerAction) -> Option<ServiceState> {
        use crate::history::ContainerAction as A;
        Some(match action {
            A::Start | A::Unpause => ServiceState::Running,
            A::Die { .. } => ServiceState::Exited,
            A::Pause => ServiceState::Paused,
            A::Destroy => ServiceState::Removed,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_read_as_a_person_would_say_them() {
        assert_eq!(
            Op::on("web", ServiceOp::Signal { signal: 9 }).to_string(),
            "crash (SIGKILL from the host) web"
        );
        assert_eq!(
            Op::on("web", ServiceOp::Api(ApiCall::Kill { signal: 9 })).to_string(),
            "docker kill -s KILL web"
        );
        assert_eq!(Op::Daemon(DaemonOp::Crash).to_string(), "daemon-crash");
        assert_eq!(Op::Wait(Wait::For { ms: 1500 }).to_string(), "wait 1.5 s");
        assert_eq!(
            Op::on("web", ServiceOp::BindSource { present: false }).to_string(),
            "remove the bind source of web"
        );
    }
}
