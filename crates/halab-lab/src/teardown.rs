//! Removing a lab without a trace, in an order that works after a graceful stop, after a crash,
//! and on a half-made or half-removed lab:
//!
//! 1. dockerd, if alive, gets SIGTERM and a short grace period (it then stops its containers and
//!    cleans up after itself);
//! 2. every process of the lab is found *before* any is killed — dockerd, everything whose
//!    command line mentions the lab dir (containerd, the shims), everything in the lab's netns
//!    or cgroups, and all their descendants (container processes are children of the shims) —
//!    because killed parents get their children re-parented to PID 1 and the tree is lost; they
//!    all get SIGKILL, and this repeats until a scan finds nothing;
//! 3. every mount under the lab dir is detached, deepest first;
//! 4. the netns, the lab's cgroup dirs and the shim sockets of killed shims are removed;
//! 5. the lab dir is removed, but only once nothing is mounted below it, so that deleting it
//!    can never reach into a mounted filesystem.
//!
//! Everything is derived from the state root and the lab name, so no step needs `lab.json`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::cgroups;
use crate::dockerd;
use crate::error::LabError;
use crate::mounts;
use crate::netns;
use crate::paths::LabPaths;
use crate::process::{self, ProcInfo};
use crate::shims;

/// `down` is for cleaning up, not for orderly shutdown: a short grace period, then force.
const GRACEFUL_DOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// SIGKILLed processes go in milliseconds; this only bounds a wedged (D-state) process.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// New lab processes can appear while we kill (a shim spawning, a restart policy firing).
const KILL_ROUNDS: usize = 5;

/// Removes everything of the lab at `paths`. `ip` is needed only if the netns exists.
pub async fn teardown(paths: &LabPaths, ip: Option<&Path>) -> Result<(), LabError> {
    tracing::info!(lab = %paths.name, dir = %paths.dir.display(), "tearing down lab");
    stop_dockerd_gracefully(paths).await?;
    // Before anything is killed: afterwards the shims' command lines are gone.
    let tasks = shims::lab_tasks(paths, &lab_processes(paths, &process::scan()));
    kill_all_lab_processes(paths).await?;
    shims::remove_sockets(paths, &tasks);

    let mut leftovers = Vec::new();
    let mounted = mounts::unmount_all_under(&paths.dir)?;
    leftovers.extend(mounted.iter().map(|m| format!("mount {}", m.display())));

    let netns = paths.netns();
    match ip {
        Some(ip) => netns::delete(ip, &netns).await?,
        None if netns::exists(&netns) => {
            return Err(LabError::MissingBinary {
                binary: "ip",
                package: "iproute2",
                fallback_dirs: crate::host::FALLBACK_DIRS.join(", "),
            });
        }
        None => netns::forget_owner(&netns)?,
    }

    for dir in cgroups::lab_dirs(&mounts::current()?, &paths.cgroup_parent()) {
        leftovers.extend(
            cgroups::remove(&dir)
                .into_iter()
                .map(|left| format!("cgroup {}", left.display())),
        );
    }

    // Only with nothing mounted below it: remove_dir_all would otherwise descend into mounts.
    if mounted.is_empty() {
        match std::fs::remove_dir_all(&paths.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::io("remove lab dir", &paths.dir, e)),
        }
    } else if paths.dir.exists() {
        leftovers.push(format!("dir {} (still has mounts)", paths.dir.display()));
    }

    leftovers.extend(
        lab_processes(paths, &process::scan())
            .into_iter()
            .map(|proc| format!("process {} ({})", proc.pid, proc.cmdline.join(" "))),
    );
    if netns::exists(&netns) {
        leftovers.push(format!("netns {netns}"));
    }
    if leftovers.is_empty() {
        tracing::info!(lab = %paths.name, "lab removed");
        Ok(())
    } else {
        Err(LabError::TeardownIncomplete {
            name: paths.name.clone(),
            leftovers,
        })
    }
}

/// The lab's host loses power, as far as the lab can tell: dockerd, its containerd, every shim
/// and every container process get SIGKILL at once (found before any is killed, as in
/// `teardown`), and what only lives in memory on a real host goes too — the shims' sockets and
/// the mounts below the lab dir. What is on disk stays: the data-root, containerd's metadata.
/// The lab dir and netns stay, so the lab can be started again.
pub async fn power_loss(paths: &LabPaths) -> Result<(), LabError> {
    tracing::info!(lab = %paths.name, "power loss: SIGKILL to every process of the lab");
    let tasks = shims::lab_tasks(paths, &lab_processes(paths, &process::scan()));
    kill_all_lab_processes(paths).await?;
    shims::remove_sockets(paths, &tasks);
    mounts::unmount_all_under(&paths.dir)?;
    Ok(())
}

/// SIGTERM to a live dockerd and a short wait; a dockerd that does not exit in time is left to
/// the SIGKILL round that follows.
async fn stop_dockerd_gracefully(paths: &LabPaths) -> Result<(), LabError> {
    let Some(dockerd) = dockerd::find(paths) else {
        return Ok(());
    };
    tracing::debug!(lab = %paths.name, pid = dockerd.pid, "SIGTERM to dockerd");
    process::send(dockerd.pid, Signal::SIGTERM)?;
    let left =
        process::wait_gone(&[(dockerd.pid, dockerd.start_time)], GRACEFUL_DOWN_TIMEOUT).await;
    if !left.is_empty() {
        tracing::warn!(
            lab = %paths.name,
            pid = dockerd.pid,
            "dockerd did not exit within {GRACEFUL_DOWN_TIMEOUT:?} of SIGTERM; killing it"
        );
    }
    Ok(())
}

/// SIGKILL to every process of the lab, repeated until none is left.
async fn kill_all_lab_processes(paths: &LabPaths) -> Result<(), LabError> {
    for _ in 0..KILL_ROUNDS {
        let doomed = lab_processes(paths, &process::scan());
        if doomed.is_empty() {
            return Ok(());
        }
        for proc in &doomed {
            tracing::debug!(lab = %paths.name, pid = proc.pid, cmdline = %proc.cmdline.join(" "), "SIGKILL");
            process::send(proc.pid, Signal::SIGKILL)?;
        }
        let identities: Vec<(u32, u64)> = doomed.iter().map(|p| (p.pid, p.start_time)).collect();
        let left = process::wait_gone(&identities, KILL_TIMEOUT).await;
        if !left.is_empty() {
            tracing::warn!(lab = %paths.name, ?left, "processes survived SIGKILL");
        }
    }
    Ok(())
}

/// The live processes that belong to the lab, computed from one snapshot of /proc so that the
/// parent tree is intact. Never includes PID 1, ourselves or our ancestors.
pub fn lab_processes(paths: &LabPaths, procs: &[ProcInfo]) -> Vec<ProcInfo> {
    let mut roots: BTreeSet<u32> = procs
        .iter()
        .filter(|proc| proc.mentions_dir(&paths.dir) || dockerd::is_lab_dockerd(proc, paths))
        .map(|proc| proc.pid)
        .collect();
    roots.extend(netns::processes_inside(&paths.netns(), procs));
    if let Ok(mounts) = mounts::current() {
        for dir in cgroups::lab_dirs(&mounts, &paths.cgroup_parent()) {
            roots.extend(cgroups::pids_below(&dir));
        }
    }
    let protected = process::self_and_ancestors();
    let members = process::with_descendants(&roots, procs);
    procs
        .iter()
        .filter(|proc| members.contains(&proc.pid) && !protected.contains(&proc.pid))
        .filter(|proc| proc.is_live())
        .cloned()
        .collect()
}
