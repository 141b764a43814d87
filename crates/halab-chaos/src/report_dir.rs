//! A chaos run's report directory: what it leaves for people and for CI, written as it goes.
//!
//! - `scenario.json`: the scenario as played, its drawn schedule included (what `halab report`
//!   judges with), and `schedule.toml`, the schedule as a scenario file spells it;
//! - `started.json`: the run's id, daemon and engine, once the daemon is ready;
//! - `history.jsonl`: one history entry per line, appended as each is recorded, so a runner
//!   killed with SIGKILL leaves a valid prefix (a torn last line is left out when read);
//! - at the end: `history.jsonl` again, whole; `result.json` (the report); `report.html`; and
//!   the JUnit file where asked.
//!
//! [`ReportDir::load`] reads any of it back, a killed run's prefix included, for
//! [`crate::judge_again`]: what the prefix cannot decide is `unknown`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use halab_model::{Entry, Happening, History, Nanos};

use crate::chaos::Schedule;
use crate::report::{PhaseReport, Report};
use crate::runner::Started;
use crate::scenario::Scenario;
use crate::view::View;

pub const SCENARIO: &str = "scenario.json";
pub const SCHEDULE: &str = "schedule.toml";
pub const STARTED: &str = "started.json";
pub const HISTORY: &str = "history.jsonl";
pub const RESULT: &str = "result.json";
pub const HTML: &str = "report.html";

