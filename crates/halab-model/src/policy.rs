//! Docker restart policies, spelled as `docker run --restart` spells them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

// ANCHOR: restart_policy
/// A container's restart policy (`HostConfig.RestartPolicy`).
///
/// Parsing accepts exactly the spellings the engine accepts for `--restart`
/// (moby `opts.ParseRestartPolicy` in docker/cli, validated by
/// `daemon.verifyPlatformContainerSettings`): `no`, `always`, `unless-stopped`,
/// `on-failure` and `on-failure:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RestartPolicy {
    /// Never restart (the default).
    No,
    /// Restart when the process exits non-zero, at most `max_retries` times (0 = unlimited).
    OnFailure { max_retries: u32 },
    /// Restart whatever the exit code; also start again when the daemon starts.
    Always,
    /// Like `always`, but a container stopped through the API stays stopped across daemon restarts.
    UnlessStopped,
}
// ANCHOR_END: restart_policy

impl RestartPolicy {
    /// The policy name as the Engine API spells it in `RestartPolicy.Name`.
    pub fn api_name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// `RestartPolicy.MaximumRetryCount` as the Engine API expects it.
    pub fn api_max_retries(self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => max_retries,
            _ => 0,
        }
    }
}

/// Why a restart-policy spelling was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{given}` is not a restart policy: expected one of no, always, unless-stopped, on-failure, on-failure:N"
)]
pub struct ParsePolicyError {
    pub given: String,
}

impl FromStr for RestartPolicy {
    type Err = ParsePolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || ParsePolicyError {
            given: s.to_owned(),
        };
        match s {
            "no" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: 0 }),
            _ => {
                let n = s.strip_prefix("on-failure:").ok_or_else(refuse)?;
                let max_retries = n.parse().map_err(|_| refuse())?;
                Ok(RestartPolicy::OnFailure { max_retries })
            }
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::OnFailure { max_retries } if *max_retries > 0 => {
                write!(f, "on-failure:{max_retries}")
            }
            other => f.write_str(other.api_name()),
        }
    }
}

impl TryFrom<String> for RestartPolicy {
    type Error = ParsePolicyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RestartPolicy> for String {
    fn from(p: RestartPolicy) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips() {
        for s in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:3",
        ] {
            let p: RestartPolicy = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
        }
    }

    #[test]
    fn bad_spellings_are_refused() {
        for s in [
            "",
            "alwayz",
            "on-failure:",
            "on-failure:-1",
            "on-failure:x",
            "No",
        ] {
            assert!(s.parse::<RestartPolicy>().is_err(), "{s} parsed");
        }
    }
}
