use std::path::PathBuf;

/// What went wrong talking to Docker. Each variant says what halab was doing and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach a Docker daemon at {host} ({reason}): is dockerd running there, and may this \
         user open its socket? Use --docker-host or DOCKER_HOST for another daemon"
    )]
    Unreachable { host: String, reason: String },

    #[error("`{host}` is not a Docker host address halab can use: {reason}")]
    BadHost { host: String, reason: String },

    #[error(
        "no static busybox at {path}: the lab image is built from it (no registry is used).\n  \
         Install Debian's busybox-static: apt-get install busybox-static"
    )]
    BusyboxMissing { path: PathBuf },

    #[error(
        "{path} is dynamically linked, so it cannot run in an image built FROM scratch.\n  \
         Install Debian's busybox-static (apt-get install busybox-static), which replaces it with a static build"
    )]
    BusyboxNotStatic { path: PathBuf },

    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("building the lab image failed: {0}")]
    Build(String),

    #[error(
        "image `{image}` is not on the daemon at {host}, and halab never pulls: build or load it there first"
    )]
    ImageMissing { image: String, host: String },

    #[error("container {container} has no running process to signal")]
    NotRunning { container: String },

    #[error("no daemon answers to say where container {container}'s process is")]
    NoDaemon { container: String },

    #[error("sending a signal from the host to container {container}'s process {pid}: {reason}")]
    HostSignal {
        container: String,
        pid: i64,
        reason: String,
    },

    #[error("{doing}: {source}")]
    Api {
        doing: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl DockerError {
    /// Wraps an API error with what halab was doing when it happened.
    pub fn api(doing: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        let doing = doing.into();
        move |source| DockerError::Api { doing, source }
    }
}
