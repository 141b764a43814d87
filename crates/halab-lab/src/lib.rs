//! halab's lab daemons: a second dockerd per lab that halab owns, and so may crash (SIGKILL),
//! stop (SIGTERM), restart and tear down — unlike the machine's own daemon, which halab never
//! stops, restarts or reconfigures.
//!
//! A lab named `NAME` under a state root `ROOT` (see [`default_state_root`]) is:
//! - the directory `ROOT/labs/NAME` with `lab.json` (its metadata), `daemon.json` (an empty
//!   config, so the host's /etc/docker/daemon.json is not read), `docker.sock`, `docker.pid`,
//!   `dockerd.log`, and dockerd's `data/` (data-root) and `exec/` (exec-root, where dockerd's
//!   own containerd keeps its socket);
//! - the network namespace `halab-NAME`, in which dockerd runs (so its `docker0`, iptables
//!   rules and container networks never touch the host's);
//! - the cgroup parent `/halab-NAME`, under which its containers' cgroups live;
//! - outside its dir only two small things in /run: the record `/run/halab/netns-owners/halab-NAME`
//!   (which lab dir the netns belongs to, so `gc` of one state root never takes another's) and,
//!   while containers run, their shims' sockets in `/run/containerd/s/`.
//!
//! Invariants:
//! - **A lab never runs outside its netns.** dockerd is only ever started as
//!   `nsenter --net=/var/run/netns/halab-NAME dockerd …` (a dockerd in the host namespace can
//!   delete the host's `docker0`), and the netns is created (again) before every start.
//! - **The lab daemon outlives halab.** dockerd runs in its own process group with its output
//!   in `dockerd.log`; any later halab process finds it again from the pid file and /proc.
//! - **`down` is idempotent and leaves nothing**: no process, mount, netns, cgroup or file of
//!   the lab — also after a crash, when containerd's shims and the containers keep running
//!   re-parented to PID 1, and on a half-made lab. The `teardown` module explains the order
//!   this takes.
//! - **Nothing is found by guessing.** Every path of a lab follows from the state root and the
//!   name; a process belongs to a lab only if its command line names the lab dir, it lives in
//!   the lab's netns or cgroups, or it descends from such a process.

mod cgroups;
mod dockerd;
mod error;
mod host;
mod meta;
mod mounts;
mod netns;
mod paths;
mod process;
mod shims;
mod teardown;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use halab_model::DaemonOp;
use nix::sys::signal::Signal;
use serde::Serialize;

pub use error::LabError;
pub use host::{REQUIREMENTS, Requirement, require_root};
pub use meta::{LabMeta, LabOptions};
pub use netns::OWNERS_DIR as NETNS_OWNERS_DIR;
pub use paths::{
    DEFAULT_STATE_ROOT, MAX_NAME_LEN, NETNS_PREFIX, STATE_DIR_ENV, default_state_root,
    validate_name,
};
pub use process::ProcessId;

use host::Binaries;
use paths::LabPaths;

/// How long a graceful stop may take: dockerd stops every container first, each with its own
/// stop timeout (10 s by default).
pub const GRACEFUL_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// SIGKILL cannot be ignored; this only bounds an unkillable (D-state) process.
const CRASH_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The signal that ends dockerd for `op`, and how long it may take to go, if `op` ends it
/// and is not a power loss (which ends every process of the lab: [`Lab::power_loss`]).
fn ending(op: DaemonOp) -> Option<(Signal, Duration)> {
    match op {
        // dockerd stops its containers (unless live-restore is on) and cleans up after itself.
        DaemonOp::Stop => Some((Signal::SIGTERM, GRACEFUL_STOP_TIMEOUT)),
        // dockerd and its containerd die at once; the shims and containers keep running.
        DaemonOp::Crash => Some((Signal::SIGKILL, CRASH_STOP_TIMEOUT)),
        DaemonOp::PowerLoss | DaemonOp::Start => None,
    }
}

/// A snapshot of one lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabStatus {
    pub name: String,
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// `unix://<socket>`, for `DOCKER_HOST` or `docker -H`.
    pub docker_host: String,
    /// The live dockerd's pid.
    pub pid: Option<u32>,
    /// A live dockerd process exists (it may still be starting up).
    pub running: bool,
    pub live_restore: bool,
    pub netns: String,
}

/// A handle on one lab under a state root. Cheap: it holds paths and metadata, no process or
/// connection, so any number of handles (in any number of processes) may refer to one lab.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Resolved (absolute, symlinks followed) state root.
    state_root: PathBuf,
    paths: LabPaths,
    meta: LabMeta,
}

