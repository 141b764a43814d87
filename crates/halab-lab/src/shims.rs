//! The one thing a lab leaves outside its dir: containerd's shim sockets.
//!
//! containerd 1.6 puts each shim's socket at `/run/containerd/s/<sha256(address/ns/id)>`, where
//! `address` is the lab containerd's socket, `ns` the containerd namespace (`moby` for dockerd)
//! and `id` the container id. A shim that exits normally removes it; a shim that teardown has to
//! SIGKILL cannot, so teardown removes the sockets of every task the lab had.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::paths::LabPaths;
use crate::process::ProcInfo;

/// Where containerd 1.6 keeps shim sockets, whatever its own address.
const SHIM_SOCKET_DIR: &str = "/run/containerd/s";

/// A containerd task: `(namespace, container id)`.
pub type Task = (String, String);

/// The lab's tasks, from the task bundle dirs containerd keeps under the exec-root and from the
/// command lines of the lab's shims (`-namespace NS -id ID -address ADDR`).
pub fn lab_tasks(paths: &LabPaths, lab_procs: &[ProcInfo]) -> Vec<Task> {
    let mut tasks = Vec::new();
    let bundles = paths
        .exec_root()
        .join("containerd/daemon/io.containerd.runtime.v2.task");
    for namespace in subdir_names(&bundles) {
        for id in subdir_names(&bundles.join(&namespace)) {
            tasks.push((namespace.clone(), id));
        }
    }
    for proc in lab_procs
        .iter()
        .filter(|p| p.program().starts_with("containerd-shim"))
    {
        let flag = |name: &str| {
            proc.cmdline
                .windows(2)
                .find(|pair| pair[0] == name)
                .map(|pair| pair[1].clone())
        };
        if let (Some(namespace), Some(id)) = (flag("-namespace"), flag("-id")) {
            tasks.push((namespace, id));
        }
    }
    tasks.sort();
    tasks.dedup();
    tasks
}

/// The socket path containerd derives for a task's shim.
pub fn socket_path(containerd_socket: &Path, (namespace, id): &Task) -> PathBuf {
    let key = containerd_socket.join(namespace).join(id);
    let digest = Sha256::digest(key.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    Path::new(SHIM_SOCKET_DIR).join(hex)
}

/// Removes the shim sockets of `tasks` that are still there.
pub fn remove_sockets(paths: &LabPaths, tasks: &[Task]) {
    for task in tasks {
        let socket = socket_path(&paths.containerd_socket(), task);
        match std::fs::remove_file(&socket) {
            Ok(()) => tracing::debug!(socket = %socket.display(), "removed stale shim socket"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(socket = %socket.display(), error = %e, "could not remove shim socket")
            }
        }
    }
}

fn subdir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_matches_containerd() {
        // Measured on containerd 1.6.20: a container of a lab at /tmp/hl-exp2/labs/a.
        let task = (
            "moby".to_owned(),
            "2ec4a7ebde8824ec8df83e16e8de106ecdd8bd07f408b05d753829a26f2d947d".to_owned(),
        );
        let socket = socket_path(
            Path::new("/tmp/hl-exp2/labs/a/exec/containerd/containerd.sock"),
            &task,
        );
        assert_eq!(
            socket,
            Path::new(
                "/run/containerd/s/5e1a5e71603c5951db699889d06f554255a445e0f4796e66662ab199d4148663"
            )
        );
    }

    #[test]
    fn tasks_are_read_from_shim_command_lines() {
        let paths = LabPaths::new(Path::new("/nonexistent"), "a");
        let shim = ProcInfo {
            pid: 7,
            ppid: 1,
            state: 'S',
            start_time: 0,
            cmdline: [
                "/usr/bin/containerd-shim-runc-v2",
                "-namespace",
                "moby",
                "-id",
                "abc",
                "-address",
                "/nonexistent/labs/a/exec/containerd/containerd.sock",
            ]
            .map(String::from)
            .to_vec(),
        };
        assert_eq!(
            lab_tasks(&paths, &[shim]),
            [("moby".to_owned(), "abc".to_owned())]
        );
    }
}
