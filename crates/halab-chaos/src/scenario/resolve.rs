//! From a parsed file to a [`Scenario`]: parameters applied, every value typed and checked
//! against its range, every problem a located error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use halab_model::RestartPolicy;
use toml::Spanned;

use super::error::invalid;
use super::limits::{self, MAX_NAME_CHARS, MAX_SECONDS, MAX_SUMMARY_CHARS};
use super::{
    Backoff, Checks, DEFAULT_PHASE_TIMEOUT_SECS, EVENT_ACTIONS, InPhase, InPhaseFile, Phase,
    Scalar, Scenario, ScenarioError, ScenarioFile, Service, SimService, Templated, paths,
};
use crate::text;

const SIGKILL: i32 = 9;

/// Applies parameters to templated values, turning every problem into a located error.
pub(super) struct Resolver<'a> {
    path: &'a Path,
    source: &'a str,
    values: BTreeMap<String, String>,
    /// The parameters given with `--set`, so that an error can name the flag that caused it.
    from_flags: BTreeSet<String>,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(
        path: &'a Path,
        source: &'a str,
        file: &ScenarioFile,
        sets: &[(String, String)],
    ) -> Result<Self, ScenarioError> {
        let resolver = Resolver {
            path,
            source,
            values: BTreeMap::new(),
            from_flags: BTreeSet::new(),
        };
        let mut values = BTreeMap::new();
        for (key, decl) in &file.params {
            resolver.name(key, "params", MAX_NAME_CHARS)?;
            if let Some(help) = &decl.help {
                resolver.words(help, &format!("params.{}.help", key.get_ref()))?;
            }
            values.insert(key.get_ref().clone(), decl.default.to_string());
        }
        let mut from_flags = BTreeSet::new();
        for (key, value) in sets {
            let Some(decl) = file
                .params
                .iter()
                .find_map(|(k, d)| (k.get_ref() == key).then_some(d))
            else {
                return Err(ScenarioError::UnknownParam {
                    scenario: file.name.get_ref().clone(),
                    key: key.clone(),
                    known: values.keys().cloned().collect(),
                });
            };
            check_kind(key, value, &decl.default)?;
            values.insert(key.clone(), value.clone());
            from_flags.insert(key.clone());
        }
        Ok(Resolver {
            values,
            from_flags,
            ..resolver
        })
    }

    pub(super) fn resolve(&self, file: ScenarioFile) -> Result<Scenario, ScenarioError> {
        let name = self.name(&file.name, "name", MAX_NAME_CHARS)?;
        let summary = match &file.summary {
            Some(summary) => self.words(summary, "summary")?,
            None => String::new(),
        };
        let service = self.service(&file)?;
        let phases = self.phases(&file)?;
        let checks = self.checks(&file, &phases)?;
        Ok(Scenario {
            name,
            summary,
            live_restore: file.daemon.live_restore,
            path: self.path.to_path_buf(),
            params: self.values.clone(),
            service,
            phases,
            checks,
        })
    }

    fn service(&self, file: &ScenarioFile) -> Result<Service, ScenarioError> {
        let s = &file.service;
        let image = s.image.get_ref();
        if image.is_empty() || image.len() > 255 || image.chars().any(text::is_unsafe) {
            return Err(self.at(
                &s.image,
                "service.image",
                format!(
                    "`{}` is not an image name (1 to 255 printable characters)",
                    text::one_line(image)
                ),
            ));
        }
        let restart: RestartPolicy = self.typed(&s.restart, "service.restart")?;
        if let RestartPolicy::OnFailure { max_retries } = restart
            && max_retries > limits::MAX_ON_FAILURE_RETRIES
        {
            return Err(self.at(
                &s.restart,
                "service.restart",
                format!(
                    "on-failure:{max_retries}: at most {} retries (0 means no maximum)",
                    limits::MAX_ON_FAILURE_RETRIES
                ),
            ));
        }
        let script = self.text(&s.script, "service.script")?;
        if script.len() > limits::MAX_SCRIPT_BYTES {
            return Err(self.at(
                &s.script,
                "service.script",
                format!(
                    "the script is {} bytes long with its parameters applied; at most {}",
                    script.len(),
                    limits::MAX_SCRIPT_BYTES
                ),
            ));
        }
        let counter = &s.counter;
        if let Some(problem) = paths::container_dir_problem(counter.dir.get_ref()) {
            return Err(self.at(&counter.dir, "service.counter.dir", problem));
        }
        if let Some(problem) = paths::counter_file_problem(counter.file.get_ref()) {
            return Err(self.at(&counter.file, "service.counter.file", problem));
        }
        let counter_initial = match &counter.initial {
            Some(initial) if *initial.get_ref() > limits::MAX_COUNTER_INITIAL => {
                return Err(self.at(
                    initial,
                    "service.counter.initial",
                    out_of_range(initial.get_ref(), 0, limits::MAX_COUNTER_INITIAL, ""),
                ));
            }
            Some(initial) => *initial.get_ref(),
            None => 0,
        };
        let (lo, hi) = limits::STOP_TIMEOUT_SECS;
        let stop_timeout = s
            .stop_timeout
            .as_ref()
            .map(|t| self.int_in(t, "service.stop_timeout", lo, hi, " s"))
            .transpose()?;
        let sim = match &s.sim {
            Some(sim) => Some(SimService {
                runs_for_secs: self.seconds(&sim.runs_for, "service.sim.runs_for")?,
                exit_code: match &sim.exit_code {
                    Some(code) => {
                        let (lo, hi) = limits::EXIT_CODE;
                        if !(lo..=hi).contains(code.get_ref()) {
                            return Err(self.at(
                                code,
                                "service.sim.exit_code",
                                out_of_range(code.get_ref(), lo, hi, ""),
                            ));
                        }
                        *code.get_ref()
                    }
                    None => 0,
                },
                on_stop_signal: sim.on_stop_signal,
            }),
            None => None,
        };
        Ok(Service {
            image: image.clone(),
            restart,
            script,
            counter_dir: counter.dir.get_ref().clone(),
            counter_file: counter.file.get_ref().clone(),
            counter_initial,
            stop_timeout,
            sim,
        })
    }

    fn phases(&self, file: &ScenarioFile) -> Result<Vec<Phase>, ScenarioError> {
        let list = file.phases.get_ref();
        let (min, max) = limits::PHASES;
        if list.len() < min || list.len() > max {
            return Err(self.at(
                &file.phases,
                "phases",
                format!(
                    "{} phases; a scenario has {min} to {max} (with none, a run would check nothing)",
                    list.len()
                ),
            ));
        }
        let mut phases: Vec<Phase> = Vec::with_capacity(list.len());
        for (i, p) in list.iter().enumerate() {
            let field = |f: &str| format!("phases[{i}].{f}");
            let name = self.name(&p.name, &field("name"), MAX_NAME_CHARS)?;
            if let Some(first) = list[..i].iter().find(|q| *q.name.get_ref() == name) {
                let (line, _) = super::error::line_col(self.source, first.name.span().start);
                return Err(self.at(
                    &p.name,
                    &field("name"),
                    format!(
                        "a phase named `{name}` already exists (line {line}): phase names must be unique, checks name phases by them"
                    ),
                ));
            }
            let (lo, hi) = limits::UNTIL_STARTS;
            phases.push(Phase {
                name,
                action: p.action,
                until_starts: p
                    .until_starts
                    .as_ref()
                    .map(|v| self.int_in(v, &field("until_starts"), lo, hi, ""))
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
                        return Err(self.at(
                            v,
                            &field("signal"),
                            format!("`{:?}` sends no signal", p.action),
                        ));
                    }
                    None => SIGKILL,
                },
            });
        }
        Ok(phases)
    }

    fn checks(&self, file: &ScenarioFile, phases: &[Phase]) -> Result<Checks, ScenarioError> {
        let c = &file.checks;
        let count = |v: &Spanned<Templated>, field: &str| {
            self.int_in(v, field, 0, limits::MAX_EVENT_COUNT, "")
        };
        let min_restarts = match &c.min_restarts {
            Some(m) => Some((
                self.phase_name(&m.by_end_of, "checks.min_restarts.by_end_of", phases)?,
                count(&m.count, "checks.min_restarts.count")?,
            )),
            None => None,
        };
        let backoff = match &c.backoff {
            Some(b) => {
                let (lo, hi) = limits::BACKOFF_FIRST_MS;
                let (tlo, thi) = limits::BACKOFF_TOLERANCE_MS;
                Some(Backoff {
                    phase: self.phase_name(&b.phase, "checks.backoff.phase", phases)?,
                    first_ms: self.int_in(&b.first_ms, "checks.backoff.first_ms", lo, hi, " ms")?,
                    tolerance_ms: self.int_in(
                        &b.tolerance_ms,
                        "checks.backoff.tolerance_ms",
                        tlo,
                        thi,
                        " ms",
                    )?,
                })
            }
            None => None,
        };
        Ok(Checks {
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
                .map(|(i, b)| self.in_phase(b, i, phases))
                .collect::<Result<_, _>>()?,
            backoff,
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
                return Err(self.at(value, field, "`{{` without a closing `}}`".into()));
            };
            let name = after[..close].trim();
            let Some(v) = self.values.get(name) else {
                let known: Vec<_> = self.values.keys().map(String::as_str).collect();
                return Err(self.at(
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

    /// Where a resolved value came from, when it is not what the file says: ` (from
    /// `{{sleep}}`, given as --set sleep=…)`.
    fn origin(&self, value: &Spanned<Templated>, resolved: &str) -> String {
        let raw = &value.get_ref().0;
        if raw == resolved {
            return String::new();
        }
        let flags: Vec<String> = self
            .from_flags
            .iter()
            .filter(|name| raw.contains(&format!("{{{{{name}}}}}")))
            .map(|name| format!("--set {name}={}", self.values[name]))
            .collect();
        if flags.is_empty() {
            format!(" (from `{raw}`)")
        } else {
            format!(" (from `{raw}`, given as {})", flags.join(", "))
        }
    }

    fn typed<T: FromStr>(&self, value: &Spanned<Templated>, field: &str) -> Result<T, ScenarioError>
    where
        T::Err: fmt::Display,
    {
        let text = self.text(value, field)?;
        text.trim().parse().map_err(|e: T::Err| {
            let origin = self.origin(value, &text);
            let e = e.to_string();
            // Some errors quote the value themselves (a restart policy's does).
            let message = if e.contains(text.trim()) {
                format!("{e}{origin}")
            } else {
                format!("`{text}`{origin}: {e}")
            };
            self.at(value, field, message)
        })
    }

    /// A whole number from `lo` to `hi`.
    fn int_in<T>(
        &self,
        value: &Spanned<Templated>,
        field: &str,
        lo: T,
        hi: T,
        unit: &str,
    ) -> Result<T, ScenarioError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let n: T = self.typed(value, field)?;
        if n < lo || n > hi {
            let text = self.text(value, field)?;
            let origin = self.origin(value, &text);
            let message = out_of_range(&n, lo, hi, unit);
            return Err(self.at(value, field, format!("{message}{origin}")));
        }
        Ok(n)
    }

    /// Seconds, from 0 to [`MAX_SECONDS`].
    fn seconds(&self, value: &Spanned<Templated>, field: &str) -> Result<f64, ScenarioError> {
        let secs: f64 = self.typed(value, field)?;
        if !(secs.is_finite() && (0.0..=MAX_SECONDS).contains(&secs)) {
            let text = self.text(value, field)?;
            let origin = self.origin(value, &text);
            return Err(self.at(
                value,
                field,
                format!("{secs} s is not from 0 to {MAX_SECONDS} s (a day){origin}"),
            ));
        }
        Ok(secs)
    }

    /// A name: 1 to `max` characters, none of which would act on a terminal.
    fn name(
        &self,
        value: &Spanned<String>,
        field: &str,
        max: usize,
    ) -> Result<String, ScenarioError> {
        let name = value.get_ref();
        let chars = name.chars().count();
        let problem = if chars == 0 {
            Some("a name cannot be empty".to_owned())
        } else if chars > max {
            Some(format!(
                "the name is {chars} characters long; at most {max}"
            ))
        } else if name.chars().any(text::is_unsafe) {
            Some(format!(
                "`{}` contains control characters; a name is printed to terminals",
                text::one_line(name)
            ))
        } else {
            None
        };
        match problem {
            Some(problem) => Err(self.at(value, field, problem)),
            None => Ok(name.clone()),
        }
    }

    /// Free text shown to people: at most [`MAX_SUMMARY_CHARS`], no control characters.
    fn words(&self, value: &Spanned<String>, field: &str) -> Result<String, ScenarioError> {
        let words = value.get_ref();
        if words.chars().count() > MAX_SUMMARY_CHARS {
            return Err(self.at(
                value,
                field,
                format!("at most {MAX_SUMMARY_CHARS} characters"),
            ));
        }
        if words.chars().any(text::is_unsafe) {
            return Err(self.at(
                value,
                field,
                format!(
                    "`{}` contains control characters, which would act on a terminal",
                    text::one_line(words)
                ),
            ));
        }
        Ok(words.clone())
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
            return Err(self.at(
                &bound.action,
                &field("action"),
                format!(
                    "`{}` is not an event action; expected one of {}",
                    text::one_line(action),
                    EVENT_ACTIONS.join(", ")
                ),
            ));
        }
        let count = |v: &Option<Spanned<Templated>>, f: &str| {
            v.as_ref()
                .map(|v| self.int_in(v, &field(f), 0, limits::MAX_EVENT_COUNT, ""))
                .transpose()
        };
        let (at_least, at_most) = (
            count(&bound.at_least, "at_least")?,
            count(&bound.at_most, "at_most")?,
        );
        if let (Some(least), Some(most), Some(value)) = (at_least, at_most, &bound.at_most)
            && least > most
        {
            return Err(self.at(
                value,
                &field("at_most"),
                format!("at_most {most} is less than at_least {least}: no count passes"),
            ));
        }
        Ok(InPhase {
            phase: self.phase_name(&bound.phase, &field("phase"), phases)?,
            action: action.clone(),
            at_least,
            at_most,
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
        Err(self.at(
            name,
            field,
            format!(
                "no phase named `{}`; the phases: {}",
                text::one_line(name.get_ref()),
                known.join(", ")
            ),
        ))
    }

    fn signal(&self, value: &Spanned<Templated>, field: &str) -> Result<i32, ScenarioError> {
        let text = self.text(value, field)?;
        super::parse_signal(&text).ok_or_else(|| {
            self.at(
                value,
                field,
                format!(
                    "`{}` is not a signal: expected a number from 1 to 64 or a name such as KILL, TERM, HUP",
                    text::one_line(&text)
                ),
            )
        })
    }

    /// An error at `value`'s place in the file. A value with no place (a default) is put at
    /// the start of the file.
    fn at<T>(&self, value: &Spanned<T>, field: &str, message: String) -> ScenarioError {
        invalid(
            self.path,
            self.source,
            value.span().start,
            Some(field),
            message,
        )
    }
}

/// `n` is not from `lo` to `hi`.
fn out_of_range<T: fmt::Display>(n: &T, lo: T, hi: T, unit: &str) -> String {
    format!("{n}{unit} is out of range: from {lo} to {hi}{unit}")
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