impl Lab {
    /// Creates `<state_root>/labs/<name>`, the netns `halab-<name>`, starts dockerd and waits
    /// until `/_ping` answers (at most 30 s). On failure everything created is removed again.
    pub async fn up(state_root: &Path, name: &str, opts: &LabOptions) -> Result<Lab, LabError> {
        validate_name(name)?;
        opts.validate()?;
        host::require_root()?;
        let bins = Binaries::locate()?;
        // Checked before anything is created, and again once symlinks can be resolved.
        LabPaths::new(&paths::resolve_state_root(state_root)?, name).check_socket_lengths()?;
        let labs_dir = paths::labs_dir(state_root);
        std::fs::create_dir_all(&labs_dir).map_err(|e| LabError::io("create", &labs_dir, e))?;
        let state_root = paths::resolve_state_root(state_root)?;
        let paths = LabPaths::new(&state_root, name);
        paths.check_socket_lengths()?;
        if netns::exists(&paths.netns()) {
            return Err(if paths.dir.exists() {
                LabError::AlreadyExists {
                    name: name.to_owned(),
                    dir: paths.dir,
                }
            } else {
                LabError::NetnsTaken {
                    name: name.to_owned(),
                    netns: paths.netns(),
                    state_root,
                }
            });
        }
        // create_dir (not _all) fails if the dir exists: two `up`s of one name cannot both win.
        match std::fs::create_dir(&paths.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(LabError::AlreadyExists {
                    name: name.to_owned(),
                    dir: paths.dir,
                });
            }
            Err(e) => return Err(LabError::io("create", &paths.dir, e)),
        }

