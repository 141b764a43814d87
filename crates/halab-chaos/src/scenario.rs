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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use halab_model::RestartPolicy;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The image name that means "halab's own busybox lab image, built locally".
pub const LAB_IMAGE: &str = "lab";

/// A scenario as written in its file (parameters not yet applied).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub params: BTreeMap<String, ParamDecl>,
    #[serde(default)]
    pub daemon: DaemonFile,
    pub service: ServiceFile,
    #[serde(rename = "phases")]
    pub phases: Vec<PhaseFile>,
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
    pub help: String,
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
    pub image: String,
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
    pub exit_code: i64,
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

fn lab_image() -> String {
    LAB_IMAGE.to_owned()
}

/// The counter the service keeps: a file in a directory bind-mounted from the host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterFile {
    /// Where the directory is mounted inside the container.
    pub dir: String,
    pub file: String,
    #[serde(default)]
    pub initial: u64,
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
    pub name: String,
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
    pub by_end_of: String,
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

/// A scenario with its parameters applied: everything the runner needs, typed.
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
    pub counter_dir: String,
    pub counter_file: String,
    pub counter_initial: u64,
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

const SIGKILL: i32 = 9;

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

/// Bad input in a scenario, or in the values given for it. Displays as `file:line:col: field: what`.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}:{line}:{col}: {field}{message}", path = .path.display(), field = field_prefix(.field))]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        field: Option<String>,
        message: String,
    },
    #[error("reading {path}: {source}", path = .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no scenario named `{name}` in {dir}; known scenarios: {known}", dir = .dir.display(), known = .known.join(", "))]
    Unknown {
        name: String,
        dir: PathBuf,
        known: Vec<String>,
    },
    #[error("--set {key}: scenario `{scenario}` has no parameter `{key}`; its parameters: {known}", known = if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
    UnknownParam {
        scenario: String,
        key: String,
        known: Vec<String>,
    },
    #[error("--set `{given}`: expected name=value")]
    BadSet { given: String },
    #[error("--set {key}={value}: parameter `{key}` takes {kind} (its default is {default})")]
    BadParamValue {
        key: String,
        value: String,
        kind: &'static str,
        default: String,
    },
}

fn field_prefix(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!("field `{f}`: "))
        .unwrap_or_default()
}

/// Finds a scenario by name in `dir` (`NAME` → `dir/NAME.toml`) or takes a path to a file.
pub fn locate(name_or_path: &str, dir: &Path) -> Result<PathBuf, ScenarioError> {
    let as_path = Path::new(name_or_path);
    if name_or_path.ends_with(".toml") || as_path.components().count() > 1 {
        return Ok(as_path.to_path_buf());
    }
    let path = dir.join(format!("{name_or_path}.toml"));
    if path.is_file() {
        return Ok(path);
    }
    Err(ScenarioError::Unknown {
        name: name_or_path.to_owned(),
        dir: dir.to_path_buf(),
        known: list(dir).into_iter().map(|(n, _)| n).collect(),
    })
}

/// The scenarios in `dir`: (name, path), sorted by name.
pub fn list(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_owned(), p)))
        .collect();
    found.sort();
    found
}

/// Parses `--set name=value` arguments.
pub fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>, ScenarioError> {
    sets.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(ScenarioError::BadSet { given: s.clone() }),
        })
        .collect()
}

/// Reads, parses and resolves a scenario file with the given overrides.
pub fn load(path: &Path, sets: &[(String, String)]) -> Result<Scenario, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
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
        invalid(path, source, offset, None, e.message().to_owned())
    })?;
    Resolver::new(path, source, &file, sets)?.resolve(file)
}

fn invalid(
    path: &Path,
    source: &str,
    offset: usize,
    field: Option<&str>,
    message: String,
) -> ScenarioError {
    let (line, col) = line_col(source, offset);
    ScenarioError::Invalid {
        path: path.to_path_buf(),
        line,
        col,
        field: field
            .map(str::to_owned)
            .or_else(|| field_at(source, offset)),
        message,
    }
}

