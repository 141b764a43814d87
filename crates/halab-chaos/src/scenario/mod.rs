//! The scenario file format (TOML), its parameters, and errors that point at file:line:col.
//!
//! A scenario names one service container (image, script, restart policy, the bind-mounted
//! directory holding its counter), the phases a run goes through, and the checks that decide
//! the verdict. Parameters declared under `[params]` have defaults; the CLI overrides them with
//! `--set name=value`, and `{{name}}` in any string is replaced by the value.
//!
//! ```toml
//! name = "example"
//! [params]
//! sleep = { default = 10, help = "seconds the service sleeps after each increment" }
//! [service]
//! restart = "always"
//! script = "echo $(($(cat /tmp/executou) + 1)) > /tmp/executou; sleep {{sleep}}"
//! [service.counter]
//! dir = "/tmp"
//! file = "executou"
//! [[phases]]
//! name = "watch"
//! do = "watch"
//! until_starts = 3
//! ```
//!
//! Every value is checked, with its parameters applied, before a run creates anything: its type,
//! its range ([`limits`]), and the two paths ([`paths`]) — a scenario file is shared like a CI
//! config, and halab runs as root.

mod error;
pub mod limits;
mod paths;
mod resolve;
mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use halab_model::RestartPolicy;
use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use error::ScenarioError;
pub use source::{list, locate};

/// The image name that means "halab's own busybox lab image, built locally".
pub const LAB_IMAGE: &str = "lab";

/// A scenario as written in its file (parameters not yet applied).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: Spanned<String>,
    #[serde(default)]
    pub summary: Option<Spanned<String>>,
    #[serde(default)]
    pub params: BTreeMap<Spanned<String>, ParamDecl>,
    #[serde(default)]
    pub daemon: DaemonFile,
    pub service: ServiceFile,
    pub phases: Spanned<Vec<PhaseFile>>,
    #[serde(default)]
    pub checks: ChecksFile,
}

/// How the daemon is configured for the scenario (a lab started for the run, or the simulator).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonFile {
    /// Start dockerd with `--live-restore`.
    #[serde(default)]
    pub live_restore: bool,
}

/// A declared parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    pub default: Scalar,
    #[serde(default)]
    pub help: Option<Spanned<String>>,
}

/// A parameter value as TOML may write it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Text(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// `lab` (halab's busybox image) or an image the daemon already has.
    #[serde(default = "lab_image")]
    pub image: Spanned<String>,
    pub restart: Spanned<Templated>,
    /// A shell script run with `sh -c`.
    pub script: Spanned<Templated>,
    pub counter: CounterFile,
    /// Seconds `docker stop` waits before SIGKILL; engine default when absent.
    pub stop_timeout: Option<Spanned<Templated>>,
    /// How the simulator plays the script (`--runtime sim`).
    pub sim: Option<SimFile>,
}

/// The script's behaviour, for the simulator: the real run executes the script instead.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFile {
    /// Seconds from each start to the script's own exit.
    pub runs_for: Spanned<Templated>,
    #[serde(default)]
    pub exit_code: Option<Spanned<i64>>,
    /// What the script does with the stop signal (SIGTERM): `ignore` (busybox `sh` as PID 1
    /// without a trap, the default), `die`, or `exit` (a trap that exits 0).
    #[serde(default)]
    pub on_stop_signal: OnStopSignal,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnStopSignal {
    #[default]
    Ignore,
    Die,
    Exit,
}

fn lab_image() -> Spanned<String> {
    Spanned::new(0..0, LAB_IMAGE.to_owned())
}

/// The counter the service keeps: a file in a directory the run creates on the host and
/// bind-mounts into the container.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterFile {
    /// Where the directory is mounted inside the container.
    pub dir: Spanned<String>,
    /// The file's name in it (a name, not a path: see `paths::counter_file_problem`).
    pub file: Spanned<String>,
    #[serde(default)]
    pub initial: Option<Spanned<u64>>,
}

