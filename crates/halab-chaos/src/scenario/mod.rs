//! The scenario file format (TOML), its parameters, and errors that point at file:line:col.
//!
//! A scenario names the services of one daemon (image, restart policy, what each one's
//! program does, the bind-mounted directory holding its counter), the phases a run goes
//! through — each a list of operations, or several lists played side by side (tracks) — and
//! the extra checks a user promises. Every run is judged first by the oracle (the model
//! replaying the run's operations); the checks come on top. Parameters declared under
//! `[params]` have defaults; the CLI overrides them with `--set name=value`, and `{{name}}` in
//! any string is replaced by the value.
//!
//! A scenario is named by its file: `example.toml` below is the scenario `example`.
//!
//! ```toml
//! [params]
//! sleep = { default = 10, help = "seconds the service sleeps after each increment" }
//! [services.critical]
//! restart = "always"
//! script = "echo $(($(cat /tmp/executou) + 1)) > /tmp/executou; sleep {{sleep}}"
//! program = { runs = [{ exit = 0, after = "{{sleep}}" }], on_stop_signal = "ignore" }
//! counter = { dir = "/tmp", file = "executou" }
//! [[phases]]
//! name = "watch"
//! do = [{ op = "wait", starts = 3, timeout = 60 }]
//! ```
//!
//! Every value is checked, with its parameters applied, before a run creates anything: its type,
//! its range ([`limits`]), and the paths ([`paths`]) — a scenario file is shared like a CI
//! config, and halab runs as root.

mod error;
pub mod generator;
pub mod healthcheck;
pub mod limits;
mod ops;
mod paths;
pub mod render;
mod resolve;
mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use halab_model::{
    ContainerSpec, DaemonOp, Op, RestartPolicy, ServiceBehaviour, SignalResponse, Workload,
};
use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use error::ScenarioError;
pub use healthcheck::HealthCheck;
pub use source::{list, locate, locate_all, suites};

/// The image name that means "halab's own busybox lab image, built locally".
pub const LAB_IMAGE: &str = "lab";

/// A scenario as written in its file (parameters not yet applied).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The file's own name (`restart-always` for `restart-always.toml`) when left out, which
    /// is how people write scenarios; a file that gives one must give that (see [`load`]).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub summary: Option<Spanned<String>>,
    #[serde(default)]
    pub params: BTreeMap<Spanned<String>, ParamDecl>,
    #[serde(default)]
    pub daemon: DaemonFile,
    pub services: Spanned<BTreeMap<Spanned<String>, ServiceFile>>,
    /// Required, unless `[chaos]` draws the run's schedule.
    #[serde(default)]
    pub phases: Option<Spanned<Vec<PhaseFile>>>,
    /// Faults drawn at random, reproducibly from a seed: the run's first phase.
    #[serde(default)]
    pub chaos: Option<Spanned<generator::ChaosFile>>,
    #[serde(default)]
    pub checks: ChecksFile,
    /// How a generated schedule was found and what it showed (written by `halab chaos suite`
    /// with a schedule it saves; `halab chaos replay` judges by its reference and says whether
    /// it shows the same again).
    #[serde(default)]
    pub found: Option<Spanned<FoundFile>>,
}

/// A `[found]` table, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoundFile {
    /// The command that found it.
    #[serde(default)]
    pub by: Option<Spanned<String>>,
    /// The model that judged it: `engine`, `docs`, `docs:RULE`, `mutant:NAME`.
    pub reference: Spanned<String>,
    /// `pass`, `fail` or `unknown`.
    pub verdict: Spanned<String>,
    /// The properties that failed, each `SUBJECT NAME` (`always events`).
    #[serde(default)]
    pub failed: Vec<Spanned<String>>,
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

/// One service: a container on the daemon.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// `lab` (halab's busybox image) or an image the daemon already has.
    #[serde(default = "lab_image")]
    pub image: Spanned<String>,
    pub restart: Spanned<Templated>,
    /// A shell script run with `sh -c`; without one, halab writes the script from `program`.
    pub script: Option<Spanned<Templated>>,
    /// What the program does, start after start: the model's (and the oracle's) description of
    /// the script, or the script itself when there is none.
    pub program: Spanned<ProgramFile>,
    /// Seconds `docker stop` waits before SIGKILL; engine default when absent.
    pub stop_timeout: Option<Spanned<Templated>>,
    /// A memory limit (MiB), needed for an `oom` operation.
    pub memory_mb: Option<Spanned<Templated>>,
    /// Started when the run begins (`false`: created only, a `docker-start` starts it).
    #[serde(default = "yes")]
    pub start: bool,
    #[serde(default)]
    pub counter: CounterFile,
    /// Docker's `HEALTHCHECK`: a command the daemon runs in the container, and when.
    #[serde(default)]
    pub healthcheck: Option<Spanned<healthcheck::HealthCheckFile>>,
}

