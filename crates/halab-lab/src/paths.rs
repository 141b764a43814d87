//! Where a lab lives: names, directories, sockets — all derived from the state root and the lab
//! name, so that teardown can find everything even when the metadata file is gone.

use std::path::{Path, PathBuf};

use crate::error::LabError;

/// Every lab's network namespace is `halab-<name>`; `gc` also recognises strays by this prefix.
pub const NETNS_PREFIX: &str = "halab-";

/// Lab names are short so that every unix socket under the lab dir fits `sun_path`.
pub const MAX_NAME_LEN: usize = 24;

/// `sun_path` is 108 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH_LEN: usize = 107;

/// The environment variable that overrides [`DEFAULT_STATE_ROOT`].
pub const STATE_DIR_ENV: &str = "HALAB_STATE_DIR";

/// Where labs live when `HALAB_STATE_DIR` is not set.
pub const DEFAULT_STATE_ROOT: &str = "/var/lib/halab";

/// The state root: `$HALAB_STATE_DIR` if set (and not empty), else `/var/lib/halab`.
pub fn default_state_root() -> PathBuf {
    match std::env::var_os(STATE_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_STATE_ROOT),
    }
}

/// Checks a lab name: `[a-z0-9][a-z0-9-]*`, at most [`MAX_NAME_LEN`] characters.
///
/// The name becomes a directory name, part of a netns name, part of dockerd's cgroup parent and
/// part of socket paths, so it is kept to characters that are safe in all of them.
pub fn validate_name(name: &str) -> Result<(), LabError> {
    let invalid = |reason| LabError::InvalidName {
        name: name.to_owned(),
        reason,
        max_len: MAX_NAME_LEN,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("it is empty")),
        Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
            return Err(invalid("it must start with a lowercase letter or a digit"));
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(invalid(
            "it may only contain lowercase letters, digits and '-'",
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("it is too long"));
    }
    Ok(())
}

/// Makes a state root absolute and, when it exists, resolves symlinks: mountinfo shows resolved
/// paths, and teardown compares mount points with the lab dir by prefix.
pub fn resolve_state_root(state_root: &Path) -> Result<PathBuf, LabError> {
    let absolute = std::path::absolute(state_root)
        .map_err(|e| LabError::io("make absolute", state_root, e))?;
    match std::fs::canonicalize(&absolute) {
        Ok(resolved) => Ok(resolved),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(absolute),
        Err(e) => Err(LabError::io("resolve", absolute, e)),
    }
}

/// The directory holding all labs of a state root.
pub fn labs_dir(state_root: &Path) -> PathBuf {
    state_root.join("labs")
}

/// The files and directories of one lab. Pure path arithmetic: nothing here touches the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPaths {
    pub name: String,
    /// `<state_root>/labs/<name>`; everything of the lab on disk is below it.
    pub dir: PathBuf,
}

impl LabPaths {
    /// Paths for lab `name` under an already resolved state root.
    pub fn new(state_root: &Path, name: &str) -> Self {
        LabPaths {
            name: name.to_owned(),
            dir: labs_dir(state_root).join(name),
        }
    }

    pub fn meta_file(&self) -> PathBuf {
        self.dir.join("lab.json")
    }
    /// An empty `{}` config so dockerd does not read the host's /etc/docker/daemon.json (which
    /// sets data-root and would clash with our `--data-root`).
    pub fn daemon_config(&self) -> PathBuf {
        self.dir.join("daemon.json")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("docker.pid")
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("dockerd.log")
    }
    pub fn data_root(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }
    /// The socket of the containerd that dockerd starts for itself.
    pub fn containerd_socket(&self) -> PathBuf {
        self.exec_root().join("containerd").join("containerd.sock")
    }
    /// containerd's pid file; a stale one can make dockerd wait for a containerd that is gone.
    pub fn containerd_pidfile(&self) -> PathBuf {
        self.exec_root().join("containerd").join("containerd.pid")
    }
    /// containerd also listens on `<socket>.ttrpc`, the longest socket path of a lab.
    pub fn containerd_ttrpc_socket(&self) -> PathBuf {
        self.exec_root()
            .join("containerd")
            .join("containerd.sock.ttrpc")
    }
    /// The network namespace the lab's dockerd runs in.
    pub fn netns(&self) -> String {
        format!("{NETNS_PREFIX}{}", self.name)
    }
    /// dockerd's `--cgroup-parent`: the lab's containers live in cgroups below it, so teardown
    /// can find their processes even when nothing else points to them.
    pub fn cgroup_parent(&self) -> String {
        format!("/{NETNS_PREFIX}{}", self.name)
    }

    /// Checks that every unix socket the lab will create fits `sun_path`.
    pub fn check_socket_lengths(&self) -> Result<(), LabError> {
        for socket in [
            self.socket(),
            self.containerd_socket(),
            self.containerd_ttrpc_socket(),
        ] {
            let len = socket.as_os_str().len();
            if len > MAX_SOCKET_PATH_LEN {
                return Err(LabError::SocketPathTooLong {
                    name: self.name.clone(),
                    path: socket,
                    len,
                    max: MAX_SOCKET_PATH_LEN,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_names() {
        for name in ["a", "0", "lab-1", "x-", "abcdefghijklmnopqrstuvwx"] {
            validate_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        for (name, reason) in [
            ("", "empty"),
            ("-a", "start"),
            ("A", "start"),
            ("a_b", "only contain"),
            ("a.b", "only contain"),
            ("a/b", "only contain"),
            ("ab c", "only contain"),
            ("é", "start"),
            ("abcdefghijklmnopqrstuvwxy", "too long"),
        ] {
            let err = validate_name(name).expect_err(name).to_string();
            assert!(err.contains(reason), "{name:?}: {err}");
            assert!(err.contains("[a-z0-9][a-z0-9-]*"), "{err}");
        }
    }

    #[test]
    fn paths_are_derived_from_root_and_name() {
        let paths = LabPaths::new(Path::new("/s"), "x");
        assert_eq!(paths.dir, Path::new("/s/labs/x"));
        assert_eq!(paths.socket(), Path::new("/s/labs/x/docker.sock"));
        assert_eq!(paths.docker_host(), "unix:///s/labs/x/docker.sock");
        assert_eq!(
            paths.containerd_socket(),
            Path::new("/s/labs/x/exec/containerd/containerd.sock")
        );
        assert_eq!(paths.netns(), "halab-x");
        assert_eq!(paths.cgroup_parent(), "/halab-x");
    }

    #[test]
    fn socket_length_limit_names_the_offending_socket() {
        let longest_name = "a".repeat(MAX_NAME_LEN);
        LabPaths::new(Path::new(DEFAULT_STATE_ROOT), &longest_name)
            .check_socket_lengths()
            .expect("the default state root fits every valid name");

        let deep_root = PathBuf::from(format!("/tmp/{}", "d".repeat(50)));
        let err = LabPaths::new(&deep_root, &longest_name)
            .check_socket_lengths()
            .expect_err("too long");
        let LabError::SocketPathTooLong { path, len, max, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(path.ends_with("containerd/containerd.sock"), "{path:?}");
        assert!(*len > *max);
        assert!(err.to_string().contains("HALAB_STATE_DIR"), "{err}");
    }

    #[test]
    fn state_root_is_made_absolute() {
        let resolved = resolve_state_root(Path::new("relative/root")).unwrap();
        assert!(resolved.is_absolute());
        assert!(resolved.ends_with("relative/root"));
    }
}