        let lab = Lab {
            meta: LabMeta {
                version: meta::META_VERSION,
                name: name.to_owned(),
                netns: paths.netns(),
                options: opts.clone(),
                created: time::OffsetDateTime::now_utc(),
            },
            paths,
            state_root,
        };
        let started = Instant::now();
        match lab.create_and_start(&bins).await {
            Ok(()) => {
                tracing::info!(lab = name, elapsed = ?started.elapsed(), "lab is up");
                Ok(lab)
            }
            Err(error) => {
                tracing::warn!(lab = name, %error, "lab did not come up; removing it again");
                match teardown::teardown(&lab.paths, Some(&bins.ip)).await {
                    Ok(()) => Err(error),
                    Err(cleanup) => Err(LabError::SetupAndCleanupFailed {
                        error: Box::new(error),
                        cleanup: Box::new(cleanup),
                    }),
                }
            }
        }
    }

    /// Everything of `up` after the lab dir exists; any error here is undone by the caller.
    async fn create_and_start(&self, bins: &Binaries) -> Result<(), LabError> {
        // Metadata first, so that even a half-made lab is visible to `list`, `open` and `down`.
        self.meta.write(&self.paths.meta_file())?;
        let config = self.paths.daemon_config();
        std::fs::write(&config, "{}\n").map_err(|e| LabError::io("write", &config, e))?;
        netns::create(&bins.ip, &self.paths.netns(), &self.paths.dir).await?;
        self.spawn_and_wait(bins).await
    }

    /// Re-opens an existing lab from its `lab.json`.
    pub fn open(state_root: &Path, name: &str) -> Result<Lab, LabError> {
        validate_name(name)?;
        let state_root = paths::resolve_state_root(state_root)?;
        let paths = LabPaths::new(&state_root, name);
        let meta_file = paths.meta_file();
        if !meta_file.exists() {
            return Err(LabError::NoSuchLab {
                name: name.to_owned(),
                existing: lab_names(&state_root)?,
                state_root,
            });
        }
        let meta = LabMeta::read(&meta_file)?;
        if meta.name != name {
            return Err(LabError::BadMetadata {
                path: meta_file,
                source: serde::de::Error::custom(format!(
                    "it names the lab `{}`, but it is in the dir of lab `{name}`",
                    meta.name
                )),
            });
        }
        Ok(Lab {
            state_root,
            paths,
            meta,
        })
    }

    /// All labs under the state root (those with a `lab.json`), with their status.
    pub fn list(state_root: &Path) -> Result<Vec<LabStatus>, LabError> {
        let state_root = paths::resolve_state_root(state_root)?;
        lab_names(&state_root)?
            .into_iter()
            .map(|name| Lab::open(&state_root, &name).map(|lab| lab.status()))
            .collect()
    }

    pub fn name(&self) -> &str {
        &self.paths.name
    }

    /// The resolved state root the lab lives under.
    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    /// The lab dir, `<state_root>/labs/<name>`.
    pub fn dir(&self) -> &Path {
        &self.paths.dir
    }

    pub fn options(&self) -> &LabOptions {
        &self.meta.options
    }

    pub fn socket_path(&self) -> PathBuf {
        self.paths.socket()
    }

    /// `unix://<socket>`.
    pub fn docker_host(&self) -> String {
        self.paths.docker_host()
    }

    /// dockerd's log (stdout and stderr, appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.paths.log_file()
    }

    /// The name of the lab's network namespace, `halab-<name>`.
    pub fn netns(&self) -> String {
        self.paths.netns()
    }

    /// The pid of the lab's live dockerd, if there is one.
    pub fn dockerd_pid(&self) -> Option<u32> {
        self.dockerd().map(|id| id.pid)
    }

    /// The pid the lab's pid file names (the live dockerd's, or the last one's if it died).
    pub fn last_dockerd_pid(&self) -> Option<u32> {
        process::read_pidfile(&self.paths.pidfile())
    }

    /// The lab's live dockerd, if there is one, as an identity that can be waited on.
    pub fn dockerd(&self) -> Option<ProcessId> {
        dockerd::find(&self.paths).map(|proc| proc.identity())
    }

    pub fn status(&self) -> LabStatus {
        let pid = self.dockerd_pid();
        LabStatus {
            name: self.paths.name.clone(),
            dir: self.paths.dir.clone(),
            socket: self.paths.socket(),
            docker_host: self.paths.docker_host(),
            pid,
            running: pid.is_some(),
            live_restore: self.meta.options.live_restore,
            netns: self.paths.netns(),
        }
    }

    /// Whether dockerd answers `/_ping` right now.
    pub async fn is_ready(&self) -> bool {
        dockerd::ping(&self.paths.socket()).await.unwrap_or(false)
    }

    /// Does `op` to the lab's dockerd and returns once it is done: a stop (SIGTERM, waiting up
    /// to 60 s) or a crash (SIGKILL) returns once dockerd and its containerd have ended, every
    /// thread of them — after a crash the shims and containers keep running; a power loss kills every process of the lab; a
    /// start returns once dockerd answers.
    pub async fn perform(&self, op: DaemonOp) -> Result<(), LabError> {
        let Some((signal, timeout)) = ending(op) else {
            return match op {
                DaemonOp::Start => self.start().await,
                _ => self.power_loss().await,
            };
        };
        host::require_root()?;
        let dockerd = dockerd::find(&self.paths).ok_or_else(|| LabError::NotRunning {
            name: self.paths.name.clone(),
            socket: self.paths.socket(),
        })?;
        // dockerd's containerd goes with it: stopped by a stop, killed with a crash (moby starts
        // it with `Pdeathsig: SIGKILL`, libcontainerd/supervisor/utils_linux.go). The daemon is
        // down once both have ended: the next dockerd trusts a containerd pid file that names a
        // live process (`remote.getContainerdPid`), and would wait for a dying containerd's
        // socket until it gave up starting.
        let containerd = dockerd::find_containerd(&self.paths);
        let started = Instant::now();
        tracing::info!(lab = %self.paths.name, pid = dockerd.pid, %op, "stopping dockerd");
        process::send(dockerd.pid, signal)?;
        let mut ending = vec![("dockerd", dockerd.pid, dockerd.start_time)];
        ending.extend(containerd.map(|c| ("containerd", c.pid, c.start_time)));
        let identities: Vec<(u32, u64)> = ending.iter().map(|&(_, pid, t)| (pid, t)).collect();
        let left = process::wait_gone(&identities, timeout).await;
        if let Some(&(program, pid, _)) = ending.iter().find(|(_, pid, _)| left.contains(pid)) {
            return Err(LabError::StopTimeout {
                name: self.paths.name.clone(),
                program,
                pid,
                signal: signal.as_str(),
                timeout,
            });
        }
        tracing::info!(lab = %self.paths.name, %op, elapsed = ?started.elapsed(), "dockerd stopped");
        Ok(())
    }

    /// Starts dockerd again on the same dirs and netns and waits until it answers `/_ping`.
    /// After a crash dockerd reconnects to the shims that survived it; without live-restore it
    /// then stops those containers and starts the ones with a restart policy again.
    pub async fn start(&self) -> Result<(), LabError> {
        host::require_root()?;
        if !self.paths.meta_file().exists() {
            return Err(LabError::NoSuchLab {
                name: self.paths.name.clone(),
                existing: lab_names(&self.state_root)?,
                state_root: self.state_root.clone(),
            });
        }
        if let Some(dockerd) = dockerd::find(&self.paths) {
            return Err(LabError::AlreadyRunning {
                name: self.paths.name.clone(),
                pid: dockerd.pid,
            });
        }
        let bins = Binaries::locate()?;
        let netns = self.paths.netns();
        // Someone (`ip netns del`, a `gc` of another state root) may have removed it; starting
        // without it would run dockerd in the host's namespace, which must never happen.
        if !netns::exists(&netns) {
            tracing::warn!(lab = %self.paths.name, %netns, "netns is missing; creating it again");
            netns::create(&bins.ip, &netns, &self.paths.dir).await?;
        } else if self.netns_has_foreign_dockerd() {
            // Only possible if our netns was removed while we were stopped and a lab of the same
            // name under another state root made it again: two daemons must not share it.
            return Err(LabError::NetnsTaken {
                name: self.paths.name.clone(),
                netns,
                state_root: self.state_root.clone(),
            });
        }
        dockerd::remove_stale_pidfiles(&self.paths)?;
        let started = Instant::now();
        self.spawn_and_wait(&bins).await?;
        tracing::info!(lab = %self.paths.name, elapsed = ?started.elapsed(), "dockerd started");
        Ok(())
    }

    /// Every process of the lab killed at once, as if its host lost power (see
    /// [`teardown::power_loss`]); the lab can be started again.
    pub async fn power_loss(&self) -> Result<(), LabError> {
        host::require_root()?;
        if dockerd::find(&self.paths).is_none() {
            return Err(LabError::NotRunning {
                name: self.paths.name.clone(),
                socket: self.paths.socket(),
            });
        }
        teardown::power_loss(&self.paths).await
    }

    /// `op` (a stop, a crash or a power loss), then a start.
    pub async fn restart(&self, op: DaemonOp) -> Result<(), LabError> {
        if op.ends_daemon() {
            self.perform(op).await?;
        }
        self.start().await
    }

    /// Removes everything the lab made: processes (also those a crash left behind), mounts,
    /// netns, cgroups and the lab dir. Idempotent; works on half-made and half-removed labs.
    pub async fn down(self) -> Result<(), LabError> {
        host::require_root()?;
        teardown::teardown(&self.paths, host::find_binary("ip").as_deref()).await
    }

    /// Removes lab `name` under `state_root` whatever is left of it — also when it is already
    /// gone, or only half there (no `lab.json`, a netns or processes left) — as `down` does.
    /// Returns whether there was anything of it to remove.
    pub async fn down_by_name(state_root: &Path, name: &str) -> Result<bool, LabError> {
        validate_name(name)?;
        host::require_root()?;
        let state_root = paths::resolve_state_root(state_root)?;
        let paths = LabPaths::new(&state_root, name);
        if !paths.dir.exists() {
            // A netns of this name recorded for a lab elsewhere is that lab's, not a leftover.
            let netns = paths.netns();
            let ours = netns::exists(&netns)
                && netns::owner(&netns).is_none_or(|owner| owner == paths.dir);
            let foreign = netns::exists(&netns) && !ours;
            let procs = process::scan();
            if foreign || !(ours || procs.iter().any(|proc| proc.mentions_dir(&paths.dir))) {
                return Ok(false);
            }
        }
        teardown::teardown(&paths, host::find_binary("ip").as_deref()).await?;
        Ok(true)
    }

    /// A dockerd of some other lab lives in our netns.
    fn netns_has_foreign_dockerd(&self) -> bool {
        let procs = process::scan();
        let inside = netns::processes_inside(&self.paths.netns(), &procs);
        procs.iter().any(|proc| {
            inside.contains(&proc.pid)
                && proc.is_live()
                && proc.program() == "dockerd"
                && !proc.mentions_dir(&self.paths.dir)
        })
    }

    /// Spawns dockerd and waits for `/_ping`; a dockerd that never gets ready is killed, so a
    /// failed start leaves the lab stopped rather than half-running.
    async fn spawn_and_wait(&self, bins: &Binaries) -> Result<(), LabError> {
        let mut spawned = dockerd::spawn(bins, &self.paths, &self.meta.options)?;
        match dockerd::wait_ready(&self.paths, &mut spawned).await {
            Ok(elapsed) => {
                tracing::debug!(lab = %self.paths.name, pid = spawned.pid, ?elapsed, "dockerd answers /_ping");
                Ok(())
            }
            Err(error) => {
                if let Err(kill_error) = process::send(spawned.pid, Signal::SIGKILL) {
                    tracing::warn!(lab = %self.paths.name, %kill_error, "could not kill the dockerd that did not get ready");
                }
                // Our reaper thread reports the exit; a bounded wait keeps a wedged process
                // from hanging us.
                if !spawned.exited.is_terminated() {
                    let _ = tokio::time::timeout(CRASH_STOP_TIMEOUT, &mut spawned.exited).await;
                }
                Err(error)
            }
        }
    }
}

