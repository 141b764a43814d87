//! The delay before an automatic restart: 100 ms, doubling, capped at one minute, back to 100 ms
//! once the container has run for ten seconds.
//!
//! This is the `timeout` field of moby's `restartmanager.restartManager` and the first half of
//! its `ShouldRestart`, kept apart because the same arithmetic is also the oracle the property
//! tests predict delays with. Durations are nanoseconds, like [`crate::Nanos`].

use serde::{Deserialize, Serialize};

const MS: i64 = 1_000_000;

// ANCHOR: constants
/// `defaultTimeout`: the first delay, and the delay after a reset.
pub const INITIAL_DELAY_NS: i64 = 100 * MS;
/// `maxRestartTimeout`: the cap.
pub const MAX_DELAY_NS: i64 = 60_000 * MS;
/// `backoffMultiplier`.
pub const MULTIPLIER: i64 = 2;
/// A run at least this long resets the delay (`executionDuration.Seconds() >= 10`).
pub const RESET_AFTER_RUN_NS: i64 = 10_000 * MS;
// ANCHOR_END: constants

/// The restart manager's current delay; zero until its first decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Backoff {
    timeout_ns: i64,
}

impl Backoff {
    /// The delay the last decision used, zero if there was none.
    pub fn current_ns(self) -> i64 {
        self.timeout_ns
    }

    /// Moves to the delay for the exit of a run that lasted `ran_for_ns`, and returns it.
    ///
    /// Mirrors the start of `restartmanager.(*restartManager).ShouldRestart` (identical in 20.10
    /// and 29). Note what the engine does and the docs do not say: the delay moves on every
    /// call that gets this far — also when the policy then decides *not* to restart (an
    /// `on-failure` exit 0, an `unless-stopped` container stopped by hand) — so such an exit
    /// still doubles the delay a later restart waits.
    pub fn next(&mut self, ran_for_ns: i64) -> i64 {
        if ran_for_ns >= RESET_AFTER_RUN_NS {
            self.timeout_ns = 0;
        }
        if self.timeout_ns == 0 {
            self.timeout_ns = INITIAL_DELAY_NS;
        } else if self.timeout_ns < MAX_DELAY_NS {
            self.timeout_ns *= MULTIPLIER;
        }
        self.timeout_ns = self.timeout_ns.min(MAX_DELAY_NS);
        self.timeout_ns
    }
}

/// The delay of the `n`-th decision (0-based) of a fresh restart manager whose container never
/// ran ten seconds: 100 ms, 200 ms, 400 ms, … 51.2 s, then 60 s for ever.
pub fn nth_delay_ns(n: u32) -> i64 {
    // 100 ms << 10 already exceeds the cap, so larger shifts need not be computed.
    if n >= 10 {
        MAX_DELAY_NS
    } else {
        (INITIAL_DELAY_NS << n).min(MAX_DELAY_NS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_cap() {
        let mut b = Backoff::default();
        let got: Vec<i64> = (0..13).map(|_| b.next(0) / MS).collect();
        assert_eq!(
            got,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000
            ]
        );
        for (n, want) in got.iter().enumerate() {
            assert_eq!(nth_delay_ns(n as u32) / MS, *want);
        }
    }

    #[test]
    fn a_ten_second_run_resets() {
        let mut b = Backoff::default();
        b.next(0);
        b.next(0);
        assert_eq!(b.next(RESET_AFTER_RUN_NS - 1), 400 * MS);
        assert_eq!(b.next(RESET_AFTER_RUN_NS), INITIAL_DELAY_NS);
    }
}