/// 1-based line and column of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted key written at `offset` (`[table]` header + `key =` on that line), if any: TOML's
/// own messages say what is wrong but not always where in the document's structure.
fn field_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = source[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['))?;
    let table = source[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}

/// A value given with `--set` must be of the kind its default is: a number stays a number.
fn check_kind(key: &str, value: &str, default: &Scalar) -> Result<(), ScenarioError> {
    let kind = match default {
        Scalar::Int(_) if value.trim().parse::<i64>().is_err() => "a whole number",
        Scalar::Float(_) if value.trim().parse::<f64>().is_err() => "a number",
        _ => return Ok(()),
    };
    Err(ScenarioError::BadParamValue {
        key: key.to_owned(),
        value: value.to_owned(),
        kind,
        default: default.to_string(),
    })
}

/// Applies parameters to templated values, turning every problem into a located error.
struct Resolver<'a> {
    path: &'a Path,
    source: &'a str,
    values: BTreeMap<String, String>,
}

impl<'a> Resolver<'a> {
    fn new(
        path: &'a Path,
        source: &'a str,
        file: &ScenarioFile,
        sets: &[(String, String)],
    ) -> Result<Self, ScenarioError> {
        let mut values: BTreeMap<String, String> = file
            .params
            .iter()
            .map(|(k, d)| (k.clone(), d.default.to_string()))
            .collect();
        for (key, value) in sets {
            match values.get_mut(key) {
                Some(slot) => {
                    check_kind(key, value, &file.params[key].default)?;
                    *slot = value.clone();
                }
                None => {
                    return Err(ScenarioError::UnknownParam {
                        scenario: file.name.clone(),
                        key: key.clone(),
                        known: file.params.keys().cloned().collect(),
                    });
                }
            }
        }
        Ok(Resolver {
            path,
            source,
            values,
        })
    }

    fn resolve(&self, file: ScenarioFile) -> Result<Scenario, ScenarioError> {
        let s = &file.service;
        let service = Service {
            image: s.image.clone(),
            restart: self.typed(&s.restart, "service.restart")?,
            script: self.text(&s.script, "service.script")?,
            counter_dir: s.counter.dir.clone(),
            counter_file: s.counter.file.clone(),
            counter_initial: s.counter.initial,
            stop_timeout: s
                .stop_timeout
                .as_ref()
                .map(|t| self.typed(t, "service.stop_timeout"))
                .transpose()?,
            sim: match &s.sim {
                Some(sim) => Some(SimService {
                    runs_for_secs: self.seconds(&sim.runs_for, "service.sim.runs_for")?,
                    exit_code: sim.exit_code,
                    on_stop_signal: sim.on_stop_signal,
                }),
                None => None,
            },
        };
        let mut phases = Vec::with_capacity(file.phases.len());
        for (i, p) in file.phases.iter().enumerate() {
            let field = |f: &str| format!("phases[{i}].{f}");
            phases.push(Phase {
                name: p.name.clone(),
                action: p.action,
                until_starts: p
                    .until_starts
                    .as_ref()
                    .map(|v| self.typed(v, &field("until_starts")))
                    .transpose()?,
                hold_secs: p
                    .hold
                    .as_ref()
                    .map(|v| self.seconds(v, &field("hold")))
                    .transpose()?
                    .unwrap_or(0.0),
                timeout_secs: p
                    .timeout
                    .as_ref()
                    .map(|v| self.seconds(v, &field("timeout")))
                    .transpose()?
                    .unwrap_or(DEFAULT_PHASE_TIMEOUT_SECS),
                signal: match &p.signal {
                    Some(v) if p.action.sends_signal() => self.signal(v, &field("signal"))?,
                    Some(v) => {
                        return Err(self.error(
                            v,
                            &field("signal"),
                            format!("`{:?}` sends no signal", p.action),
                        ));
                    }
                    None => SIGKILL,
                },
            });
        }
        let c = &file.checks;
        let min_restarts = match &c.min_restarts {
            Some(m) => {
                if !phases.iter().any(|p| p.name == m.by_end_of) {
                    return Err(invalid(
                        self.path,
                        self.source,
                        m.count.span().start,
                        Some("checks.min_restarts.by_end_of"),
                        format!("no phase named `{}`", m.by_end_of),
                    ));
                }
                Some((
                    m.by_end_of.clone(),
                    self.typed(&m.count, "checks.min_restarts.count")?,
                ))
            }
            None => None,
        };
        let checks = Checks {
            counter_matches_starts: c.counter_matches_starts,
            counter_never_decreases: c.counter_never_decreases,
            min_restarts,
            running_after_daemon_start_within_secs: c
                .running_after_daemon_start
                .as_ref()
                .map(|w| self.seconds(&w.within, "checks.running_after_daemon_start.within"))
                .transpose()?,
            counter_frozen_while_daemon_down: c.counter_frozen_while_daemon_down,
            in_phase: c
                .in_phase
                .iter()
                .enumerate()
                .map(|(i, b)| self.in_phase(b, i, &phases))
                .collect::<Result<_, _>>()?,
            backoff: match &c.backoff {
                Some(b) => Some(Backoff {
                    phase: self.phase_name(&b.phase, "checks.backoff.phase", &phases)?,
                    first_ms: self.typed(&b.first_ms, "checks.backoff.first_ms")?,
                    tolerance_ms: self.typed(&b.tolerance_ms, "checks.backoff.tolerance_ms")?,
                }),
                None => None,
            },
        };
        Ok(Scenario {
            name: file.name,
            summary: file.summary,
            live_restore: file.daemon.live_restore,
            path: self.path.to_path_buf(),
            params: self.values.clone(),
            service,
            phases,
            checks,
        })
    }

    /// The value with every `{{name}}` replaced.
    fn text(&self, value: &Spanned<Templated>, field: &str) -> Result<String, ScenarioError> {
        let raw = &value.get_ref().0;
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw.as_str();
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(self.error(value, field, "`{{` without a closing `}}`".into()));
            };
            let name = after[..close].trim();
            let Some(v) = self.values.get(name) else {
                let known: Vec<_> = self.values.keys().map(String::as_str).collect();
                return Err(self.error(
                    value,
                    field,
                    format!(
                        "`{{{{{name}}}}}` names no parameter; declared under [params]: {}",
                        known.join(", ")
                    ),
                ));
            };
            out.push_str(v);
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn typed<T: FromStr>(&self, value: &Spanned<Templated>, field: &str) -> Result<T, ScenarioError>
    where
        T::Err: fmt::Display,
    {
        let text = self.text(value, field)?;
        text.trim().parse().map_err(|e| {
            let origin = if text == value.get_ref().0 {
                String::new()
            } else {
                format!(" (from `{}`)", value.get_ref().0)
            };
            self.error(value, field, format!("`{text}`{origin}: {e}"))
        })
    }

    fn seconds(&self, value: &Spanned<Templated>, field: &str) -> Result<f64, ScenarioError> {
        let secs: f64 = self.typed(value, field)?;
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(self.error(value, field, format!("{secs} is not a number of seconds")));
        }
        Ok(secs)
    }

    fn in_phase(
        &self,
        bound: &InPhaseFile,
        i: usize,
        phases: &[Phase],
    ) -> Result<InPhase, ScenarioError> {
        let field = |f: &str| format!("checks.in_phase[{i}].{f}");
        let action = bound.action.get_ref();
        if !EVENT_ACTIONS.contains(&action.as_str()) {
            return Err(invalid(
                self.path,
                self.source,
                bound.action.span().start,
                Some(&field("action")),
                format!(
                    "`{action}` is not an event action; expected one of {}",
                    EVENT_ACTIONS.join(", ")
                ),
            ));
        }
        let count = |v: &Option<Spanned<Templated>>, f: &str| {
            v.as_ref().map(|v| self.typed(v, &field(f))).transpose()
        };
        Ok(InPhase {
            phase: self.phase_name(&bound.phase, &field("phase"), phases)?,
            action: action.clone(),
            at_least: count(&bound.at_least, "at_least")?,
            at_most: count(&bound.at_most, "at_most")?,
        })
    }

    fn phase_name(
        &self,
        name: &Spanned<String>,
        field: &str,
        phases: &[Phase],
    ) -> Result<String, ScenarioError> {
        if phases.iter().any(|p| p.name == *name.get_ref()) {
            return Ok(name.get_ref().clone());
        }
        let known: Vec<&str> = phases.iter().map(|p| p.name.as_str()).collect();
        Err(invalid(
            self.path,
            self.source,
            name.span().start,
            Some(field),
            format!(
                "no phase named `{}`; the phases: {}",
                name.get_ref(),
                known.join(", ")
            ),
        ))
    }

    fn signal(&self, value: &Spanned<Templated>, field: &str) -> Result<i32, ScenarioError> {
        let text = self.text(value, field)?;
        parse_signal(&text).ok_or_else(|| {
            self.error(
                value,
                field,
                format!(
                    "`{text}` is not a signal: expected a number or a name such as KILL, TERM, HUP"
                ),
            )
        })
    }

    fn error(&self, value: &Spanned<Templated>, field: &str, message: String) -> ScenarioError {
        invalid(
            self.path,
            self.source,
            value.span().start,
            Some(field),
            message,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../scenarios/restart-always.toml");

    fn parse_seed(sets: &[(&str, &str)]) -> Result<Scenario, ScenarioError> {
        let sets: Vec<(String, String)> = sets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(Path::new("seed.toml"), SEED, &sets)
    }

    #[test]
    fn the_seed_is_the_2015_experiment() {
        let s = parse_seed(&[]).unwrap();
        assert_eq!(s.service.restart, RestartPolicy::Always);
        assert_eq!(
            s.service.script,
            "echo $(($(cat /tmp/executou) + 1)) > /tmp/executou; sleep 10"
        );
        assert_eq!(
            (
                s.service.counter_dir.as_str(),
                s.service.counter_file.as_str()
            ),
            ("/tmp", "executou")
        );
        assert_eq!(s.service.counter_initial, 0);
        let actions: Vec<PhaseAction> = s.phases.iter().map(|p| p.action).collect();
        assert_eq!(
            actions,
            [
                PhaseAction::Watch,
                PhaseAction::DaemonStop,
                PhaseAction::DaemonStart
            ]
        );
        assert_eq!(s.checks.min_restarts, Some(("natural-restarts".into(), 3)));
    }

    #[test]
    fn sets_reach_every_templated_value() {
        let s = parse_seed(&[("sleep", "1"), ("restarts", "5"), ("down", "2")]).unwrap();
        assert!(s.service.script.ends_with("sleep 1"));
        assert_eq!(s.phases[0].until_starts, Some(5));
        assert_eq!(s.phases[1].hold_secs, 2.0);
        assert_eq!(s.checks.min_restarts, Some(("natural-restarts".into(), 5)));
    }

    fn error_of(source: &str) -> String {
        parse(Path::new("x.toml"), source, &[])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_bad_policy_names_file_line_column_and_field() {
        let bad = SEED.replace("restart = \"always\"", "restart = \"alwayz\"");
        let line = bad.lines().position(|l| l.contains("alwayz")).unwrap() + 1;
        let err = error_of(&bad);
        assert!(err.starts_with(&format!("x.toml:{line}:")), "{err}");
        assert!(err.contains("field `service.restart`"), "{err}");
        assert!(err.contains("`alwayz` is not a restart policy"), "{err}");
    }

    #[test]
    fn an_unknown_field_is_located() {
        let bad = SEED.replace("[service]\n", "[service]\nrestrat = \"no\"\n");
        let line = bad.lines().position(|l| l.starts_with("restrat")).unwrap() + 1;
        let err = error_of(&bad);
        assert!(
            err.starts_with(&format!("x.toml:{line}:1: field `service.restrat`")),
            "{err}"
        );
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn an_undeclared_template_lists_the_parameters() {
        let bad = SEED.replace("sleep {{sleep}}", "sleep {{nap}}");
        let err = error_of(&bad);
        assert!(err.contains("field `service.script`"), "{err}");
        assert!(err.contains("`{{nap}}` names no parameter"), "{err}");
        assert!(err.contains("sleep"), "{err}");
    }

    #[test]
    fn a_set_of_the_wrong_kind_or_name_is_refused() {
        let err = parse_seed(&[("sleep", "soon")]).unwrap_err().to_string();
        assert!(
            err.contains("takes a whole number (its default is 10)"),
            "{err}"
        );
        let err = parse_seed(&[("slep", "1")]).unwrap_err().to_string();
        assert!(
            err.contains("no parameter `slep`") && err.contains("sleep"),
            "{err}"
        );
    }

    #[test]
    fn a_check_naming_a_missing_phase_is_refused() {
        let bad = SEED.replace("by_end_of = \"natural-restarts\"", "by_end_of = \"nope\"");
        assert!(error_of(&bad).contains("no phase named `nope`"));
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("KILL"), Some(9));
        assert_eq!(parse_signal("sigterm"), Some(15));
        assert_eq!(parse_signal("1"), Some(1));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("BOOM"), None);
    }

    #[test]
    fn in_phase_bounds_are_checked_against_phases_and_actions() {
        let with =
            |bound: &str| SEED.replace("[checks]\n", &format!("[checks]\nin_phase = [{bound}]\n"));
        let ok = parse(
            Path::new("x.toml"),
            &with("{ phase = \"daemon-up\", action = \"start\", at_least = 1 }"),
            &[],
        );
        let bound = &ok.unwrap().checks.in_phase[0];
        assert_eq!(
            (bound.phase.as_str(), bound.action.as_str(), bound.at_least),
            ("daemon-up", "start", Some(1))
        );
        let err = error_of(&with("{ phase = \"nope\", action = \"start\" }"));
        assert!(
            err.contains("field `checks.in_phase[0].phase`: no phase named `nope`"),
            "{err}"
        );
        let err = error_of(&with("{ phase = \"daemon-up\", action = \"started\" }"));
        assert!(err.contains("`started` is not an event action"), "{err}");
    }

    #[test]
    fn a_signal_on_a_phase_that_sends_none_is_refused() {
        let bad = SEED.replace("do = \"watch\"\n", "do = \"watch\"\nsignal = \"KILL\"\n");
        assert!(
            error_of(&bad).contains("sends no signal"),
            "{}",
            error_of(&bad)
        );
    }

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