/// Tears down every lab under the state root (for `halab gc`): those with a lab dir, and those
/// whose dir is gone but whose processes or mounts remain. Also removes stray `halab-*` network
/// namespaces: those of no lab here, not recorded for a lab that exists elsewhere (see
/// [`NETNS_OWNERS_DIR`]), and with no process inside. Returns the lab names removed, and the names of the stray
/// namespaces removed (which start with `halab-`).
pub async fn gc(state_root: &Path) -> Result<Vec<String>, LabError> {
    gc_sparing(state_root, &std::collections::BTreeSet::new()).await
}

/// [`gc`], leaving alone the labs named in `spare` (those a live run uses) and their netns.
pub async fn gc_sparing(
    state_root: &Path,
    spare: &std::collections::BTreeSet<String>,
) -> Result<Vec<String>, LabError> {
    host::require_root()?;
    let state_root = paths::resolve_state_root(state_root)?;
    let labs_dir = paths::labs_dir(&state_root);
    let ip = host::find_binary("ip");

    let mut names = lab_dir_names(&labs_dir)?;
    names.extend(names_from_leftovers(&labs_dir)?);
    names.sort();
    names.dedup();
    names.retain(|name| !spare.contains(name));

    let mut removed = Vec::new();
    let mut failures = Vec::new();
    for name in names {
        match teardown::teardown(&LabPaths::new(&state_root, &name), ip.as_deref()).await {
            Ok(()) => removed.push(name),
            Err(e) => failures.push(format!("lab {name}: {e}")),
        }
    }

    let procs = process::scan();
    for stray in netns::list_halab() {
        let lab_name = &stray[NETNS_PREFIX.len()..];
        if spare.contains(lab_name) || LabPaths::new(&state_root, lab_name).dir.exists() {
            continue;
        }
        if let Some(owner) = netns::owner(&stray).filter(|dir| dir.exists()) {
            tracing::debug!(netns = %stray, owner = %owner.display(), "netns belongs to a lab elsewhere");
            continue;
        }
        if !netns::processes_inside(&stray, &procs).is_empty() {
            tracing::warn!(netns = %stray, "leaving netns alone: processes still live in it");
            continue;
        }
        let Some(ip) = ip.as_deref() else {
            failures.push(format!("netns {stray}: `ip` (iproute2) not found"));
            continue;
        };
        match netns::delete(ip, &stray).await {
            Ok(()) => removed.push(stray),
            Err(e) => failures.push(format!("netns {stray}: {e}")),
        }
    }

    if failures.is_empty() {
        Ok(removed)
    } else {
        Err(LabError::TeardownIncomplete {
            name: "(gc)".into(),
            leftovers: failures,
        })
    }
}