// ANCHOR: phase_action
/// What a phase does when it begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseAction {
    /// Nothing: watch the service.
    Watch,
    /// Stop the daemon cleanly (SIGTERM) and wait until it has exited.
    DaemonStop,
    /// Kill the daemon (SIGKILL) and wait until it has exited.
    DaemonCrash,
    /// Start the daemon and wait until it answers.
    DaemonStart,
    /// `docker kill` (`POST /containers/{id}/kill`) with the phase's `signal` (default KILL).
    DockerKill,
    /// `docker stop` (`POST /containers/{id}/stop`): the stop signal, SIGKILL after the timeout.
    DockerStop,
    /// `docker start`.
    DockerStart,
    /// The phase's `signal` (default KILL) sent from the host to the service's main process,
    /// outside Docker's API: the daemon only sees the process die, as in a crash.
    HostKill,
}
// ANCHOR_END: phase_action

impl PhaseAction {
    /// Whether the phase stops or starts the daemon (only done to daemons halab owns).
    pub fn touches_daemon(self) -> bool {
        matches!(
            self,
            PhaseAction::DaemonStop | PhaseAction::DaemonCrash | PhaseAction::DaemonStart
        )
    }

    /// Whether the phase sends a signal (and so may name one).
    pub fn sends_signal(self) -> bool {
        matches!(self, PhaseAction::DockerKill | PhaseAction::HostKill)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseFile {
    pub name: Spanned<String>,
    #[serde(rename = "do")]
    pub action: PhaseAction,
    /// After the action, wait for this many more starts of the service.
    pub until_starts: Option<Spanned<Templated>>,
    /// Then stay in the phase this many seconds.
    pub hold: Option<Spanned<Templated>>,
    /// Seconds `until_starts` may take before the phase fails.
    pub timeout: Option<Spanned<Templated>>,
    /// For `docker-kill` and `host-kill`: `KILL`, `SIGTERM`, `9`, …
    pub signal: Option<Spanned<Templated>>,
}

/// Which checks decide the verdict, with their bounds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksFile {
    #[serde(default)]
    pub counter_matches_starts: bool,
    #[serde(default)]
    pub counter_never_decreases: bool,
    pub min_restarts: Option<MinRestartsFile>,
    pub running_after_daemon_start: Option<WithinFile>,
    #[serde(default)]
    pub counter_frozen_while_daemon_down: bool,
    /// Bounds on how many times the service did something during a phase.
    #[serde(default)]
    pub in_phase: Vec<InPhaseFile>,
    /// The restart back-off doubles from its first step.
    pub backoff: Option<BackoffFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InPhaseFile {
    pub phase: Spanned<String>,
    /// An event action: start, die, kill, stop, oom, …
    pub action: Spanned<String>,
    pub at_least: Option<Spanned<Templated>>,
    pub at_most: Option<Spanned<Templated>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffFile {
    /// The phase whose restarts are measured.
    pub phase: Spanned<String>,
    /// The first delay, in milliseconds (Docker: 100).
    pub first_ms: Spanned<Templated>,
    /// How much later than the back-off a start may come: the daemon's own start overhead.
    pub tolerance_ms: Spanned<Templated>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinRestartsFile {
    /// Count the restarts up to the end of this phase.
    pub by_end_of: Spanned<String>,
    pub count: Spanned<Templated>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithinFile {
    /// Seconds.
    pub within: Spanned<Templated>,
}

/// A value that may contain `{{param}}` references: written as a TOML string or number.
#[derive(Debug, Clone)]
pub struct Templated(pub String);

impl<'de> Deserialize<'de> for Templated {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Templated(Scalar::deserialize(d)?.to_string()))
    }
}

/// A scenario with its parameters applied: everything the runner needs, typed and in range.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub summary: String,
    /// Run the daemon with `--live-restore`.
    pub live_restore: bool,
    pub path: PathBuf,
    pub params: BTreeMap<String, String>,
    pub service: Service,
    pub phases: Vec<Phase>,
    pub checks: Checks,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub image: String,
    pub restart: RestartPolicy,
    pub script: String,
    /// An absolute path in the container (see `paths::container_dir_problem`).
    pub counter_dir: String,
    /// A file name, created in the run's own directory (see `paths::counter_file_problem`).
    pub counter_file: String,
    pub counter_initial: u64,
    /// Seconds, within [`limits::STOP_TIMEOUT_SECS`].
    pub stop_timeout: Option<i64>,
    pub sim: Option<SimService>,
}

/// The script's behaviour as the simulator plays it.
#[derive(Debug, Clone, Serialize)]
pub struct SimService {
    pub runs_for_secs: f64,
    pub exit_code: i64,
    pub on_stop_signal: OnStopSignal,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub action: PhaseAction,
    /// The signal number for `docker-kill` and `host-kill`.
    pub signal: i32,
    pub until_starts: Option<u64>,
    pub hold_secs: f64,
    pub timeout_secs: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Checks {
    pub counter_matches_starts: bool,
    pub counter_never_decreases: bool,
    pub min_restarts: Option<(String, u64)>,
    pub running_after_daemon_start_within_secs: Option<f64>,
    pub counter_frozen_while_daemon_down: bool,
    pub in_phase: Vec<InPhase>,
    pub backoff: Option<Backoff>,
}

/// At least / at most `action` events of the service during `phase`.
#[derive(Debug, Clone, Serialize)]
pub struct InPhase {
    pub phase: String,
    pub action: String,
    pub at_least: Option<u64>,
    pub at_most: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backoff {
    pub phase: String,
    pub first_ms: i64,
    pub tolerance_ms: i64,
}

impl Scenario {
    pub fn touches_daemon(&self) -> bool {
        self.phases.iter().any(|p| p.action.touches_daemon())
    }
}

/// The container actions the events stream reports, as `in_phase` checks name them.
pub const EVENT_ACTIONS: [&str; 10] = [
    "create", "start", "die", "kill", "stop", "oom", "pause", "unpause", "restart", "destroy",
];

/// A signal by number or name (`9`, `KILL`, `SIGKILL`), as `docker kill --signal` takes it.
pub fn parse_signal(text: &str) -> Option<i32> {
    const NAMES: [(&str, i32); 9] = [
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("KILL", 9),
        ("USR1", 10),
        ("USR2", 12),
        ("TERM", 15),
        ("CONT", 18),
        ("STOP", 19),
    ];
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = text.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, number)| number)
}

/// Seconds a phase may wait for its `until_starts` when the file does not say.
pub const DEFAULT_PHASE_TIMEOUT_SECS: f64 = 120.0;

/// Parses `--set name=value` arguments.
pub fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>, ScenarioError> {
    sets.iter()
        .map(|s| {
            let bad = |reason: &str| ScenarioError::BadSet {
                given: s.chars().take(80).collect(),
                reason: reason.to_owned(),
            };
            match s.split_once('=') {
                Some((k, _)) if k.trim().is_empty() => Err(bad("expected name=value")),
                Some((_, v)) if v.len() > limits::MAX_SET_VALUE_BYTES => Err(bad(&format!(
                    "the value is {} bytes long; at most {}",
                    v.len(),
                    limits::MAX_SET_VALUE_BYTES
                ))),
                Some((k, v)) => Ok((k.trim().to_owned(), v.to_owned())),
                None => Err(bad("expected name=value")),
            }
        })
        .collect()
}

/// Reads, parses and resolves a scenario file with the given overrides.
pub fn load(path: &Path, sets: &[(String, String)]) -> Result<Scenario, ScenarioError> {
    let source = source::read(path)?;
    parse(path, &source, sets)
}

/// Parses and resolves scenario text; `path` is only used in errors and the result.
pub fn parse(
    path: &Path,
    source: &str,
    sets: &[(String, String)],
) -> Result<Scenario, ScenarioError> {
    let file: ScenarioFile = toml::from_str(source).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        error::invalid(path, source, offset, None, e.message().to_owned())
    })?;
    resolve::Resolver::new(path, source, &file, sets)?.resolve(file)
}

#[cfg(test)]
mod tests;
