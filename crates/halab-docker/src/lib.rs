//! halab's Docker side: everything that talks to a daemon through its API.
//!
//! - [`connect`]: one connection per daemon, API version negotiated, `DOCKER_HOST` honoured, and
//!   one clear error when the daemon cannot be reached.
//! - [`image`]: the lab image, built from the host's static busybox with no registry.
//! - [`containers`]: creating the containers a run needs, always labelled with the run, and
//!   removing them again (per run, or every leftover for `halab gc`).
//! - [`observe`]: the events stream turned into a [`halab_model::History`], reconnected and
//!   reconciled from `inspect` when the daemon comes back.
//! - [`recorder`]: the shared history a run writes to and waits on.
//!
//! Invariant: every object this crate creates on a daemon carries the label
//! [`labels::RUN`]`=<run id>`, so that a run, and `halab gc`, can always find what it made.

pub mod connect;
pub mod containers;
mod error;
pub mod image;
pub mod labels;
pub mod observe;
pub mod recorder;
mod time;

pub use connect::{DaemonInfo, connect, fresh_client};
pub use error::DockerError;
pub use recorder::Recorder;
pub use time::{now, parse_docker_time};

pub use bollard::Docker;