/// What a service's program does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramFile {
    /// The n-th start does the n-th run, the last one repeating: `{ exit = CODE, after = S }`,
    /// `"until-told"` or `"forever"`.
    pub runs: Vec<Spanned<toml::Value>>,
    /// `ignore` (busybox `sh` as PID 1 without a trap, the default), `die`, or `{ exit = N }`
    /// (a trap that exits with N).
    #[serde(default)]
    pub on_stop_signal: Option<Spanned<toml::Value>>,
    /// Each start adds one to the counter (what halab's own programs do).
    #[serde(default = "yes")]
    pub counts: bool,
}

fn yes() -> bool {
    true
}

fn lab_image() -> Spanned<String> {
    Spanned::new(0..0, LAB_IMAGE.to_owned())
}

/// The service's directory on the host, bind-mounted into the container, and the counter
/// file in it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterFile {
    /// Where the directory is mounted inside the container.
    #[serde(default = "default_counter_dir")]
    pub dir: Spanned<String>,
    /// The file's name in it (a name, not a path: see `paths::counter_file_problem`).
    #[serde(default = "default_counter_file")]
    pub file: Spanned<String>,
    #[serde(default)]
    pub initial: Option<Spanned<u64>>,
}

impl Default for CounterFile {
    fn default() -> CounterFile {
        CounterFile {
            dir: default_counter_dir(),
            file: default_counter_file(),
            initial: None,
        }
    }
}

/// Where a service's directory is mounted when the file does not say.
pub const DEFAULT_COUNTER_DIR: &str = "/halab";
/// The counter file's name when the file does not say.
pub const DEFAULT_COUNTER_FILE: &str = "starts";

fn default_counter_dir() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_COUNTER_DIR.to_owned())
}

fn default_counter_file() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_COUNTER_FILE.to_owned())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseFile {
    pub name: Spanned<String>,
    /// Operations, one after another.
    #[serde(rename = "do", default)]
    pub steps: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    /// Lists of operations played side by side, one list per track; an operation in a track
    /// named after a service is aimed at that service unless it says otherwise.
    #[serde(default)]
    pub tracks: Option<Spanned<BTreeMap<String, Vec<Spanned<toml::Value>>>>>,
    /// A drawn or generated schedule: an operation the daemon refuses is an outcome the oracle
    /// judges (`answers`), not a problem of the phase.
    #[serde(default)]
    pub drawn: bool,
}

/// The extra checks a user promises, on top of the oracle.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksFile {
    #[serde(default)]
    pub counter_matches_starts: bool,
    #[serde(default)]
    pub counter_never_decreases: bool,
    #[serde(default)]
    pub counter_frozen_while_daemon_down: bool,
    pub running_after_daemon_start: Option<WithinFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithinFile {
    /// Seconds.
    pub within: Spanned<Templated>,
    /// The service it is about (every service when absent).
    pub service: Option<Spanned<String>>,
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
/// Kept beside a chaos run's history (`scenario.json`) so that `halab report` can judge it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub summary: String,
    /// Run the daemon with `--live-restore`.
    pub live_restore: bool,
    pub path: PathBuf,
    pub params: BTreeMap<String, String>,
    /// By name.
    pub services: Vec<Service>,
    pub phases: Vec<Phase>,
    pub checks: Checks,
    /// The `[chaos]` table: a schedule is drawn from it for each run (see [`crate::chaos`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<crate::chaos::Generator>,
    /// How the schedule was found, when a suite saved it (see [`Found`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<Found>,
}

/// What a saved schedule showed when it was found: the reference that judged it, its verdict
/// and the properties that failed. A replay is judged by the same reference and compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    pub by: Option<String>,
    pub reference: halab_model::Reference,
    pub verdict: crate::Verdict,
    /// `SUBJECT NAME` of each failed property, sorted.
    pub failed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    /// `[a-z0-9][a-z0-9-]*`: it names the container, its directory and its label.
    pub name: String,
    pub image: String,
    pub restart: RestartPolicy,
    /// The scenario's own script; `None`: halab writes one from `program`.
    pub script: Option<String>,
    pub program: ServiceBehaviour,
    pub on_stop_signal: SignalResponse,
    /// Seconds, within [`limits::STOP_TIMEOUT_SECS`].
    pub stop_timeout: Option<i64>,
    pub memory_mb: Option<u64>,
    /// Started when the run begins.
    pub start: bool,
    /// An absolute path in the container (see `paths::container_dir_problem`).
    pub counter_dir: String,
    /// A file name, created in the service's own directory (see `paths::counter_file_problem`).
    pub counter_file: String,
    pub counter_initial: u64,
    /// The daemon's health check of the container, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
}

