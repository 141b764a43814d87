//! Which reading of Docker's restart semantics a model follows: the engine's own (what moby's
//! code does, the default), the documentation's promises, or a deliberately wrong variant.
//!
//! A run is recorded once and may be judged by any reference, since judging is pure: the oracle
//! replays the recorded operations through a model of the chosen reference. That is how halab
//! shows the documentation departing from the engine (a lab run the engine's model passes and
//! the documentation's fails) and how it proves its suites catch a wrong model (a [`Mutant`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::mutant::Mutant;

/// The model a run is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reference {
    /// The engine's own semantics, read in moby's source (the default, and the only one that
    /// decides whether a daemon behaved).
    #[default]
    Engine,
    /// What Docker's documentation promises, rule by rule: the engine's semantics except where
    /// one of these rules says otherwise. Where the documentation is silent it makes no claim,
    /// and so it cannot disagree with the engine there.
    Docs(DocRules),
    /// A deliberately wrong model (see [`Mutant`]).
    Mutant(Mutant),
}

impl Reference {
    /// Every documented rule at once: the documentation as a whole.
    pub const DOCS: Reference = Reference::Docs(DocRules::ALL);

    /// The mutant, for a wrong model.
    pub fn mutant(self) -> Option<Mutant> {
        match self {
            Reference::Mutant(m) => Some(m),
            _ => None,
        }
    }

    /// Whether the model follows the documentation's `rule` where the engine does otherwise.
    pub fn follows(self, rule: DocRule) -> bool {
        matches!(self, Reference::Docs(rules) if rules.contains(rule))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Engine => f.write_str("engine"),
            Reference::Docs(rules) if *rules == DocRules::ALL => f.write_str("docs"),
            Reference::Docs(rules) => write!(f, "docs:{rules}"),
            Reference::Mutant(m) => write!(f, "mutant:{m}"),
        }
    }
}

impl FromStr for Reference {
    type Err = String;

    /// `engine`, `docs`, `docs:RULE[+RULE…]` or `mutant:NAME`.
    fn from_str(s: &str) -> Result<Reference, String> {
        match s.split_once(':') {
            None if s == "engine" => Ok(Reference::Engine),
            None if s == "docs" => Ok(Reference::DOCS),
            Some(("docs", rules)) => rules.parse().map(Reference::Docs),
            Some(("mutant", name)) => name.parse().map(Reference::Mutant),
            _ => Err(format!(
                "`{s}` is not a reference: engine, docs, docs:RULE[+RULE…] (rules: {}) or mutant:NAME (mutants: {})",
                DocRule::ALL.map(DocRule::name).join(", "),
                Mutant::ALL.map(Mutant::name).join(", ")
            )),
        }
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reference, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

// ANCHOR: doc_rule
/// One promise of Docker's documentation about restarts that a model can follow. Each is what
/// the documentation says, as written; whether the engine keeps it is for a lab run to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocRule {
    /// "A restart policy only takes effect after a container starts successfully. In this
    /// case, starting successfully means that the container is up for at least 10 seconds and
    /// Docker has started monitoring it." Followed as: after a start by hand (or the daemon's
    /// start-up), an exit before any run of 10 s is not restarted.
    TenSeconds,
    /// "The on-failure policy only prompts a restart if the container exits with a failure. It
    /// doesn't restart the container if the daemon restarts."
    OnFailureNotAtDaemonStart,
    /// `unless-stopped`: "Always restart the container regardless of the exit status, including
    /// on daemon startup, except if the container was put into a stopped state before the
    /// Docker daemon was stopped." A container still running when the daemon crashed was not
    /// put into a stopped state before: followed as, the daemon stopping it at its next start
    /// is no manual stop.
    CrashIsNotAStop,
    /// `docker kill` "sends SIGKILL, or the signal specified with --signal": a signal the
    /// container survives (SIGHUP to a process that ignores it) does not stop it. Followed as:
    /// it neither counts as a manual stop nor turns the restart policy off.
    SurvivedSignalIsNotAStop,
    /// `unless-stopped`: "Similar to `always`, except that when the container is stopped
    /// (manually or otherwise), it isn't restarted even after Docker daemon restarts." Followed
    /// as: a container the daemon's own shutdown stopped stays down when it starts again.
    StoppedByDaemonStaysDown,
    /// `on-failure:N`: "If the `redis` container exits with a non-zero exit status more than 10
    /// times in a row, Docker stops trying to restart the container." Followed as: a run of
    /// 10 s (a successful start) ends the row, and the count starts again.
    OnFailureInARow,
}
// ANCHOR_END: doc_rule

impl DocRule {
    pub const ALL: [DocRule; 6] = [
        DocRule::TenSeconds,
        DocRule::OnFailureNotAtDaemonStart,
        DocRule::OnFailureInARow,
        DocRule::CrashIsNotAStop,
        DocRule::SurvivedSignalIsNotAStop,
        DocRule::StoppedByDaemonStaysDown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DocRule::TenSeconds => "ten-seconds",
            DocRule::OnFailureNotAtDaemonStart => "on-failure-not-at-daemon-start",
            DocRule::CrashIsNotAStop => "crash-is-not-a-stop",
            DocRule::SurvivedSignalIsNotAStop => "survived-signal-is-not-a-stop",
            DocRule::StoppedByDaemonStaysDown => "stopped-by-daemon-stays-down",
            DocRule::OnFailureInARow => "on-failure-in-a-row",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl Serialize for DocRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DocRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DocRule, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for DocRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DocRule {
    type Err = String;

    fn from_str(s: &str) -> Result<DocRule, String> {
        DocRule::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a documented rule; the rules: {}",
                    DocRule::ALL.map(DocRule::name).join(", ")
                )
            })
    }
}

