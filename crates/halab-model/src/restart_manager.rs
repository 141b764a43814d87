//! The daemon's per-container restart manager: the in-memory object that decides, at each exit,
//! whether and when to start the container again.
//!
//! Mirrors moby `restartmanager/restartmanager.go` (20.10; `daemon/internal/restartmanager/` in
//! 29, same logic). It lives only in the daemon's memory: it is created lazily from the persisted
//! policy and `RestartCount` (`container.(*Container).RestartManager`), thrown away by every
//! `docker start` and by every daemon restart, and so its back-off, its own restart count and its
//! "canceled" flag never survive the daemon.

use serde::{Deserialize, Serialize};

use crate::backoff::Backoff;
use crate::history::Nanos;
use crate::policy::RestartPolicy;

/// What `ShouldRestart` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Start again after `delay_ns`.
    Restart { delay_ns: i64 },
    /// The policy says no.
    DontRestart,
    /// `ErrRestartCanceled`: the manager was canceled (by a stop, a kill, the daemon's shutdown).
    Canceled,
    /// "invalid call on an active restart manager": a previous positive decision's timer has not
    /// fired yet.
    Active,
}

impl Decision {
    pub fn restarts(self) -> bool {
        matches!(self, Decision::Restart { .. })
    }
}

/// moby's `restartManager`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RestartManager {
    policy: RestartPolicy,
    /// Its own count, seeded from the container's `RestartCount` when it is created, compared
    /// with `on-failure`'s maximum. It is *not* the container's `RestartCount`, which the exit
    /// handler increments separately; the two drift apart after a live-restore (see
    /// `ContainerModel::restore`).
    restart_count: u32,
    backoff: Backoff,
    /// The `active` flag: set by a positive decision, cleared by its timer. Kept as the time the
    /// timer fires; `None` when not active.
    active_until: Option<Nanos>,
    canceled: bool,
}

impl RestartManager {
    /// Mirrors `restartmanager.New(policy, restartCount)`.
    pub fn new(policy: RestartPolicy, restart_count: u32) -> RestartManager {
        RestartManager {
            policy,
            restart_count,
            backoff: Backoff::default(),
            active_until: None,
            canceled: false,
        }
    }

    pub fn policy(&self) -> RestartPolicy {
        self.policy
    }

    pub fn restart_count(&self) -> u32 {
        self.restart_count
    }

    /// The delay of the last decision, zero before the first.
    pub fn current_delay_ns(&self) -> i64 {
        self.backoff.current_ns()
    }

    pub fn is_canceled(&self) -> bool {
        self.canceled
    }

    pub fn is_active(&self, now: Nanos) -> bool {
        self.active_until.is_some_and(|until| now < until)
    }

    /// Mirrors `(*restartManager).SetPolicy`, which `docker update --restart` reaches through
    /// `container.(*Container).UpdateMonitor`. Nothing else changes: a canceled manager stays
    /// canceled, a pending restart still happens.
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// Starts counting restarts from zero again (what the documentation's "in a row" would
    /// do after a successful run; the engine never does it).
    pub fn forget_restarts(&mut self) {
        self.restart_count = 0;
    }

    /// Mirrors `(*restartManager).Cancel`: every later decision is `Canceled`, and a pending
    /// restart is abandoned (its timer goroutine reports `ErrRestartCanceled`).
    pub fn cancel(&mut self) {
        self.canceled = true;
    }

    // ANCHOR: should_restart
    /// Mirrors `restartmanager.(*restartManager).ShouldRestart` (20.10 and 29 alike).
    ///
    /// In order: policy `no` answers no before anything else; a canceled manager refuses; an
    /// active one refuses; then the back-off moves (even if the answer will be no); then the
    /// policy decides. `always` ignores `manually_stopped` entirely — a stopped `always`
    /// container stays down only because stopping it canceled this manager. `on-failure`
    /// ignores it too and looks only at the exit code and the count.
    ///
    /// The docs' "a restart policy only takes effect after a container starts successfully …
    /// up for at least 10 seconds" is not in the code (20.10 or 29): a container that exits at
    /// once is restarted like any other, and ten seconds of running only resets the back-off.
    pub fn should_restart(
        &mut self,
        exit_code: i64,
        manually_stopped: bool,
        ran_for_ns: i64,
        now: Nanos,
    ) -> Decision {
        if self.policy == RestartPolicy::No {
            return Decision::DontRestart;
        }
        if self.canceled {
            return Decision::Canceled;
        }
        if self.is_active(now) {
            return Decision::Active;
        }
        let delay_ns = self.backoff.next(ran_for_ns);
        let restart = match self.policy {
            RestartPolicy::No => false,
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => !manually_stopped,
            // `MaximumRetryCount` 0 means no maximum; the exit code is compared as uint32.
            RestartPolicy::OnFailure { max_retries } => {
                (max_retries == 0 || self.restart_count < max_retries) && exit_code != 0
            }
        };
        if !restart {
            self.active_until = None;
            return Decision::DontRestart;
        }
        self.restart_count = self.restart_count.saturating_add(1);
        self.active_until = Some(now.plus_nanos(delay_ns));
        Decision::Restart { delay_ns }
    }
    // ANCHOR_END: should_restart
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Nanos = Nanos(0);

    #[test]
    fn on_failure_counts_from_the_persisted_count() {
        let mut rm = RestartManager::new(RestartPolicy::OnFailure { max_retries: 2 }, 1);
        assert!(rm.should_restart(1, false, 0, T0).restarts());
        let later = Nanos(T0.0 + 60_000_000_000);
        assert_eq!(rm.should_restart(1, false, 0, later), Decision::DontRestart);
    }

    #[test]
    fn exit_zero_moves_the_backoff_without_restarting() {
        let mut rm = RestartManager::new(RestartPolicy::OnFailure { max_retries: 0 }, 0);
        assert_eq!(rm.should_restart(0, false, 0, T0), Decision::DontRestart);
        assert_eq!(
            rm.should_restart(1, false, 0, T0),
            Decision::Restart {
                delay_ns: 200_000_000
            }
        );
    }

    #[test]
    fn always_ignores_manual_stop_but_not_cancel() {
        let mut rm = RestartManager::new(RestartPolicy::Always, 0);
        assert!(rm.should_restart(0, true, 0, T0).restarts());
        let mut rm = RestartManager::new(RestartPolicy::Always, 0);
        rm.cancel();
        assert_eq!(rm.should_restart(0, false, 0, T0), Decision::Canceled);
    }

    #[test]
    fn an_active_manager_refuses() {
        let mut rm = RestartManager::new(RestartPolicy::Always, 0);
        assert!(rm.should_restart(1, false, 0, T0).restarts());
        assert_eq!(
            rm.should_restart(1, false, 0, Nanos(99_999_999)),
            Decision::Active
        );
        assert!(
            rm.should_restart(1, false, 0, Nanos(100_000_000))
                .restarts()
        );
    }
}
