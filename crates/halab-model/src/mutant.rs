//! Deliberately wrong variants of the model: each one a plausible misreading of the engine, to
//! prove that the oracle — which judges every run by replaying it through the model — catches a
//! model that is wrong. A model built with a [`Mutant`] is used only for that.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One way to get Docker's restart semantics wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mutant {
    /// `unless-stopped` treated like `always` when the daemon starts: a container stopped by
    /// hand comes back.
    UnlessStoppedAsAlways,
    /// The back-off is never reset, however long a container ran.
    BackoffNeverReset,
    /// The back-off is reset after 1 s of running instead of 10 s.
    BackoffResetAfter1s,
    /// `docker kill` treated like a crash: the restart policy still applies.
    ApiKillAsCrash,
    /// `on-failure:N` counts consecutive failures (ten seconds of running resets the count)
    /// instead of every restart since the last manual start.
    OnFailureConsecutive,
    /// A manual start does not reset `RestartCount`.
    RestartCountNotReset,
}

impl Mutant {
    pub const ALL: [Mutant; 6] = [
        Mutant::UnlessStoppedAsAlways,
        Mutant::BackoffNeverReset,
        Mutant::BackoffResetAfter1s,
        Mutant::ApiKillAsCrash,
        Mutant::OnFailureConsecutive,
        Mutant::RestartCountNotReset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutant::UnlessStoppedAsAlways => "unless-stopped-as-always",
            Mutant::BackoffNeverReset => "backoff-never-reset",
            Mutant::BackoffResetAfter1s => "backoff-reset-after-1s",
            Mutant::ApiKillAsCrash => "api-kill-as-crash",
            Mutant::OnFailureConsecutive => "on-failure-consecutive",
            Mutant::RestartCountNotReset => "restart-count-not-reset",
        }
    }
}

impl fmt::Display for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mutant {
    type Err = String;

    fn from_str(s: &str) -> Result<Mutant, String> {
        Mutant::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
                format!("`{s}` is not a mutant; the mutants: {}", names.join(", "))
            })
    }
}
