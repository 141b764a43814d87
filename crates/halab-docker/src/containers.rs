//! Containers a run creates, and their removal. Everything carries [`labels::RUN`].

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerUpdateBody, HealthConfig, HostConfig,
    Mount, MountType, RestartPolicy as ApiPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, KillContainerOptions, ListContainersOptions,
    RemoveContainerOptions, RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};
use halab_model::RestartPolicy;

use crate::{DockerError, labels};

/// What a run asks the daemon to run.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub restart: RestartPolicy,
    /// Bind mounts, as `--mount type=bind` (`HostConfig.Mounts`, not `-v`'s `Binds`): a source
    /// that is gone when the container starts again is then an error, as it is for
    /// `ServiceOp::BindSource`, where 20.10 would quietly create an empty directory for a `-v`
    /// bind (`MountPoint.Setup`).
    pub bind_mounts: Vec<BindMount>,
    /// Seconds `docker stop` (and a clean daemon stop) waits before SIGKILL; `None` = engine default.
    pub stop_timeout: Option<i64>,
    /// A memory limit in MiB, swap included (so that exceeding it is an OOM kill, not a swap).
    pub memory_mb: Option<u64>,
    /// `none` spares each start the veth and iptables work, which restarts do not need.
    pub network_none: bool,
    /// Labels besides the run label.
    pub labels: HashMap<String, String>,
    /// A health check (`--health-cmd` and its timing); `None`: the image's, and the lab image
    /// has none.
    pub health: Option<HealthProbe>,
}

/// A health check: a shell command the daemon runs in the container, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthProbe {
    /// Run with the container's shell: `["CMD-SHELL", cmd]`.
    pub cmd: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub start_period_ms: u64,
    pub retries: u32,
}

impl HealthProbe {
    /// As the Engine API takes it: durations in nanoseconds.
    pub fn api(&self) -> HealthConfig {
        let nanos = |ms: u64| {
            i64::try_from(ms)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000)
        };
        HealthConfig {
            test: Some(vec!["CMD-SHELL".to_owned(), self.cmd.clone()]),
            interval: Some(nanos(self.interval_ms)),
            timeout: Some(nanos(self.timeout_ms)),
            start_period: Some(nanos(self.start_period_ms)),
            retries: Some(i64::from(self.retries)),
            start_interval: None,
        }
    }
}

/// A host directory mounted into a container.
#[derive(Debug, Clone)]
pub struct BindMount {
    /// On the host; it must exist when the container is created.
    pub source: String,
    /// In the container: an absolute path.
    pub target: String,
}

/// Creates and starts a container for run `run_id`. Returns its id.
pub async fn create_and_start(
    docker: &Docker,
    run_id: &str,
    spec: &ContainerSpec,
) -> Result<String, DockerError> {
    let id = create(docker, run_id, spec).await?;
    docker
        .start_container(&id, None)
        .await
        .map_err(DockerError::api(format!(
            "starting container {}",
            spec.name
        )))?;
    Ok(id)
}

