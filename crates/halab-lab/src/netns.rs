//! Named network namespaces, managed with `ip netns` (so they show up in `ip netns list` and can
//! be inspected with the usual tools). A lab's dockerd runs inside one, which is why it may
//! create its own `docker0` and iptables rules without touching the host's.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::LabError;
use crate::paths::NETNS_PREFIX;
use crate::process::ProcInfo;

/// Where `ip netns add` bind-mounts named namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// The file a named namespace is bind-mounted on; `nsenter --net=` takes it.
pub fn path(netns: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(netns)
}

pub fn exists(netns: &str) -> bool {
    path(netns).exists()
}

/// Records which lab dir each halab netns was made for (one file per netns, holding the lab
/// dir). Netns names are global but lab names are per state root, so without this `gc` of one
/// state root could not tell a stray netns from one a lab of another state root is using. Like
/// the namespaces themselves, it lives in /run and is gone after a reboot.
pub const OWNERS_DIR: &str = "/run/halab/netns-owners";

/// The lab dir recorded for a netns, if any.
pub fn owner(netns: &str) -> Option<PathBuf> {
    std::fs::read_to_string(Path::new(OWNERS_DIR).join(netns))
        .ok()
        .map(|dir| PathBuf::from(dir.trim_end_matches('\n')))
}

/// Creates the namespace for the lab at `lab_dir` and brings its loopback up (dockerd and the
/// containers' published ports expect a working `lo`).
pub async fn create(ip: &Path, netns: &str, lab_dir: &Path) -> Result<(), LabError> {
    run_ip(ip, &["netns", "add", netns]).await?;
    let owners = Path::new(OWNERS_DIR);
    std::fs::create_dir_all(owners).map_err(|e| LabError::io("create", owners, e))?;
    let record = owners.join(netns);
    let text = format!("{}\n", lab_dir.display());
    std::fs::write(&record, text).map_err(|e| LabError::io("write", &record, e))?;
    run_ip(ip, &["-n", netns, "link", "set", "lo", "up"]).await
}

/// Deletes the namespace (if it exists) and its owner record. The kernel frees the namespace
/// once no process is left inside.
pub async fn delete(ip: &Path, netns: &str) -> Result<(), LabError> {
    if exists(netns) {
        run_ip(ip, &["netns", "del", netns]).await?;
    }
    forget_owner(netns)
}

/// Removes the owner record of a namespace that is gone.
pub fn forget_owner(netns: &str) -> Result<(), LabError> {
    let record = Path::new(OWNERS_DIR).join(netns);
    match std::fs::remove_file(&record) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LabError::io("remove", record, e))
        }
        _ => Ok(()),
    }
}

/// Names of all named namespaces that look like halab's (`halab-*`).
pub fn list_halab() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(NETNS_PREFIX))
        .collect();
    names.sort();
    names
}

/// The processes (of `procs`) that live in the named namespace, found by comparing the
/// namespace inode of `/proc/<pid>/ns/net` with the one bind-mounted at its path.
pub fn processes_inside(netns: &str, procs: &[ProcInfo]) -> Vec<u32> {
    let Ok(target) = std::fs::metadata(path(netns)) else {
        return Vec::new();
    };
    procs
        .iter()
        .filter(|proc| {
            std::fs::metadata(format!("/proc/{}/ns/net", proc.pid))
                .is_ok_and(|ns| ns.dev() == target.dev() && ns.ino() == target.ino())
        })
        .map(|proc| proc.pid)
        .collect()
}

async fn run_ip(ip: &Path, args: &[&str]) -> Result<(), LabError> {
    let command = format!("{} {}", ip.display(), args.join(" "));
    tracing::debug!(%command, "running");
    let output = tokio::process::Command::new(ip)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(LabError::CommandFailed {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
