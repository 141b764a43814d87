//! The oracle: every run — on a lab, on another daemon, in the simulator — judged by the
//! reference model. The run's recorded operations are replayed through a model of its daemon
//! and services ([`replay`]), and what the daemon did is compared with what the model predicts,
//! property by property ([`compare`]), within tolerances the run itself calibrates
//! ([`slack`]). A scenario needs no hand-written expectations to be judged.

pub(crate) mod answers;
mod compare;
mod health;
mod replay;
mod slack;
#[cfg(test)]
mod tests;

pub use replay::{Predicted, Replayed, RestoreAt, replay};
pub use slack::{EARLY_MS, Slack};

use crate::checks::{Check, CheckResult, Subject};

/// The oracle as a check: its properties, service by service, then the daemon's.
pub struct Oracle;

impl Check for Oracle {
    fn judge(&self, run: &Subject<'_>) -> Vec<CheckResult> {
        let replayed = |restore_at| {
            replay(
                run.scenario,
                run.engine,
                run.live_restore,
                run.reference,
                run.history,
                restore_at,
            )
        };
        let (early, late) = (replayed(RestoreAt::Invoke), replayed(RestoreAt::Answer));
        let slack = Slack::from_history(run.history).at_least(run.min_late_ms);
        compare::properties(run, [&early, &late], &slack)
    }
}

/// Milliseconds as nanoseconds, saturating.
fn ms_nanos(ms: u64) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}