#[derive(Debug, thiserror::Error)]
pub enum ReportDirError {
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path} holds a run already (its {HISTORY}): a report directory is never written over; \
         give a new one with --report DIR",
        path = .path.display()
    )]
    Taken { path: PathBuf },
    #[error("{path} is not a halab report directory: it has no {what}", path = .path.display())]
    NotAReport { path: PathBuf, what: &'static str },
    #[error("{path}:{line}: {message}", path = .path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// A report directory being written.
#[derive(Debug, Clone)]
pub struct ReportDir {
    path: PathBuf,
}

/// What a report directory holds, read back.
pub struct Loaded {
    pub scenario: Scenario,
    /// `None` when the run was killed before its daemon was ready.
    pub started: Option<Started>,
    pub history: History,
    /// Whether the run ended and wrote its report (else the history is a prefix).
    pub finished: bool,
    /// The phases as the run reported them, else as far as the history shows them.
    pub phases: Vec<PhaseReport>,
    /// A torn last line left out (the runner killed while writing it).
    pub torn_line: bool,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ReportDirError + '_ {
    move |source| ReportDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ReportDir {
    /// Makes `path` (and its parents) for a new run; one that holds a run already is refused.
    pub fn create(path: &Path) -> Result<ReportDir, ReportDirError> {
        if path.join(HISTORY).exists() {
            return Err(ReportDirError::Taken {
                path: path.to_path_buf(),
            });
        }
        fs::create_dir_all(path).map_err(io_at(path))?;
        Ok(ReportDir {
            path: path.to_path_buf(),
        })
    }

    /// An existing report directory, to write its report again.
    pub fn existing(path: &Path) -> ReportDir {
        ReportDir {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes what the run will play, before it begins.
    pub fn write_plan(
        &self,
        scenario: &Scenario,
        schedule: Option<&Schedule>,
    ) -> Result<(), ReportDirError> {
        self.write(SCENARIO, &to_json(scenario))?;
        if let Some(schedule) = schedule {
            let text = format!(
                "# The schedule drawn from the `[chaos]` table of {} for seed {}: {} faults in {} s.\n\
                 # As a phase of a scenario file: put it in place of `[chaos]` to play it as it is.\n{}",
                scenario.path.display(),
                schedule.seed,
                schedule.faults(),
                schedule.duration_ms as f64 / 1000.0,
                schedule.to_toml()
            );
            self.write(SCHEDULE, &text)?;
        }
        Ok(())
    }

    /// A view that appends every entry to `history.jsonl` as it arrives, then shows it on
    /// `inner`.
    pub fn stream(&self, inner: Box<dyn View>) -> Result<HistoryStream, ReportDirError> {
        let path = self.path.join(HISTORY);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
        Ok(HistoryStream {
            inner,
            dir: self.clone(),
            file: Some(file),
            failed: None,
        })
    }

    /// Writes the finished run's files: the whole history, `result.json`, `report.html`, and
    /// the JUnit XML to `junit` if given.
    pub fn finish(&self, report: &Report, junit: Option<&Path>) -> Result<(), ReportDirError> {
        let mut lines = String::new();
        for entry in report.history.entries() {
            lines.push_str(&serde_json::to_string(entry).unwrap_or_default());
            lines.push('\n');
        }
        self.write(HISTORY, &lines)?;
        self.write(RESULT, &to_json(report))?;
        self.render(report, junit)
    }

    /// Writes the reports people and CI read: `report.html`, and the JUnit XML to `junit`.
    pub fn render(&self, report: &Report, junit: Option<&Path>) -> Result<(), ReportDirError> {
        self.write(HTML, &crate::html::html(report))?;
        if let Some(junit) = junit {
            write_atomically(junit, &crate::junit::junit(report))?;
        }
        Ok(())
    }

    /// Reads a report directory back: a finished run's, or what a killed one left.
    pub fn load(path: &Path) -> Result<Loaded, ReportDirError> {
        let read = |name: &'static str| -> Result<String, ReportDirError> {
            let file = path.join(name);
            fs::read_to_string(&file).map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => ReportDirError::NotAReport {
                    path: path.to_path_buf(),
                    what: name,
                },
                _ => ReportDirError::Io { path: file, source },
            })
        };
        let parse = |name: &'static str, text: &str| {
            let bytes = text.len();
            move |e: serde_json::Error| ReportDirError::Corrupt {
                path: path.join(name),
                line: e.line(),
                message: format!("{e} (in {bytes} bytes)"),
            }
        };
        let text = read(SCENARIO)?;
        let scenario: Scenario = serde_json::from_str(&text).map_err(parse(SCENARIO, &text))?;
        let started = match read(STARTED) {
            Ok(text) => Some(serde_json::from_str(&text).map_err(parse(STARTED, &text))?),
            Err(ReportDirError::NotAReport { .. }) => None,
            Err(e) => return Err(e),
        };
        let text = read(HISTORY)?;
        let (history, torn_line) = read_history(&path.join(HISTORY), &text)?;
        let finished = path.join(RESULT).exists();
        let phases = match finished.then(|| read(RESULT)).transpose()? {
            Some(result) => {
                #[derive(serde::Deserialize)]
                struct Phases {
                    phases: Vec<PhaseReport>,
                }
                serde_json::from_str::<Phases>(&result)
                    .map_err(parse(RESULT, &result))?
                    .phases
            }
            None => phases_seen(&history),
        };
        Ok(Loaded {
            scenario,
            started,
            history,
            finished,
            phases,
            torn_line,
        })
    }

    fn write(&self, name: &str, text: &str) -> Result<(), ReportDirError> {
        write_atomically(&self.path.join(name), text)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our own types, with string keys: serialising them cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// Writes `path` whole or not at all: a reader never sees half a file.
fn write_atomically(path: &Path, text: &str) -> Result<(), ReportDirError> {
    let staged = path.with_extension("new");
    fs::write(&staged, text)
        .and_then(|()| fs::rename(&staged, path))
        .map_err(io_at(path))
}

/// The entries of a `history.jsonl`. Only its last line may be torn (the runner killed in the
/// middle of writing it); a bad line before it is corruption.
fn read_history(path: &Path, text: &str) -> Result<(History, bool), ReportDirError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::with_capacity(lines.len());
    let mut torn = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => torn = true,
            Err(e) => {
                return Err(ReportDirError::Corrupt {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok((History::from(entries), torn))
}

/// The phases a history shows begun, each lasting until the next began (or the history ends).
fn phases_seen(history: &History) -> Vec<PhaseReport> {
    let begun: Vec<(String, Nanos)> = history
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Phase { name } => Some((name.clone(), e.at)),
            _ => None,
        })
        .collect();
    let end = history.entries().last().map_or(Nanos(0), |e| e.at);
    begun
        .iter()
        .enumerate()
        .map(|(i, (name, at))| PhaseReport {
            name: name.clone(),
            skipped: false,
            duration_ms: begun
                .get(i + 1)
                .map_or(end, |next| next.1)
                .millis_since(*at),
            problem: None,
        })
        .collect()
}

/// The view that streams the history to its report directory (see [`ReportDir::stream`]).
pub struct HistoryStream {
    inner: Box<dyn View>,
    dir: ReportDir,
    file: Option<File>,
    /// The first write that failed: the run goes on, and the command reports it at the end.
    failed: Option<ReportDirError>,
}

impl HistoryStream {
    /// Whether every entry reached the file.
    pub fn into_result(self) -> Result<(), ReportDirError> {
        self.failed.map_or(Ok(()), Err)
    }

    fn fail(&mut self, error: ReportDirError) {
        self.file = None;
        self.failed.get_or_insert(error);
    }
}

impl View for HistoryStream {
    fn note(&mut self, line: &str) {
        self.inner.note(line);
    }

    fn phase(&mut self, index: usize, count: usize, name: &str, skipped: bool) {
        self.inner.phase(index, count, name, skipped);
    }

    fn entries(&mut self, entries: &[Entry], start: Nanos) {
        if let Some(file) = &mut self.file {
            let mut lines = String::new();
            for entry in entries {
                lines.push_str(&serde_json::to_string(entry).unwrap_or_default());
                lines.push('\n');
            }
            // One write per batch, straight to the kernel (a `File` has no buffer of its own):
            // what is written survives the process being killed.
            if let Err(source) = file.write_all(lines.as_bytes()) {
                let path = self.dir.path.join(HISTORY);
                self.fail(ReportDirError::Io { path, source });
            }
        }
        self.inner.entries(entries, start);
    }

    fn started(&mut self, run: &Started) {
        if let Err(e) = self.dir.write(STARTED, &to_json(run)) {
            self.fail(e);
        }
        self.inner.started(run);
    }
}

#[cfg(test)]
mod tests;
