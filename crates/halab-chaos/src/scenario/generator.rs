//! The `[chaos]` table: which faults a run's schedule is drawn from, how often, and within
//! which limits — read into a [`Generator`] with every value checked and located.
//!
//! ```toml
//! [chaos]
//! duration = 60        # seconds within which faults are drawn (`--duration` overrides)
//! every = 5            # seconds between two faults, on average
//! jitter = 2           # each interval is `every` ± up to this
//! min_gap = 11         # seconds a service is left alone after a fault (and its undo)
//! daemon_faults = 1    # at most this many daemon faults
//! settle = 5           # seconds to wait after the schedule, before the final inspection
//! faults = [
//!     { op = "crash", weight = 4 },                           # any service
//!     { op = "docker-kill", weight = 1, services = ["web"], undo_after = 3 },
//!     { op = "docker-pause", weight = 1, undo_after = 2 },    # unpaused 2 s later
//!     { op = "daemon-crash", weight = 1, undo_after = 3 },    # started 3 s later
//! ]
//! ```
//!
//! A fault is any operation of a phase (its own keys as there), plus `weight`, `services` (the
//! services it may hit; default every one) and `undo_after`.

use std::ops::Range;

use halab_model::{ApiCall, Op, ServiceOp};
use serde::Deserialize;
use toml::Spanned;

use super::ops;
use super::resolve::{Raw, Resolver};
use super::{ScenarioError, Service, Templated};
use crate::chaos::{self, FaultKind, Generator};
use crate::text;

/// A `[chaos]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosFile {
    pub duration: Spanned<Templated>,
    pub every: Spanned<Templated>,
    #[serde(default)]
    pub jitter: Option<Spanned<Templated>>,
    #[serde(default)]
    pub min_gap: Option<Spanned<Templated>>,
    #[serde(default)]
    pub daemon_faults: Option<Spanned<Templated>>,
    #[serde(default)]
    pub settle: Option<Spanned<Templated>>,
    pub faults: Spanned<Vec<Spanned<toml::Value>>>,
}

/// Kinds of fault a table may list.
const MAX_KINDS: usize = 32;
/// The weight of one kind.
const WEIGHT: (u32, u32) = (1, 1_000);
/// Daemon faults in one run.
const DAEMON_FAULTS: (u32, u32) = (0, 100);
/// The shortest interval between faults, in ms: the daemon needs some time to act.
const MIN_EVERY_MS: u64 = 100;
/// An undo that is not given: a paused service or a stopped daemon is brought back after this.
const DEFAULT_UNDO_MS: u64 = 3_000;
/// The keys a fault has besides its operation's own.
const GENERATOR_KEYS: [&str; 3] = ["weight", "services", "undo_after"];

/// Reads `[chaos]`.
pub(super) fn generator(
    r: &Resolver<'_>,
    file: &Spanned<ChaosFile>,
    services: &[Service],
) -> Result<Generator, ScenarioError> {
    let c = file.get_ref();
    let ms = |secs: f64| (secs * 1000.0).round() as u64;
    let seconds = |value: &Spanned<Templated>, field: &str| -> Result<u64, ScenarioError> {
        Ok(ms(r.seconds(Raw::from(value), &format!("chaos.{field}"))?))
    };
    let optional = |value: &Option<Spanned<Templated>>, field: &str, default: u64| match value {
        Some(value) => seconds(value, field),
        None => Ok(default),
    };
    let duration_ms = seconds(&c.duration, "duration")?;
    let every_ms = seconds(&c.every, "every")?;
    if every_ms < MIN_EVERY_MS {
        return Err(r.error_at(
            c.every.span().start,
            "chaos.every",
            format!(
                "{} s between faults; at least {} s",
                every_ms as f64 / 1000.0,
                MIN_EVERY_MS as f64 / 1000.0
            ),
        ));
    }
    if duration_ms == 0 {
        return Err(r.error_at(
            c.duration.span().start,
            "chaos.duration",
            "a schedule lasts more than 0 s".into(),
        ));
    }
    check_fault_count(duration_ms, every_ms)
        .map_err(|problem| r.error_at(c.duration.span().start, "chaos.duration", problem))?;
    let jitter_ms = optional(&c.jitter, "jitter", 0)?;
    if jitter_ms > every_ms {
        let span = c.jitter.as_ref().map_or(0, |j| j.span().start);
        return Err(r.error_at(
            span,
            "chaos.jitter",
            format!(
                "a jitter of {} s is more than the interval `every` ({} s) it varies",
                jitter_ms as f64 / 1000.0,
                every_ms as f64 / 1000.0
            ),
        ));
    }
    let daemon_faults = match &c.daemon_faults {
        Some(value) => {
            let (lo, hi) = DAEMON_FAULTS;
            r.int_in(Raw::from(value), "chaos.daemon_faults", lo, hi, "")?
        }
        None => 0,
    };
    let list = c.faults.get_ref();
    if list.is_empty() || list.len() > MAX_KINDS {
        return Err(r.error_at(
            c.faults.span().start,
            "chaos.faults",
            format!(
                "{} kinds of fault; a schedule draws from 1 to {MAX_KINDS}",
                list.len()
            ),
        ));
    }
    let faults = list
        .iter()
        .enumerate()
        .map(|(i, value)| fault(r, value, &format!("chaos.faults[{i}]"), services))
        .collect::<Result<Vec<_>, _>>()?;
    if daemon_faults > 0 && !faults.iter().any(|k| matches!(k.choices[0], Op::Daemon(_))) {
        let span = c.daemon_faults.as_ref().map_or(0, |d| d.span().start);
        return Err(r.error_at(
            span,
            "chaos.daemon_faults",
            "daemon faults are allowed but none is listed in `faults` (add `{ op = \"daemon-crash\", weight = 1 }`, say)".into(),
        ));
    }
    Ok(Generator {
        duration_ms,
        every_ms,
        jitter_ms,
        min_gap_ms: optional(&c.min_gap, "min_gap", 0)?,
        daemon_faults,
        settle_ms: optional(&c.settle, "settle", 0)?,
        faults,
    })
}

