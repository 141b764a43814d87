//! Connecting to a daemon: the address, API version negotiation, and a first ping.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use serde::Serialize;

use crate::DockerError;

/// Where the machine's own daemon listens when nothing else is said.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Seconds an API request may take. Long enough for `docker stop` with its timeout.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// What halab learned about the daemon it connected to.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonInfo {
    /// The address used, as `DOCKER_HOST` spells it.
    pub host: String,
    /// The engine's version (`20.10.24+dfsg1` here).
    pub engine_version: String,
    /// The API version both sides agreed on.
    pub api_version: String,
}

/// The address to use: the one given, else `DOCKER_HOST`, else the machine's socket.
pub fn resolve_host(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_owned)
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_owned())
}

/// Connects to the daemon at `host` (see [`resolve_host`]), negotiates the API version down to
/// what the engine speaks, and checks that it answers.
pub async fn connect(host: &str) -> Result<(Docker, DaemonInfo), DockerError> {
    let unreachable = |reason: String| DockerError::Unreachable {
        host: host.to_owned(),
        reason,
    };
    // A socket that cannot be used is refused here, saying why: the HTTP client would only say
    // "client error (Connect)".
    if let Some(path) = host.strip_prefix("unix://")
        && let Some(reason) = unix_socket_problem(Path::new(path))
    {
        return Err(unreachable(reason));
    }
    let docker = client(host, API_DEFAULT_VERSION)?;
    let unreachable = |e: bollard::errors::Error| unreachable(e.to_string());
    let docker = docker.negotiate_version().await.map_err(unreachable)?;
    let version = docker.version().await.map_err(unreachable)?;
    let info = DaemonInfo {
        host: host.to_owned(),
        engine_version: version.version.unwrap_or_default(),
        api_version: docker.client_version().to_string(),
    };
    tracing::debug!(?info, "connected");
    Ok((docker, info))
}

/// A client of the daemon at `host` that shares no connection with `docker`, speaking the API
/// version `docker` agreed on. Connects to nothing yet.
///
/// Why: a client keeps the connections it opened, and a daemon that was stopped or killed
/// leaves them in its pool. The next request sent on one is reset — read by no daemon, yet it
/// looks like a call cut off mid-way, whose outcome nobody knows. A caller that has just taken
/// a daemon down, or started one, goes on with a fresh client: its calls reach the daemon that
/// is there, or are refused at connect.
pub fn fresh_client(docker: &Docker, host: &str) -> Result<Docker, DockerError> {
    client(host, &docker.client_version())
}

/// A client of `host`, speaking API `version`.
fn client(host: &str, version: &ClientVersion) -> Result<Docker, DockerError> {
    let bad_host = |reason: String| DockerError::BadHost {
        host: host.to_owned(),
        reason,
    };
    match host.strip_prefix("unix://") {
        Some(path) => Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, version).map_err(|e| {
            DockerError::Unreachable {
                host: host.to_owned(),
                reason: e.to_string(),
            }
        }),
        None if host.starts_with("tcp://") || host.starts_with("http://") => {
            Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, version)
                .map_err(|e| bad_host(e.to_string()))
        }
        None => Err(bad_host(
            "expected unix:///path/to/docker.sock or tcp://host:port".into(),
        )),
    }
}

/// Why the daemon's unix socket at `path` cannot be used by this process, if it cannot: tried
/// with a plain connect, which on a unix socket answers at once.
pub fn unix_socket_problem(path: &Path) -> Option<String> {
    let error = std::os::unix::net::UnixStream::connect(path).err()?;
    let shown = path.display();
    Some(match error.kind() {
        std::io::ErrorKind::NotFound => format!("there is no socket at {shown}"),
        std::io::ErrorKind::PermissionDenied => {
            let owner = std::fs::metadata(path)
                .map(|m| {
                    let group = nix::unistd::Group::from_gid(m.gid().into())
                        .ok()
                        .flatten()
                        .map_or(m.gid().to_string(), |g| g.name);
                    format!(
                        " (owned by uid {} and group {group}, mode {:o})",
                        m.uid(),
                        m.mode() & 0o7777
                    )
                })
                .unwrap_or_default();
            format!(
                "permission denied opening the socket {shown}{owner}, as uid {}: run as root or as a member of that group",
                nix::unistd::getuid()
            )
        }
        std::io::ErrorKind::ConnectionRefused => {
            let what = match std::fs::metadata(path) {
                Ok(m) if !m.file_type().is_socket() => "it is not a socket",
                _ => "nothing listens on it (a socket left by a daemon that is not running)",
            };
            format!("connecting to {shown}: {what}")
        }
        _ => format!("connecting to {shown}: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_dead_socket_says_why() {
        let missing = unix_socket_problem(Path::new("/nonexistent/docker.sock")).unwrap();
        assert!(
            missing.contains("no socket at /nonexistent/docker.sock"),
            "{missing}"
        );
        let dir = std::env::temp_dir().join(format!("halab-test-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        let dead = unix_socket_problem(&sock).unwrap();
        assert!(dead.contains("nothing listens"), "{dead}");
        let listener = std::os::unix::net::UnixListener::bind(dir.join("live.sock")).unwrap();
        assert_eq!(unix_socket_problem(&dir.join("live.sock")), None);
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
