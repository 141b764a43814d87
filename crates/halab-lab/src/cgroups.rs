//! The lab's cgroups. dockerd runs with `--cgroup-parent=/halab-<name>`, so (with the cgroupfs
//! driver) every container's cgroup is `<hierarchy>/halab-<name>/<id>` in each mounted
//! hierarchy. That makes container processes findable even when nothing else leads to them, and
//! the empty `halab-<name>` dirs, which dockerd never removes, are ours to remove.

use std::path::{Path, PathBuf};

use crate::mounts::Mount;

/// The lab's cgroup dir in every mounted cgroup hierarchy (v1 and v2) where it exists.
///
/// Assumes each hierarchy is mounted at its root (true on a normal host; inside a container
/// with a cgroup namespace the same relative path is what runc would have used too).
pub fn lab_dirs(mounts: &[Mount], cgroup_parent: &str) -> Vec<PathBuf> {
    let relative = cgroup_parent.trim_start_matches('/');
    let mut dirs: Vec<PathBuf> = mounts
        .iter()
        .filter(|mount| mount.fs_type == "cgroup" || mount.fs_type == "cgroup2")
        .map(|mount| mount.mount_point.join(relative))
        .filter(|dir| dir.is_dir())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Every pid listed in `cgroup.procs` at or below `dir`.
pub fn pids_below(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for cgroup in with_subdirs(dir) {
        if let Ok(text) = std::fs::read_to_string(cgroup.join("cgroup.procs")) {
            pids.extend(
                text.lines()
                    .filter_map(|line| line.trim().parse::<u32>().ok()),
            );
        }
    }
    pids
}

/// Removes the cgroup dir and its sub-cgroups, children first (a cgroup can only be removed
/// when it has neither processes nor children). Returns the dirs that could not be removed.
pub fn remove(dir: &Path) -> Vec<PathBuf> {
    let mut left = Vec::new();
    for cgroup in with_subdirs(dir).into_iter().rev() {
        match std::fs::remove_dir(&cgroup) {
            Ok(()) => tracing::debug!(cgroup = %cgroup.display(), "removed cgroup"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(cgroup = %cgroup.display(), error = %e, "could not remove cgroup");
                left.push(cgroup);
            }
        }
    }
    left
}

/// `dir` and all directories below it, parents before children.
fn with_subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        if let Ok(entries) = std::fs::read_dir(&next) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(entry.path());
                }
            }
        }
        all.push(next);
    }
    all
}
