//! From a parsed file to a [`Scenario`]: parameters applied, every value typed and checked
//! against its range, every problem a located error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use halab_model::{RestartPolicy, Run, ServiceBehaviour, SignalResponse};
use toml::Spanned;

use super::error::invalid;
use super::limits::{self, MAX_NAME_CHARS, MAX_SECONDS, MAX_SUMMARY_CHARS};
use super::{
    Checks, Phase, ProgramFile, Scalar, Scenario, ScenarioError, ScenarioFile, Service,
    ServiceFile, Templated, Track, ops, paths,
};
use crate::text;

/// A value of the file to resolve: its text as written (maybe with `{{param}}` in it) and
/// where it is.
pub(super) struct Raw<'v> {
    pub(super) text: std::borrow::Cow<'v, str>,
    pub(super) span: Range<usize>,
}

impl<'v> From<&'v Spanned<Templated>> for Raw<'v> {
    fn from(value: &'v Spanned<Templated>) -> Raw<'v> {
        Raw {
            text: value.get_ref().0.as_str().into(),
            span: value.span(),
        }
    }
}

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
                    scenario: file
                        .name
                        .as_ref()
                        .map_or_else(|| stem(path), |n| n.get_ref().clone()),
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
        let name = match &file.name {
            Some(name) => self.name(name, "name", MAX_NAME_CHARS)?,
            None => self.name(
                &Spanned::new(0..0, stem(self.path)),
                "the file's name",
                MAX_NAME_CHARS,
            )?,
        };
        let summary = match &file.summary {
            Some(summary) => self.words(summary, "summary")?,
            None => String::new(),
        };
        let services = self.services(&file)?;
        let chaos = file
            .chaos
            .as_ref()
            .map(|chaos| super::generator::generator(self, chaos, &services))
            .transpose()?;
        let phases = self.phases(&file, &services)?;
        let checks = self.checks(&file, &services)?;
        let found = file.found.as_ref().map(|f| self.found(f)).transpose()?;
        Ok(Scenario {
            name,
            summary,
            live_restore: file.daemon.live_restore,
            path: self.path.to_path_buf(),
            params: self.values.clone(),
            services,
            phases,
            checks,
            chaos,
            found,
        })
    }

    fn found(&self, found: &Spanned<super::FoundFile>) -> Result<super::Found, ScenarioError> {
        let f = found.get_ref();
        let reference = f
            .reference
            .get_ref()
            .parse()
            .map_err(|problem| self.at(&f.reference, "found.reference", problem))?;
        let verdict = match f.verdict.get_ref().as_str() {
            "pass" => crate::Verdict::Pass,
            "fail" => crate::Verdict::Fail,
            "unknown" => crate::Verdict::Unknown,
            other => {
                return Err(self.at(
                    &f.verdict,
                    "found.verdict",
                    format!(
                        "`{}` is not a verdict: pass, fail or unknown",
                        text::one_line(other)
                    ),
                ));
            }
        };
        if f.failed.len() > limits::MAX_FOUND_FAILED {
            return Err(self.at(
                found,
                "found.failed",
                format!(
                    "{} failed properties; at most {}",
                    f.failed.len(),
                    limits::MAX_FOUND_FAILED
                ),
            ));
        }
        let mut failed = Vec::with_capacity(f.failed.len());
        for (i, property) in f.failed.iter().enumerate() {
            failed.push(self.words(property, &format!("found.failed[{i}]"))?);
        }
        failed.sort();
        let by =
            f.by.as_ref()
                .map(|by| self.words(by, "found.by"))
                .transpose()?;
        Ok(super::Found {
            by,
            reference,
            verdict,
            failed,
        })
    }

    fn services(&self, file: &ScenarioFile) -> Result<Vec<Service>, ScenarioError> {
        let table = file.services.get_ref();
        let (min, max) = limits::SERVICES;
        if table.len() < min || table.len() > max {
            return Err(self.at(
                &file.services,
                "services",
                format!("{} services; a scenario has {min} to {max}", table.len()),
            ));
        }
        table
            .iter()
            .map(|(name, service)| self.service(name, service))
            .collect()
    }

    fn service(&self, name: &Spanned<String>, s: &ServiceFile) -> Result<Service, ScenarioError> {
        if let Some(problem) = limits::service_name_problem(name.get_ref()) {
            return Err(self.at(name, "services", problem));
        }
        let name = name.get_ref().clone();
        let field = |f: &str| format!("services.{name}.{f}");
        let image = s.image.get_ref();
        if image.is_empty() || image.len() > 255 || image.chars().any(text::is_unsafe) {
            return Err(self.at(
                &s.image,
                &field("image"),
                format!(
                    "`{}` is not an image name (1 to 255 printable characters)",
                    text::one_line(image)
                ),
            ));
        }
        let restart: RestartPolicy = self.typed(&s.restart, &field("restart"))?;
        self.policy_in_range(restart, (&s.restart).into(), &field("restart"))?;
        let script = match &s.script {
            Some(script) => {
                let text = self.text(script, &field("script"))?;
                if text.len() > limits::MAX_SCRIPT_BYTES {
                    return Err(self.at(
                        script,
                        &field("script"),
                        format!(
                            "the script is {} bytes long with its parameters applied; at most {}",
                            text.len(),
                            limits::MAX_SCRIPT_BYTES
                        ),
                    ));
                }
                Some(text)
            }
            None => None,
        };
        let (program, on_stop_signal) = self.program(&s.program, &field("program"))?;
        let counter = &s.counter;
        if let Some(problem) = paths::container_dir_problem(counter.dir.get_ref()) {
            return Err(self.at(&counter.dir, &field("counter.dir"), problem));
        }
        if let Some(problem) = paths::counter_file_problem(counter.file.get_ref()) {
            return Err(self.at(&counter.file, &field("counter.file"), problem));
        }
        if counter.file.get_ref().starts_with('.') {
            return Err(self.at(
                &counter.file,
                &field("counter.file"),
                "names starting with `.` are halab's own, in the service's directory".into(),
            ));
        }
        let counter_initial = match &counter.initial {
            Some(initial) if *initial.get_ref() > limits::MAX_COUNTER_INITIAL => {
                return Err(self.at(
                    initial,
                    &field("counter.initial"),
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
            .map(|t| self.int_in(t.into(), &field("stop_timeout"), lo, hi, " s"))
            .transpose()?;
        let (lo, hi) = limits::MEMORY_MB;
        let memory_mb = s
            .memory_mb
            .as_ref()
            .map(|m| self.int_in(m.into(), &field("memory_mb"), lo, hi, " MiB"))
            .transpose()?;
        let healthcheck = s
            .healthcheck
            .as_ref()
            .map(|h| super::healthcheck::resolve(self, h.get_ref(), &field("healthcheck")))
            .transpose()?;
        Ok(Service {
            name,
            image: image.clone(),
            restart,
            script,
            program,
            on_stop_signal,
            stop_timeout,
            memory_mb,
            start: s.start,
            counter_dir: counter.dir.get_ref().clone(),
            counter_file: counter.file.get_ref().clone(),
            counter_initial,
            healthcheck,
        })
    }

    /// `on-failure:N` with N in range.
    pub(super) fn policy_in_range(
        &self,
        policy: RestartPolicy,
        raw: Raw<'_>,
        field: &str,
    ) -> Result<(), ScenarioError> {
        if let RestartPolicy::OnFailure { max_retries } = policy
            && max_retries > limits::MAX_ON_FAILURE_RETRIES
        {
            return Err(self.error_at(
                raw.span.start,
                field,
                format!(
                    "on-failure:{max_retries}: at most {} retries (0 means no maximum)",
                    limits::MAX_ON_FAILURE_RETRIES
                ),
            ));
        }
        Ok(())
    }

    fn program(
        &self,
        program: &Spanned<ProgramFile>,
        field: &str,
    ) -> Result<(ServiceBehaviour, SignalResponse), ScenarioError> {
        let p = program.get_ref();
        if p.runs.len() > limits::MAX_RUNS {
            return Err(self.at(
                program,
                &format!("{field}.runs"),
                format!("{} runs; at most {}", p.runs.len(), limits::MAX_RUNS),
            ));
        }
        let runs = p
            .runs
            .iter()
            .enumerate()
            .map(|(i, run)| self.run(run, &format!("{field}.runs[{i}]")))
            .collect::<Result<Vec<Run>, _>>()?;
        let on_stop_signal = match &p.on_stop_signal {
            None => SignalResponse::Ignore,
            Some(value) => self.signal_response(value, &format!("{field}.on_stop_signal"))?,
        };
        Ok((
            ServiceBehaviour {
                runs,
                counts: p.counts,
            },
            on_stop_signal,
        ))
    }

    fn run(&self, value: &Spanned<toml::Value>, field: &str) -> Result<Run, ScenarioError> {
        let span = value.span();
        match value.get_ref() {
            toml::Value::String(s) if s == "until-told" => Ok(Run::UntilTold),
            toml::Value::String(s) if s == "forever" => Ok(Run::Forever),
            toml::Value::Table(table) => {
                ops::only_keys(self, table, &["exit", "after"], span.start, field)?;
                let code = match table.get("exit") {
                    Some(v) => {
                        let (lo, hi) = limits::EXIT_CODE;
                        self.int_in(self.raw(v, span.clone(), field)?, &format!("{field}.exit"), lo, hi, "")?
                    }
                    None => 0,
                };
                let after = match table.get("after") {
                    Some(v) => self.seconds(self.raw(v, span.clone(), field)?, &format!("{field}.after"))?,
                    None => {
                        return Err(self.error_at(
                            span.start,
                            field,
                            "a run that exits says after how many seconds: `{ exit = 0, after = 10 }`".into(),
                        ));
                    }
                };
                Ok(Run::Exit {
                    after_ms: (after * 1000.0).round() as u64,
                    code,
                })
            }
            other => Err(self.error_at(
                span.start,
                field,
                format!(
                    "`{}` is not a run: expected `{{ exit = CODE, after = SECONDS }}`, \"until-told\" or \"forever\"",
                    text::one_line(&other.to_string())
                ),
            )),
        }
    }

    fn signal_response(
        &self,
        value: &Spanned<toml::Value>,
        field: &str,
    ) -> Result<SignalResponse, ScenarioError> {
        let span = value.span();
        match value.get_ref() {
            toml::Value::String(s) if s == "ignore" => Ok(SignalResponse::Ignore),
            toml::Value::String(s) if s == "die" => Ok(SignalResponse::Die),
            toml::Value::Table(table) if table.len() == 1 && table.contains_key("exit") => {
                let (lo, hi) = limits::EXIT_CODE;
                let code = self.int_in(
                    self.raw(&table["exit"], span.clone(), field)?,
                    &format!("{field}.exit"),
                    lo,
                    hi,
                    "",
                )?;
                Ok(SignalResponse::Exit { code })
            }
            other => Err(self.error_at(
                span.start,
                field,
                format!(
                    "`{}` is not an answer to the stop signal: expected \"ignore\", \"die\" or `{{ exit = CODE }}`",
                    text::one_line(&other.to_string())
                ),
            )),
        }
    }

    fn phases(
        &self,
        file: &ScenarioFile,
        services: &[Service],
    ) -> Result<Vec<Phase>, ScenarioError> {
        let Some(file_phases) = &file.phases else {
            if file.chaos.is_some() {
                return Ok(Vec::new());
            }
            return Err(self.error_at(
                0,
                "phases",
                "the scenario says what a run does: `[[phases]]`, or a `[chaos]` table that draws a schedule".into(),
            ));
        };
        let list = file_phases.get_ref();
        let (min, max) = limits::PHASES;
        if list.len() < min || list.len() > max {
            return Err(self.at(
                file_phases,
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
            if file.chaos.is_some() && name == crate::chaos::PHASE {
                return Err(self.at(
                    &p.name,
                    &field("name"),
                    format!(
                        "the phase `{name}` is the one `[chaos]` draws: name this one otherwise"
                    ),
                ));
            }
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
            let only = (services.len() == 1).then(|| services[0].name.as_str());
            let tracks = match (&p.steps, &p.tracks) {
                (Some(steps), None) => vec![Track {
                    name: None,
                    ops: ops::track(
                        self,
                        steps.get_ref(),
                        steps.span(),
                        &field("do"),
                        only,
                        services,
                    )?,
                }],
                (None, Some(tracks)) => {
                    let (lo, hi) = limits::TRACKS;
                    if tracks.get_ref().len() < lo || tracks.get_ref().len() > hi {
                        return Err(self.at(
                            tracks,
                            &field("tracks"),
                            format!(
                                "{} tracks; a phase has {lo} to {hi}",
                                tracks.get_ref().len()
                            ),
                        ));
                    }
                    tracks
                        .get_ref()
                        .iter()
                        .map(|(track, steps)| {
                            if let Some(problem) = limits::track_name_problem(track) {
                                return Err(self.at(tracks, &field("tracks"), problem));
                            }
                            let default = services
                                .iter()
                                .find(|s| s.name == *track)
                                .map(|s| s.name.as_str())
                                .or(only);
                            Ok(Track {
                                name: Some(track.clone()),
                                ops: ops::track(
                                    self,
                                    steps,
                                    tracks.span(),
                                    &field(&format!("tracks.{track}")),
                                    default,
                                    services,
                                )?,
                            })
                        })
                        .collect::<Result<_, ScenarioError>>()?
                }
                (Some(steps), Some(_)) => {
                    return Err(self.at(
                        steps,
                        &field("do"),
                        "a phase has either `do` (one list of operations) or `tracks` (several, side by side), not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(self.at(
                        &p.name,
                        &field("do"),
                        "a phase says what it does: `do = [ … ]` or `tracks = { … }`".into(),
                    ));
                }
            };
            phases.push(Phase {
                name,
                tracks,
                drawn: p.drawn,
            });
        }
        Ok(phases)
    }

    fn checks(&self, file: &ScenarioFile, services: &[Service]) -> Result<Checks, ScenarioError> {
        let c = &file.checks;
        let running_after_daemon_start = match &c.running_after_daemon_start {
            Some(w) => {
                let within = self.seconds(
                    (&w.within).into(),
                    "checks.running_after_daemon_start.within",
                )?;
                let service = match &w.service {
                    Some(s) => Some(self.service_name(
                        s,
                        "checks.running_after_daemon_start.service",
                        services,
                    )?),
                    None => None,
                };
                Some((within, service))
            }
            None => None,
        };
        Ok(Checks {
            counter_matches_starts: c.counter_matches_starts,
            counter_never_decreases: c.counter_never_decreases,
            counter_frozen_while_daemon_down: c.counter_frozen_while_daemon_down,
            running_after_daemon_start,
        })
    }

    // ----- values ------------------------------------------------------------------------------

    /// A plain TOML value (a string, maybe templated, or a number) inside a table at `span`.
    pub(super) fn raw<'v>(
        &self,
        value: &'v toml::Value,
        span: Range<usize>,
        field: &str,
    ) -> Result<Raw<'v>, ScenarioError> {
        let text = match value {
            toml::Value::String(s) => s.as_str().into(),
            toml::Value::Integer(n) => n.to_string().into(),
            toml::Value::Float(x) => x.to_string().into(),
            other => {
                return Err(self.error_at(
                    span.start,
                    field,
                    format!(
                        "`{}` is not a number or a string",
                        text::one_line(&other.to_string())
                    ),
                ));
            }
        };
        Ok(Raw { text, span })
    }

    /// The value with every `{{name}}` replaced.
    fn text(&self, value: &Spanned<Templated>, field: &str) -> Result<String, ScenarioError> {
        self.expand(&value.into(), field)
    }

    pub(super) fn expand(&self, raw: &Raw<'_>, field: &str) -> Result<String, ScenarioError> {
        let mut out = String::with_capacity(raw.text.len());
        let mut rest: &str = &raw.text;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(self.error_at(
                    raw.span.start,
                    field,
                    "`{{` without a closing `}}`".into(),
                ));
            };
            let name = after[..close].trim();
            let Some(v) = self.values.get(name) else {
                let known: Vec<_> = self.values.keys().map(String::as_str).collect();
                return Err(self.error_at(
                    raw.span.start,
                    field,
                    format!(
                        "`{{{{{}}}}}` names no parameter; declared under [params]: {}",
                        text::one_line(name),
                        known.join(", ")
                    ),
                ));
            };
            // No field may hold more than a script: stop before a parameter used many times
            // makes the value (and memory) grow without bound.
            if out.len() + v.len() > limits::MAX_SCRIPT_BYTES {
                return Err(self.error_at(
                    raw.span.start,
                    field,
                    format!(
                        "with its parameters applied the value is longer than {} bytes, the most any field holds",
                        limits::MAX_SCRIPT_BYTES
                    ),
                ));
            }
            out.push_str(v);
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Where a resolved value came from, when it is not what the file says: ` (from
    /// `{{sleep}}`, given as --set sleep=…)`.
    fn origin(&self, raw: &Raw<'_>, resolved: &str) -> String {
        if raw.text == resolved {
            return String::new();
        }
        let flags: Vec<String> = self
            .from_flags
            .iter()
            .filter(|name| raw.text.contains(&format!("{{{{{name}}}}}")))
            .map(|name| format!("--set {name}={}", self.values[name]))
            .collect();
        if flags.is_empty() {
            format!(" (from `{}`)", raw.text)
        } else {
            format!(" (from `{}`, given as {})", raw.text, flags.join(", "))
        }
    }

    fn typed<T: FromStr>(&self, value: &Spanned<Templated>, field: &str) -> Result<T, ScenarioError>
    where
        T::Err: fmt::Display,
    {
        self.parsed(value.into(), field)
    }

    pub(super) fn parsed<T: FromStr>(&self, raw: Raw<'_>, field: &str) -> Result<T, ScenarioError>
    where
        T::Err: fmt::Display,
    {
        let text = self.expand(&raw, field)?;
        text.trim().parse().map_err(|e: T::Err| {
            let origin = self.origin(&raw, &text);
            let e = e.to_string();
            // Some errors quote the value themselves (a restart policy's does).
            let message = if e.contains(text.trim()) {
                format!("{e}{origin}")
            } else {
                format!("`{}`{origin}: {e}", text::one_line(&text))
            };
            self.error_at(raw.span.start, field, message)
        })
    }

    /// A whole number from `lo` to `hi`.
    pub(super) fn int_in<T>(
        &self,
        raw: Raw<'_>,
        field: &str,
        lo: T,
        hi: T,
        unit: &str,
    ) -> Result<T, ScenarioError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let text = self.expand(&raw, field)?;
        let origin = self.origin(&raw, &text);
        let start = raw.span.start;
        let n: T = self.parsed(raw, field)?;
        if n < lo || n > hi {
            let message = out_of_range(&n, lo, hi, unit);
            return Err(self.error_at(start, field, format!("{message}{origin}")));
        }
        Ok(n)
    }

    /// Seconds, from 0 to [`MAX_SECONDS`].
    pub(super) fn seconds(&self, raw: Raw<'_>, field: &str) -> Result<f64, ScenarioError> {
        let text = self.expand(&raw, field)?;
        let origin = self.origin(&raw, &text);
        let start = raw.span.start;
        let secs: f64 = self.parsed(raw, field)?;
        if !(secs.is_finite() && (0.0..=MAX_SECONDS).contains(&secs)) {
            return Err(self.error_at(
                start,
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

    fn service_name(
        &self,
        name: &Spanned<String>,
        field: &str,
        services: &[Service],
    ) -> Result<String, ScenarioError> {
        self.service_named(name.get_ref(), name.span(), field, services)
    }

    /// `name` if a service has it.
    pub(super) fn service_named(
        &self,
        name: &str,
        span: Range<usize>,
        field: &str,
        services: &[Service],
    ) -> Result<String, ScenarioError> {
        if services.iter().any(|s| s.name == name) {
            return Ok(name.to_owned());
        }
        let known: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        Err(self.error_at(
            span.start,
            field,
            format!(
                "no service named `{}`; the services: {}",
                text::one_line(name),
                known.join(", ")
            ),
        ))
    }

    /// An error at `value`'s place in the file. A value with no place (a default) is put at
    /// the start of the file.
    fn at<T>(&self, value: &Spanned<T>, field: &str, message: String) -> ScenarioError {
        self.error_at(value.span().start, field, message)
    }

    pub(super) fn error_at(&self, offset: usize, field: &str, message: String) -> ScenarioError {
        invalid(self.path, self.source, offset, Some(field), message)
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

/// The name a scenario file gives when it has no `name`: its own, without `.toml`.
fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
