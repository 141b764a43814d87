//! Connecting to a daemon: the address, API version negotiation, and a first ping.

use bollard::{API_DEFAULT_VERSION, Docker};
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
    let docker = match host.strip_prefix("unix://") {
        // A missing socket is refused here already: the daemon is not there.
        Some(path) => Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
            .map_err(|e| unreachable(e.to_string()))?,
        None if host.starts_with("tcp://") || host.starts_with("http://") => {
            Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION).map_err(
                |e| DockerError::BadHost {
                    host: host.to_owned(),
                    reason: e.to_string(),
                },
            )?
        }
        None => {
            return Err(DockerError::BadHost {
                host: host.to_owned(),
                reason: "expected unix:///path/to/docker.sock or tcp://host:port".into(),
            });
        }
    };
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