impl Service {
    /// The container's settings as the model takes them.
    pub fn spec(&self) -> ContainerSpec {
        ContainerSpec {
            policy: self.restart,
            stop_signal: None,
            stop_timeout_s: self.stop_timeout,
            workload: Workload {
                on_stop_signal: self.on_stop_signal,
                on_other_signal: SignalResponse::Ignore,
            },
            health: self.healthcheck.as_ref().map(HealthCheck::model),
        }
    }

    /// Whether the service keeps a counter the checks can read.
    pub fn counts(&self) -> bool {
        self.program.counts
    }
}

/// A phase: its operations, in one or more tracks played side by side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub tracks: Vec<Track>,
    /// Drawn at random (a `[chaos]` schedule): an operation the daemon refuses (a pause of a
    /// container that is not running, say) is an outcome the oracle judges against the
    /// model's answer, not a problem of the phase.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drawn: bool,
}

/// Operations done one after another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Track {
    /// `None` for a phase's single `do` list.
    pub name: Option<String>,
    pub ops: Vec<Op>,
}

impl Phase {
    /// Every operation of the phase, track by track.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.tracks.iter().flat_map(|t| &t.ops)
    }

    /// Whether the phase stops or starts the daemon (only done to daemons halab owns).
    pub fn touches_daemon(&self) -> bool {
        self.ops().any(|op| matches!(op, Op::Daemon(_)))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checks {
    pub counter_matches_starts: bool,
    pub counter_never_decreases: bool,
    pub counter_frozen_while_daemon_down: bool,
    /// Seconds, and the service (every service when `None`).
    pub running_after_daemon_start: Option<(f64, Option<String>)>,
}

impl Scenario {
    /// The services' names, in the scenario's order.
    pub fn service_names(&self) -> Vec<String> {
        self.services.iter().map(|s| s.name.clone()).collect()
    }

    pub fn touches_daemon(&self) -> bool {
        self.phases.iter().any(Phase::touches_daemon)
    }

    /// The daemon operations the scenario does, in order.
    pub fn daemon_ops(&self) -> impl Iterator<Item = DaemonOp> + '_ {
        self.phases
            .iter()
            .flat_map(Phase::ops)
            .filter_map(|op| match op {
                Op::Daemon(op) => Some(*op),
                _ => None,
            })
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

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
    let scenario = parse(path, &source, sets)?;
    same_name_as_the_file(path, &source)?;
    Ok(scenario)
}

/// A scenario is named by its file: `halab scenario run NAME` finds `NAME.toml`, and the run,
/// its containers' labels and its report carry that name. A `name` field may only repeat it.
fn same_name_as_the_file(path: &Path, source: &str) -> Result<(), ScenarioError> {
    #[derive(Deserialize)]
    struct NameOnly {
        name: Option<Spanned<String>>,
    }
    let Ok(NameOnly { name: Some(name) }) = toml::from_str::<NameOnly>(source) else {
        return Ok(());
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    if stem.as_deref() == Some(name.get_ref().as_str()) {
        return Ok(());
    }
    Err(error::invalid(
        path,
        source,
        name.span().start,
        Some("name"),
        format!(
            "the scenario is named `{}` but its file is `{}`: a scenario is named by its \
             file (what `halab scenario run` takes); leave `name` out or make it the file's name",
            crate::text::one_line(name.get_ref()),
            path.file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default()
        ),
    ))
}

/// What a file in halab's first format has and this one does not.
#[derive(Debug, Default, Deserialize)]
struct OldFormat {
    service: Option<Spanned<toml::Value>>,
}

/// Parses and resolves scenario text; `path` is only used in errors and the result.
pub fn parse(
    path: &Path,
    source: &str,
    sets: &[(String, String)],
) -> Result<Scenario, ScenarioError> {
    let located = |e: toml::de::Error| {
        let offset = e.span().map_or(0, |s| s.start);
        error::invalid(path, source, offset, None, e.message().to_owned())
    };
    if let Some(service) = toml::from_str::<OldFormat>(source)
        .map_err(located)?
        .service
    {
        return Err(error::invalid(
            path,
            source,
            service.span().start,
            Some("service"),
            "this file is in halab's first scenario format, which has changed: a scenario now \
             has one table per service, `[services.NAME]`, with a `program` that says what it \
             does (`[service.sim]` became `program = { runs = [{ exit = 0, after = SECONDS }] }`), \
             and a phase's `do` is a list of operations (`do = [\"daemon-stop\", { op = \"wait\", \
             for = 3 }]`); see the book's Scenario files page"
                .into(),
        ));
    }
    let file: ScenarioFile = toml::from_str(source).map_err(located)?;
    resolve::Resolver::new(path, source, &file, sets)?.resolve(file)
}

#[cfg(test)]
pub(crate) mod tests;