/// Creates (does not start) a container for run `run_id`. Returns its id.
pub async fn create(
    docker: &Docker,
    run_id: &str,
    spec: &ContainerSpec,
) -> Result<String, DockerError> {
    if docker.inspect_image(&spec.image).await.is_err() {
        return Err(DockerError::ImageMissing {
            image: spec.image.clone(),
            host: "this daemon".into(),
        });
    }
    let mut labels = spec.labels.clone();
    labels.insert(labels::RUN.to_owned(), run_id.to_owned());
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.cmd.clone()),
        labels: Some(labels),
        stop_timeout: spec.stop_timeout,
        healthcheck: spec.health.as_ref().map(HealthProbe::api),
        host_config: Some(HostConfig {
            mounts: Some(
                spec.bind_mounts
                    .iter()
                    .map(|m| Mount {
                        typ: Some(MountType::BIND),
                        source: Some(m.source.clone()),
                        target: Some(m.target.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            restart_policy: Some(api_policy(spec.restart)),
            memory: spec.memory_mb.map(|mb| (mb * 1024 * 1024) as i64),
            memory_swap: spec.memory_mb.map(|mb| (mb * 1024 * 1024) as i64),
            network_mode: spec.network_none.then(|| "none".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(spec.name.clone()),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(options), body)
        .await
        .map_err(DockerError::api(format!(
            "creating container {}",
            spec.name
        )))?;
    Ok(created.id)
}

/// The Engine API's spelling of a restart policy.
pub fn api_policy(policy: RestartPolicy) -> ApiPolicy {
    let name = match policy {
        RestartPolicy::No => RestartPolicyNameEnum::NO,
        RestartPolicy::OnFailure { .. } => RestartPolicyNameEnum::ON_FAILURE,
        RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
        RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
    };
    ApiPolicy {
        name: Some(name),
        maximum_retry_count: Some(i64::from(policy.api_max_retries())),
    }
}

pub async fn inspect(docker: &Docker, name: &str) -> Result<ContainerInspectResponse, DockerError> {
    docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .map_err(DockerError::api(format!("inspecting container {name}")))
}

/// Stops a container through the API (SIGTERM, then SIGKILL after `timeout_secs`; `None`:
/// the container's own stop timeout).
pub async fn stop(
    docker: &Docker,
    name: &str,
    timeout_secs: Option<i32>,
) -> Result<(), DockerError> {
    let options = StopContainerOptions {
        t: timeout_secs,
        ..Default::default()
    };
    docker
        .stop_container(name, Some(options))
        .await
        .map_err(DockerError::api(format!("stopping container {name}")))
}

/// `docker kill --signal`: through the API, so the daemon counts it as a manual stop.
pub async fn kill(docker: &Docker, name: &str, signal: i32) -> Result<(), DockerError> {
    let options = KillContainerOptions {
        signal: signal.to_string(),
    };
    docker
        .kill_container(name, Some(options))
        .await
        .map_err(DockerError::api(format!(
            "killing container {name} with signal {signal}"
        )))
}

/// `docker restart` (a stop as [`stop`], then a start).
pub async fn restart(
    docker: &Docker,
    name: &str,
    timeout_secs: Option<i32>,
) -> Result<(), DockerError> {
    let options = RestartContainerOptions {
        t: timeout_secs,
        ..Default::default()
    };
    docker
        .restart_container(name, Some(options))
        .await
        .map_err(DockerError::api(format!("restarting container {name}")))
}

/// `docker pause`.
pub async fn pause(docker: &Docker, name: &str) -> Result<(), DockerError> {
    docker
        .pause_container(name)
        .await
        .map_err(DockerError::api(format!("pausing container {name}")))
}

/// `docker unpause`.
pub async fn unpause(docker: &Docker, name: &str) -> Result<(), DockerError> {
    docker
        .unpause_container(name)
        .await
        .map_err(DockerError::api(format!("unpausing container {name}")))
}

/// `docker rm -f` (with the container's anonymous volumes).
pub async fn remove_force(docker: &Docker, name: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    docker
        .remove_container(name, Some(options))
        .await
        .map_err(DockerError::api(format!("removing container {name}")))
}

/// `docker update --restart`.
pub async fn update_restart_policy(
    docker: &Docker,
    name: &str,
    policy: RestartPolicy,
) -> Result<(), DockerError> {
    let body = ContainerUpdateBody {
        restart_policy: Some(api_policy(policy)),
        ..Default::default()
    };
    docker
        .update_container(name, body)
        .await
        .map_err(DockerError::api(format!(
            "updating container {name}'s restart policy"
        )))
}

/// `docker start`.
pub async fn start(docker: &Docker, name: &str) -> Result<(), DockerError> {
    docker
        .start_container(name, None::<StartContainerOptions>)
        .await
        .map_err(DockerError::api(format!("starting container {name}")))
}

/// Sends `signal` to the container's main process from the host, outside Docker's API: the
/// daemon only learns that the process died, as it would of a crash. The container must run on
/// this host (its `State.Pid` is a host pid: true of the machine's daemon and of lab daemons).
///
/// `docker` is `None` when there is no daemon to ask (its socket is gone).
pub async fn signal_from_host(
    docker: Option<&Docker>,
    name: &str,
    signal: i32,
    known: Option<&HostProcess>,
) -> Result<(), DockerError> {
    let asked = match docker {
        Some(docker) => inspect(docker, name).await,
        None => Err(DockerError::NoDaemon {
            container: name.to_owned(),
        }),
    };
    let pid = match asked {
        Ok(inspected) => inspected.state.and_then(|s| s.pid).filter(|&p| p > 0),
        // The daemon is down (its containers may not be: containerd's shims keep them, and
        // with live-restore that is the point): the process last seen is signalled, if it is
        // still the container's own.
        Err(e) => match known {
            Some(process) if process.still_in_container() => Some(process.pid),
            _ => return Err(e),
        },
    };
    let Some(pid) = pid else {
        return Err(DockerError::NotRunning {
            container: name.to_owned(),
        });
    };
    let signal =
        nix::sys::signal::Signal::try_from(signal).map_err(|e| DockerError::HostSignal {
            container: name.to_owned(),
            pid,
            reason: e.to_string(),
        })?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).map_err(|e| {
        DockerError::HostSignal {
            container: name.to_owned(),
            pid,
            reason: e.to_string(),
        }
    })
}

/// A container's main process as inspect last showed it, to signal it from the host while its
/// daemon cannot be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostProcess {
    pub pid: i64,
    /// The container's full id.
    pub container_id: String,
    /// Paused (frozen) when it was seen: a signal waits for the thaw.
    pub paused: bool,
}

impl HostProcess {
    /// The process of `inspected`, if it has one running.
    pub fn of(inspected: &ContainerInspectResponse) -> Option<HostProcess> {
        let state = inspected.state.as_ref()?;
        let pid = state.pid.filter(|&p| p > 0)?;
        Some(HostProcess {
            pid,
            container_id: inspected.id.clone()?,
            paused: state.paused.unwrap_or(false),
        })
    }

    /// Whether the process has a handler for `signal` installed (`SigCgt` of
    /// `/proc/PID/status`). A shell that traps a signal has none until it has run its `trap`.
    pub fn catches(&self, signal: i32) -> bool {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", self.pid)) else {
            return false;
        };
        status
            .lines()
            .find_map(|line| line.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .zip(u32::try_from(signal - 1).ok())
            .is_some_and(|(mask, bit)| bit < 64 && mask & (1 << bit) != 0)
    }

    /// Whether the process with that pid still lives in the container's cgroup: a pid reused
    /// by another process (the container's having ended) is never signalled.
    pub fn still_in_container(&self) -> bool {
        self.container_id.len() >= 12
            && std::fs::read_to_string(format!("/proc/{}/cgroup", self.pid))
                .is_ok_and(|cgroups| cgroups.contains(&self.container_id))
    }
}

/// The names of the containers labelled with `label_filter` (`key` or `key=value`).
pub async fn list_labelled(
    docker: &Docker,
    label_filter: &str,
) -> Result<Vec<String>, DockerError> {
    Ok(list_labelled_with_runs(docker, label_filter)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect())
}

/// The containers labelled with `label_filter`, each with the run it is labelled with.
async fn list_labelled_with_runs(
    docker: &Docker,
    label_filter: &str,
) -> Result<Vec<(String, Option<String>)>, DockerError> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![label_filter.to_owned()],
        )])),
        ..Default::default()
    };
    let found = docker
        .list_containers(Some(options))
        .await
        .map_err(DockerError::api("listing halab's containers"))?;
    Ok(found
        .into_iter()
        .filter_map(|c| {
            let run = c.labels.as_ref().and_then(|l| l.get(labels::RUN).cloned());
            let name = c.names?.into_iter().next()?;
            Some((name.trim_start_matches('/').to_owned(), run))
        })
        .collect())
}

