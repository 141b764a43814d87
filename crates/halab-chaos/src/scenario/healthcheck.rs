//! A service's `healthcheck`: Docker's `HEALTHCHECK` fields, as a file writes them, into a
//! [`HealthCheck`] — the command the daemon runs, its timing, and what the model is told of
//! its outcome.
//!
//! ```toml
//! healthcheck = { cmd = "false", interval = 1, retries = 2 }
//! healthcheck = { cmd = "test -e /halab/ready", passes = false, interval = 2, start_period = 5 }
//! ```
//!
//! The command runs in the container's shell (`CMD-SHELL`). The model does not run it: it is
//! told whether it passes. `true` and `false` say so themselves; any other command says it with
//! `passes`, as a service's `program` tells the model what its `script` does.

use halab_model::health::{
    DEFAULT_INTERVAL_MS, DEFAULT_RETRIES, DEFAULT_START_PERIOD_MS, DEFAULT_TIMEOUT_MS,
};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::limits;
use super::resolve::Resolver;
use super::{ScenarioError, Templated};
use crate::text;

/// A `healthcheck` table, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckFile {
    /// A shell command: exit status 0 is healthy.
    pub cmd: Spanned<Templated>,
    /// Whether the command succeeds, for the model: required unless `cmd` is `true` or `false`.
    #[serde(default)]
    pub passes: Option<Spanned<bool>>,
    /// Seconds between probes, and before the first.
    #[serde(default)]
    pub interval: Option<Spanned<Templated>>,
    /// Seconds a probe may take before it counts as failed.
    #[serde(default)]
    pub timeout: Option<Spanned<Templated>>,
    /// Failures in a row that make the container unhealthy.
    #[serde(default)]
    pub retries: Option<Spanned<Templated>>,
    /// Seconds after a start in which failures do not count.
    #[serde(default)]
    pub start_period: Option<Spanned<Templated>>,
}

/// A service's health check, resolved: Docker's defaults filled in where the file is silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Run with the container's shell (`["CMD-SHELL", cmd]`).
    pub cmd: String,
    /// What the model is told: the command exits 0.
    pub passes: bool,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub start_period_ms: u64,
    pub retries: u32,
}

impl HealthCheck {
    /// The check as the model takes it (the model's probe answers at once: no timeout).
    pub fn model(&self) -> halab_model::HealthCheck {
        halab_model::HealthCheck {
            interval_ms: self.interval_ms,
            start_period_ms: self.start_period_ms,
            retries: self.retries,
            passes: self.passes,
        }
    }
}

/// `file` resolved, its errors naming `field` (`services.NAME.healthcheck`).
pub(super) fn resolve(
    r: &Resolver<'_>,
    file: &HealthCheckFile,
    field: &str,
) -> Result<HealthCheck, ScenarioError> {
    let at = |f: &str| format!("{field}.{f}");
    let cmd = r.expand(&(&file.cmd).into(), &at("cmd"))?;
    let cmd_start = file.cmd.span().start;
    let problem = if cmd.trim().is_empty() {
        Some("the command is empty: it is what the daemon runs in the container".to_owned())
    } else if cmd.len() > limits::MAX_HEALTH_CMD_BYTES {
        Some(format!(
            "the command is {} bytes long with its parameters applied; at most {}",
            cmd.len(),
            limits::MAX_HEALTH_CMD_BYTES
        ))
    } else if cmd.chars().any(text::is_unsafe) {
        Some(format!(
            "`{}` contains control characters: write the command on one line",
            text::one_line(&cmd)
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(r.error_at(cmd_start, &at("cmd"), problem));
    }
    let said_by_cmd = match cmd.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    let passes = match (said_by_cmd, &file.passes) {
        (Some(by_cmd), Some(given)) if by_cmd != *given.get_ref() => {
            return Err(r.error_at(
                given.span().start,
                &at("passes"),
                format!(
                    "`{}` {} whatever `passes` says: leave `passes` out",
                    cmd.trim(),
                    if by_cmd { "passes" } else { "fails" }
                ),
            ));
        }
        (Some(by_cmd), _) => by_cmd,
        (None, Some(given)) => *given.get_ref(),
        (None, None) => {
            return Err(r.error_at(
                cmd_start,
                &at("passes"),
                format!(
                    "the model does not run `{}`: say whether it passes, `passes = true` or `passes = false`",
                    text::one_line(cmd.trim())
                ),
            ));
        }
    };
    let ms = |value: &Option<Spanned<Templated>>,
              name: &str,
              (lo, hi): (f64, f64),
              default: u64|
     -> Result<u64, ScenarioError> {
        let Some(value) = value else {
            return Ok(default);
        };
        let secs = r.seconds(value.into(), &at(name))?;
        if secs < lo || secs > hi {
            return Err(r.error_at(
                value.span().start,
                &at(name),
                format!("{secs} s is out of range: from {lo} to {hi} s"),
            ));
        }
        Ok((secs * 1000.0).round() as u64)
    };
    let interval_ms = ms(
        &file.interval,
        "interval",
        limits::HEALTH_INTERVAL_SECS,
        DEFAULT_INTERVAL_MS,
    )?;
    let timeout_ms = ms(
        &file.timeout,
        "timeout",
        limits::HEALTH_TIMEOUT_SECS,
        DEFAULT_TIMEOUT_MS,
    )?;
    let start_period_ms = ms(
        &file.start_period,
        "start_period",
        limits::HEALTH_START_PERIOD_SECS,
        DEFAULT_START_PERIOD_MS,
    )?;
    let retries = match &file.retries {
        Some(retries) => {
            let (lo, hi) = limits::HEALTH_RETRIES;
            r.int_in(retries.into(), &at("retries"), lo, hi, "")?
        }
        None => DEFAULT_RETRIES,
    };
    Ok(HealthCheck {
        cmd,
        passes,
        interval_ms,
        timeout_ms,
        start_period_ms,
        retries,
    })
}
