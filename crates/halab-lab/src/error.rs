//! One error type for the crate, one variant per cause, each message saying what to do next.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong with a lab daemon.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "lab daemons need root (they create network namespaces and run dockerd): run halab as root"
    )]
    NotRoot,

    #[error(
        "`{binary}` was not found (searched PATH and {fallback_dirs}): install the Debian package \
         `{package}` (apt-get install {package})"
    )]
    MissingBinary {
        binary: &'static str,
        package: &'static str,
        fallback_dirs: String,
    },

    #[error(
        "invalid lab name `{name}`: {reason} (allowed: [a-z0-9][a-z0-9-]*, at most {max_len} \
         characters)"
    )]
    InvalidName {
        name: String,
        reason: &'static str,
        max_len: usize,
    },

    #[error(
        "lab `{name}` would need the unix socket path {path} ({len} bytes), but unix socket paths \
         are limited to {max} bytes: use a shorter state root (HALAB_STATE_DIR) or a shorter lab \
         name"
    )]
    SocketPathTooLong {
        name: String,
        path: PathBuf,
        len: usize,
        max: usize,
    },

    #[error("invalid label `{key}={value}`: {reason}")]
    InvalidLabel {
        key: String,
        value: String,
        reason: &'static str,
    },

    #[error(
        "a lab named `{name}` already exists at {dir}: use it, or remove it first with \
         `halab lab down {name}`"
    )]
    AlreadyExists { name: String, dir: PathBuf },

    #[error(
        "the network namespace `{netns}` already exists, but there is no lab `{name}` under \
         {state_root}: it may belong to a lab under another state root; if it is stale, remove \
         it with `halab gc` or `ip netns del {netns}`"
    )]
    NetnsTaken {
        name: String,
        netns: String,
        state_root: PathBuf,
    },

    #[error("no lab named `{name}` under {state_root} ({})", describe_existing(.existing))]
    NoSuchLab {
        name: String,
        state_root: PathBuf,
        existing: Vec<String>,
    },

    #[error("lab `{name}` is already running (dockerd pid {pid})")]
    AlreadyRunning { name: String, pid: u32 },

    #[error("lab `{name}` is not running (no live dockerd for {socket})")]
    NotRunning { name: String, socket: PathBuf },

    #[error(
        "dockerd of lab `{name}` did not become ready: {reason}; its log is {log_path}, last \
         lines:\n{log_tail}"
    )]
    DockerdNotReady {
        name: String,
        /// The dockerd that was started (and is gone now: it exited, or was killed for not
        /// answering).
        pid: u32,
        reason: String,
        log_path: PathBuf,
        log_tail: String,
    },

    #[error(
        "{program} of lab `{name}` (pid {pid}) was still running {timeout:?} after dockerd got {signal}"
    )]
    StopTimeout {
        name: String,
        /// `dockerd`, or the `containerd` it started.
        program: &'static str,
        pid: u32,
        signal: &'static str,
        timeout: Duration,
    },

    #[error("could not remove everything of lab `{name}`; left behind: {}", .leftovers.join("; "))]
    TeardownIncomplete {
        name: String,
        leftovers: Vec<String>,
    },

    #[error("{error}\nremoving the half-made lab again also failed: {cleanup}")]
    SetupAndCleanupFailed {
        #[source]
        error: Box<LabError>,
        cleanup: Box<LabError>,
    },

    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },

    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("lab metadata {path} is not valid: {source}")]
    BadMetadata {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("could not {action}: {source}")]
    Sys {
        action: String,
        #[source]
        source: nix::Error,
    },
}

fn describe_existing(existing: &[String]) -> String {
    if existing.is_empty() {
        "there are no labs".to_owned()
    } else {
        format!("labs there: {}", existing.join(", "))
    }
}

impl LabError {
    /// Shorthand for the common "an fs operation on a path failed" case.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
