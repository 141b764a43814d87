//! Which Docker Engine the model imitates.
//!
//! The restart manager itself (`restartmanager.go`) is the same in every release from 20.10 to
//! the newest; what changed around it is small but observable, so each difference is one method
//! here, named for what it decides, with the moby commit that changed it. The container model
//! asks these methods instead of matching on the version itself, so a new version is one new arm
//! per method.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Docker Engine release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EngineVersion {
    /// Docker Engine 20.10 (API 1.41), read at tag `v20.10.24`.
    V20_10,
    /// Docker Engine 29 (API 1.52), read at tag `docker-v29.7.2`, the newest release found.
    V29,
}

/// When `State.OOMKilled` is set and cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OomFlag {
    /// 20.10: libcontainerd remembers an OOM event and hands it to the exit handler, which copies
    /// it into the state with the exit (`State.SetStopped`/`SetRestarting`); starting again does
    /// not clear it (`State.SetRunning` leaves it alone).
    AtExit,
    /// 24.0+ (moby 57d2d6ef62 "Update container OOMKilled flag immediately"): the OOM event sets
    /// it at once (`Daemon.ProcessEvent`), and every start clears it (`State.setRunning`).
    AtOomEvent,
}

impl EngineVersion {
    /// Every version the model knows, oldest first.
    pub const ALL: [EngineVersion; 2] = [EngineVersion::V20_10, EngineVersion::V29];

    /// The model for a daemon that reports `version` (`docker version`'s Server.Version, e.g.
    /// `20.10.24+dfsg1`): the newest modelled line not newer than it, 20.10 for anything older
    /// or unreadable. A release between two modelled lines (24.0, say) is judged by the older
    /// line's semantics, which it may have left already: only 20.10 and 29 were read in moby.
    pub fn for_release(version: &str) -> EngineVersion {
        let major = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0);
        if major >= 29 {
            EngineVersion::V29
        } else {
            EngineVersion::V20_10
        }
    }

    /// The release line as Docker names it.
    pub fn name(self) -> &'static str {
        match self {
            EngineVersion::V20_10 => "20.10",
            EngineVersion::V29 => "29",
        }
    }

    /// The exit code recorded when the daemon starts and finds a container it believed running
    /// (or restarting) whose containerd *container object* is gone (the daemon deletes it at every
    /// exit, so this is the case of a container that was in its restart back-off when the daemon
    /// went down).
    ///
    /// 20.10 `Daemon.restore`: `containerd.Restore` fails with NotFound, `process` stays nil and
    /// `SetStopped` gets the zero `ec`, so the exit code becomes 0 — and `on-failure` then does
    /// not restart it. moby 165dfd6c3e ("fix restoring container with missing task", 25.0) made it
    /// 255 again.
    pub(crate) fn exit_code_for_missing_container(self) -> i64 {
        match self {
            EngineVersion::V20_10 => 0,
            EngineVersion::V29 => 255,
        }
    }

    pub(crate) fn oom_flag(self) -> OomFlag {
        match self {
            EngineVersion::V20_10 => OomFlag::AtExit,
            EngineVersion::V29 => OomFlag::AtOomEvent,
        }
    }

    /// Whether a `docker stop` logs its `stop` event before the exit handler logs `die`.
    ///
    /// 20.10: `State.Wait` re-takes the container lock before reporting, and `handleContainerExit`
    /// logs `die` while holding it, so `die` always comes first. Since 24.0 (moby a290f5d04c)
    /// waiters are told straight from `SetStopped`, and `containerStop` logs `stop` in a deferred
    /// call before taking the lock again (moby 062082ec9b, 28.x), while `handleContainerExit`
    /// still has a checkpoint to disk to write before it logs `die`: `stop` usually wins. The
    /// moby commit says the order is not guaranteed; the model takes the usual one.
    pub(crate) fn stop_event_before_die(self) -> bool {
        match self {
            EngineVersion::V20_10 => false,
            EngineVersion::V29 => true,
        }
    }
}

impl fmt::Display for EngineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_is_judged_by_the_newest_line_not_newer_than_it() {
        for (version, line) in [
            ("20.10.24+dfsg1", EngineVersion::V20_10),
            ("20.10.5", EngineVersion::V20_10),
            ("24.0.7", EngineVersion::V20_10),
            ("29.7.2", EngineVersion::V29),
            ("30.0.0-rc.1", EngineVersion::V29),
            ("", EngineVersion::V20_10),
            ("dev", EngineVersion::V20_10),
        ] {
            assert_eq!(EngineVersion::for_release(version), line, "{version:?}");
        }
    }
}