/// A set of documented rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DocRules(u8);

impl DocRules {
    pub const NONE: DocRules = DocRules(0);
    pub const ALL: DocRules = DocRules(0b11_1111);

    pub fn only(rule: DocRule) -> DocRules {
        DocRules(rule.bit())
    }

    pub fn contains(self, rule: DocRule) -> bool {
        self.0 & rule.bit() != 0
    }

    pub fn without(self, rule: DocRule) -> DocRules {
        DocRules(self.0 & !rule.bit())
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = DocRule> {
        DocRule::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl fmt::Display for DocRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(DocRule::name).collect();
        f.write_str(&names.join("+"))
    }
}

impl FromStr for DocRules {
    type Err = String;

    fn from_str(s: &str) -> Result<DocRules, String> {
        s.split('+').try_fold(DocRules::NONE, |set, name| {
            let rule: DocRule = name.trim().parse()?;
            Ok(DocRules(set.0 | rule.bit()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_back_as_written() {
        for text in [
            "engine",
            "docs",
            "docs:ten-seconds",
            "docs:ten-seconds+crash-is-not-a-stop",
            "mutant:api-kill-as-crash",
        ] {
            let reference: Reference = text.parse().unwrap();
            assert_eq!(reference.to_string(), text);
        }
        let every: Vec<&str> = DocRule::ALL.map(DocRule::name).to_vec();
        assert_eq!(
            format!("docs:{}", every.join("+"))
                .parse::<Reference>()
                .unwrap(),
            Reference::DOCS
        );
        let error = "mutant:nope".parse::<Reference>().unwrap_err();
        assert!(error.contains("api-kill-as-crash"), "{error}");
        let error = "model".parse::<Reference>().unwrap_err();
        assert!(error.contains("ten-seconds"), "{error}");
    }

    #[test]
    fn only_the_documentation_follows_its_rules() {
        assert!(Reference::DOCS.follows(DocRule::TenSeconds));
        assert!(!Reference::Engine.follows(DocRule::TenSeconds));
        let one = Reference::Docs(DocRules::only(DocRule::CrashIsNotAStop));
        assert!(one.follows(DocRule::CrashIsNotAStop));
        assert!(!one.follows(DocRule::TenSeconds));
        assert_eq!(
            DocRules::ALL.without(DocRule::TenSeconds).iter().count(),
            DocRule::ALL.len() - 1
        );
    }
}