/// The names of the labs (dirs with a `lab.json`) under a state root, sorted.
fn lab_names(state_root: &Path) -> Result<Vec<String>, LabError> {
    let labs_dir = paths::labs_dir(state_root);
    Ok(lab_dir_names(&labs_dir)?
        .into_iter()
        .filter(|name| labs_dir.join(name).join("lab.json").exists())
        .collect())
}

/// Every dir under `labs/` with a valid lab name, with or without `lab.json`.
fn lab_dir_names(labs_dir: &Path) -> Result<Vec<String>, LabError> {
    let entries = match std::fs::read_dir(labs_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io("list", labs_dir, e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| validate_name(name).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Lab names that processes or mounts still refer to (`<labs_dir>/<name>/…`), for labs whose
/// dir was removed by hand while something of them kept running.
fn names_from_leftovers(labs_dir: &Path) -> Result<Vec<String>, LabError> {
    let prefix = labs_dir.to_string_lossy().into_owned() + "/";
    let name_after_prefix = |text: &str| -> Option<String> {
        let rest = &text[text.find(prefix.as_str())? + prefix.len()..];
        let name = rest.split('/').next()?;
        validate_name(name).is_ok().then(|| name.to_owned())
    };
    let mut names: Vec<String> = process::scan()
        .iter()
        .flat_map(|proc| proc.cmdline.iter().filter_map(|arg| name_after_prefix(arg)))
        .collect();
    names.extend(
        mounts::under(&mounts::current()?, labs_dir)
            .iter()
            .filter_map(|mount| name_after_prefix(&mount.mount_point.to_string_lossy())),
    );
    Ok(names)
}