/// Whether a schedule of `duration_ms` with faults every `every_ms` stays within
/// [`chaos::MAX_FAULTS`]; the problem otherwise (also for `--duration`).
pub fn check_fault_count(duration_ms: u64, every_ms: u64) -> Result<(), String> {
    let faults = duration_ms / every_ms.max(1);
    if faults > chaos::MAX_FAULTS {
        return Err(format!(
            "{} s with a fault every {} s is {faults} faults; a run has at most {} (lengthen `every`, or shorten the run)",
            duration_ms as f64 / 1000.0,
            every_ms as f64 / 1000.0,
            chaos::MAX_FAULTS
        ));
    }
    Ok(())
}

fn fault(
    r: &Resolver<'_>,
    value: &Spanned<toml::Value>,
    field: &str,
    services: &[Service],
) -> Result<FaultKind, ScenarioError> {
    let span = value.span();
    let toml::Value::Table(table) = value.get_ref() else {
        return Err(r.error_at(
            span.start,
            field,
            "a fault is a table: `{ op = \"crash\", weight = 2 }`".into(),
        ));
    };
    let at = |key: &str| format!("{field}.{key}");
    let weight = match table.get("weight") {
        Some(w) => {
            let (lo, hi) = WEIGHT;
            r.int_in(
                r.raw(w, span.clone(), &at("weight"))?,
                &at("weight"),
                lo,
                hi,
                "",
            )?
        }
        None => 1,
    };
    let undo_after_ms = match table.get("undo_after") {
        Some(v) => Some(
            (r.seconds(
                r.raw(v, span.clone(), &at("undo_after"))?,
                &at("undo_after"),
            )? * 1000.0)
                .round() as u64,
        ),
        None => None,
    };
    let targets = targets(r, table, span.clone(), &at("services"), services)?;
    // The operation's own keys, parsed as a phase's step is, once per service it may hit.
    let mut op_table = table.clone();
    for key in GENERATOR_KEYS {
        op_table.remove(key);
    }
    let parse = |service: Option<&str>| -> Result<Op, ScenarioError> {
        let mut t = op_table.clone();
        if let Some(service) = service {
            t.insert("service".into(), toml::Value::String(service.to_owned()));
        }
        ops::op(
            r,
            &Spanned::new(span.clone(), toml::Value::Table(t)),
            field,
            None,
            services,
        )
    };
    let first = parse(None).or_else(|_| parse(targets.first().map(String::as_str)))?;
    let choices = match &first {
        Op::Daemon(op) if !op.ends_daemon() => {
            return Err(bad(
                r,
                &span,
                field,
                "`daemon-start` is not a fault: a daemon fault is started again `undo_after` seconds later",
            ));
        }
        Op::Daemon(_) => {
            if table.contains_key("services") {
                return Err(r.error_at(
                    span.start,
                    &at("services"),
                    "a daemon fault hits every service: it takes no `services`".into(),
                ));
            }
            vec![first]
        }
        Op::Wait(_) => {
            return Err(bad(
                r,
                &span,
                field,
                "a wait is not a fault (the schedule's interval is `every`)",
            ));
        }
        Op::Service {
            op: ServiceOp::Inspect | ServiceOp::Api(ApiCall::Unpause),
            ..
        } => {
            return Err(bad(
                r,
                &span,
                field,
                "`inspect` and `docker-unpause` are not faults (a pause is undone by its `undo_after`)",
            ));
        }
        Op::Service { .. } => {
            if table.contains_key("service") {
                return Err(r.error_at(
                    span.start,
                    &at("service"),
                    "a fault names the services it may hit with `services = [ … ]`".into(),
                ));
            }
            targets
                .iter()
                .map(|service| parse(Some(service)))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let undo_after_ms = match (undo_after_ms, chaos::undo(&choices[0])) {
        (Some(_), None) => {
            return Err(r.error_at(
                span.start,
                &at("undo_after"),
                "nothing undoes this fault (a removed container is gone; an update is undone by another update)".into(),
            ));
        }
        (None, Some(_)) if chaos::must_be_undone(&choices[0]) => Some(DEFAULT_UNDO_MS),
        (undo, _) => undo,
    };
    Ok(FaultKind {
        weight,
        choices,
        undo_after_ms,
    })
}

fn bad(r: &Resolver<'_>, span: &Range<usize>, field: &str, why: &str) -> ScenarioError {
    r.error_at(span.start, field, why.to_owned())
}

/// The services a fault may hit: `services = [ … ]`, else every one.
fn targets(
    r: &Resolver<'_>,
    table: &toml::Table,
    span: Range<usize>,
    field: &str,
    services: &[Service],
) -> Result<Vec<String>, ScenarioError> {
    match table.get("services") {
        None => Ok(services.iter().map(|s| s.name.clone()).collect()),
        Some(toml::Value::Array(names)) if !names.is_empty() => names
            .iter()
            .map(|name| match name {
                toml::Value::String(name) => r.service_named(name, span.clone(), field, services),
                other => Err(r.error_at(
                    span.start,
                    field,
                    format!(
                        "`{}` is not a service name (a string)",
                        text::one_line(&other.to_string())
                    ),
                )),
            })
            .collect(),
        Some(_) => Err(r.error_at(
            span.start,
            field,
            "`services` is a list of service names, not empty: `services = [\"web\"]`".into(),
        )),
    }
}