/// Force-removes every container labelled with `label_filter`, with its anonymous volumes,
/// except those labelled with a run in `spare_runs` (runs still going on). Returns the names
/// removed.
pub async fn remove_labelled(
    docker: &Docker,
    label_filter: &str,
    spare_runs: &std::collections::BTreeSet<String>,
) -> Result<Vec<String>, DockerError> {
    let names: Vec<String> = list_labelled_with_runs(docker, label_filter)
        .await?
        .into_iter()
        .filter(|(_, run)| run.as_ref().is_none_or(|run| !spare_runs.contains(run)))
        .map(|(name, _)| name)
        .collect();
    for name in &names {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker.remove_container(name, Some(options)).await {
            Ok(()) => {}
            // Removed meanwhile (for example by a concurrent gc): what we wanted.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(DockerError::api(format!("removing container {name}"))(e)),
        }
    }
    Ok(names)
}

/// Removes one run's containers.
pub async fn remove_run(docker: &Docker, run_id: &str) -> Result<Vec<String>, DockerError> {
    remove_labelled(docker, &labels::run_filter(run_id), &Default::default()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(child: &std::process::Child) -> HostProcess {
        HostProcess {
            pid: i64::from(child.id()),
            container_id: String::new(),
            paused: false,
        }
    }

    /// A shell catches SIGTERM once it has run its `trap`, and not before; SIGKILL never.
    #[test]
    fn a_trap_shows_in_the_caught_signals() {
        use std::io::BufRead;
        let mut trapping = std::process::Command::new("sh")
            .args(["-c", "trap 'exit 3' TERM; echo trapped; read line"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = String::new();
        std::io::BufReader::new(trapping.stdout.take().unwrap())
            .read_line(&mut said)
            .unwrap();
        assert_eq!(said.trim(), "trapped");
        assert!(process(&trapping).catches(15));
        assert!(!process(&trapping).catches(9));
        let mut plain = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert!(!process(&plain).catches(15));
        for child in [&mut trapping, &mut plain] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        assert!(
            !process(&plain).catches(15),
            "a process gone catches nothing"
        );
    }
}
