//! Operations as a scenario file spells them, into [`Op`]s.
//!
//! An operation is a string when it needs nothing more (`"daemon-crash"`, `"docker-start"`),
//! or a table with an `op` key and its parameters (`{ op = "crash", signal = "TERM" }`,
//! `{ op = "wait", starts = 2, timeout = 30 }`). `service` names the service an operation is
//! aimed at; it may be left out when the scenario has one service, or in a track named after
//! the service.

use std::ops::Range;

use halab_model::{
    ApiCall, DaemonOp, HealthStatus, Op, RestartPolicy, ServiceOp, ServiceState, Wait,
};
use toml::Spanned;

use super::limits;
use super::resolve::Resolver;
use super::{ScenarioError, Service, parse_signal};
use crate::text;

/// Every operation's name, as a file spells it.
pub const OPS: [&str; 18] = [
    "daemon-stop",
    "daemon-crash",
    "daemon-start",
    "power-loss",
    "crash",
    "exit",
    "oom",
    "docker-start",
    "docker-stop",
    "docker-kill",
    "docker-restart",
    "docker-pause",
    "docker-unpause",
    "docker-rm",
    "docker-update",
    "inspect",
    "remove-bind-source",
    "restore-bind-source",
];

/// Seconds a wait for events may take when the file does not say.
pub const DEFAULT_WAIT_TIMEOUT_SECS: f64 = 120.0;

/// One track's operations.
pub(super) fn track(
    r: &Resolver<'_>,
    values: &[Spanned<toml::Value>],
    span: Range<usize>,
    field: &str,
    default_service: Option<&str>,
    services: &[Service],
) -> Result<Vec<Op>, ScenarioError> {
    let (lo, hi) = limits::OPS_PER_TRACK;
    if values.len() < lo || values.len() > hi {
        return Err(r.error_at(
            span.start,
            field,
            format!("{} operations; a list has {lo} to {hi}", values.len()),
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            op(
                r,
                value,
                &format!("{field}[{i}]"),
                default_service,
                services,
            )
        })
        .collect()
}

/// The keys of `table` are among `allowed`.
pub(super) fn only_keys(
    r: &Resolver<'_>,
    table: &toml::Table,
    allowed: &[&str],
    offset: usize,
    field: &str,
) -> Result<(), ScenarioError> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(r.error_at(
            offset,
            field,
            format!(
                "unknown key `{}` here; expected {}",
                text::one_line(key),
                allowed
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        None => Ok(()),
    }
}

pub(super) fn op(
    r: &Resolver<'_>,
    value: &Spanned<toml::Value>,
    field: &str,
    default_service: Option<&str>,
    services: &[Service],
) -> Result<Op, ScenarioError> {
    let span = value.span();
    let empty = toml::Table::new();
    let (name, table) = match value.get_ref() {
        toml::Value::String(name) => (name.as_str(), &empty),
        toml::Value::Table(table) => match table.get("op") {
            Some(toml::Value::String(name)) => (name.as_str(), table),
            _ => {
                return Err(r.error_at(
                    span.start,
                    field,
                    "an operation written as a table says which it is: `{ op = \"crash\", … }`"
                        .into(),
                ));
            }
        },
        other => {
            return Err(r.error_at(
                span.start,
                field,
                format!(
                    "`{}` is not an operation: write its name (\"daemon-crash\") or a table ({{ op = \"crash\", signal = \"TERM\" }})",
                    text::one_line(&other.to_string())
                ),
            ));
        }
    };
    let at = |f: &str| format!("{field}.{f}");
    let fields = Fields {
        r,
        table,
        span: span.clone(),
        field,
        services,
    };
    let service = || -> Result<String, ScenarioError> {
        match table.get("service") {
            Some(toml::Value::String(s)) => r.service_named(s, span.clone(), &at("service"), services),
            Some(_) => Err(r.error_at(span.start, &at("service"), "a service is named by a string".into())),
            None => default_service.map(str::to_owned).ok_or_else(|| {
                r.error_at(
                    span.start,
                    &at("service"),
                    format!(
                        "`{name}` is done to a service: say which one (`service = \"…\"`); the services: {}",
                        services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            }),
        }
    };
    let on = |op: ServiceOp| -> Result<Op, ScenarioError> { Ok(Op::on(service()?, op)) };
    let daemon = |op: DaemonOp| -> Result<Op, ScenarioError> {
        fields.only(&["op"])?;
        Ok(Op::Daemon(op))
    };
    let op = match name {
        "daemon-stop" => daemon(DaemonOp::Stop)?,
        "daemon-crash" => daemon(DaemonOp::Crash)?,
        "daemon-start" => daemon(DaemonOp::Start)?,
        "power-loss" => daemon(DaemonOp::PowerLoss)?,
        "crash" => {
            fields.only(&["op", "service", "signal"])?;
            on(ServiceOp::Signal {
                signal: fields.signal("signal")?.unwrap_or(9),
            })?
        }
        "exit" => {
            fields.only(&["op", "service", "code"])?;
            let (lo, hi) = limits::EXIT_CODE;
            let Some(code) = fields.int("code", lo, hi, "")? else {
                return Err(r.error_at(
                    span.start,
                    &at("code"),
                    "`exit` says with which code: `{ op = \"exit\", code = 3 }`".into(),
                ));
            };
            on(ServiceOp::Exit { code })?
        }
        "oom" => {
            fields.only(&["op", "service"])?;
            on(ServiceOp::Oom)?
        }
        "docker-start" => api(&fields, &on, ApiCall::Start)?,
        "docker-pause" => api(&fields, &on, ApiCall::Pause)?,
        "docker-unpause" => api(&fields, &on, ApiCall::Unpause)?,
        "docker-rm" => api(&fields, &on, ApiCall::RemoveForce)?,
        "docker-stop" | "docker-restart" => {
            fields.only(&["op", "service", "timeout"])?;
            let (lo, hi) = limits::STOP_TIMEOUT_SECS;
            let timeout_s = fields.int("timeout", lo, hi, " s")?;
            on(ServiceOp::Api(if name == "docker-stop" {
                ApiCall::Stop { timeout_s }
            } else {
                ApiCall::Restart { timeout_s }
            }))?
        }
        "docker-kill" => {
            fields.only(&["op", "service", "signal"])?;
            on(ServiceOp::Api(ApiCall::Kill {
                signal: fields.signal("signal")?.unwrap_or(9),
            }))?
        }
        "docker-update" => {
            fields.only(&["op", "service", "restart"])?;
            let Some(value) = table.get("restart") else {
                return Err(r.error_at(span.start, &at("restart"), "`docker-update` says the new policy: `{ op = \"docker-update\", restart = \"no\" }`".into()));
            };
            let raw = r.raw(value, span.clone(), &at("restart"))?;
            let policy: RestartPolicy = r.parsed(raw, &at("restart"))?;
            r.policy_in_range(
                policy,
                r.raw(value, span.clone(), &at("restart"))?,
                &at("restart"),
            )?;
            on(ServiceOp::Api(ApiCall::UpdateRestartPolicy { policy }))?
        }
        "inspect" => {
            fields.only(&["op", "service"])?;
            on(ServiceOp::Inspect)?
        }
        "remove-bind-source" | "restore-bind-source" => {
            fields.only(&["op", "service"])?;
            on(ServiceOp::BindSource {
                present: name == "restore-bind-source",
            })?
        }
        "wait" => Op::Wait(wait(&fields, &service)?),
        other => {
            return Err(r.error_at(
                span.start,
                &at("op"),
                format!(
                    "`{}` is not an operation; the operations: {}, wait",
                    text::one_line(other),
                    OPS.join(", ")
                ),
            ));
        }
    };
    if let Op::Service {
        service,
        op: told @ (ServiceOp::Exit { .. } | ServiceOp::Oom),
    } = &op
    {
        let s = services
            .iter()
            .find(|s| s.name == *service)
            .expect("the service was checked");
        let problem = if s.script.is_some() {
            Some("the service runs its own script, which halab cannot tell what to do: leave `script` out, and halab writes one from `program` that can".to_owned())
        } else if !s.program.can_be_told() {
            Some("its program never waits to be told: give it an \"until-told\" run".to_owned())
        } else if matches!(told, ServiceOp::Oom) && s.memory_mb.is_none() {
            Some("an OOM needs a memory limit to exceed: give the service `memory_mb`".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(r.error_at(
                span.start,
                field,
                format!("`{name}` on {service}: {problem}"),
            ));
        }
    }
    Ok(op)
}

fn api(
    fields: &Fields<'_, '_>,
    on: &dyn Fn(ServiceOp) -> Result<Op, ScenarioError>,
    call: ApiCall,
) -> Result<Op, ScenarioError> {
    fields.only(&["op", "service"])?;
    on(ServiceOp::Api(call))
}

fn wait(
    fields: &Fields<'_, '_>,
    service: &dyn Fn() -> Result<String, ScenarioError>,
) -> Result<Wait, ScenarioError> {
    let table = fields.table;
    let kinds: Vec<&str> = ["for", "until", "starts", "dies", "state", "health"]
        .into_iter()
        .filter(|k| table.contains_key(*k))
        .collect();
    let [kind] = kinds[..] else {
        return Err(fields.r.error_at(
            fields.span.start,
            fields.field,
            "a wait says what it waits for, once: `for = SECONDS`, `until = SECONDS`, `starts = N`, `dies = N`, `state = \"running\"` or `health = \"unhealthy\"`".into(),
        ));
    };
    let ms = |secs: f64| (secs * 1000.0).round() as u64;
    let timeout = || -> Result<u64, ScenarioError> {
        Ok(ms(fields
            .seconds("timeout")?
            .unwrap_or(DEFAULT_WAIT_TIMEOUT_SECS)))
    };
    let (lo, hi) = limits::UNTIL_STARTS;
    Ok(match kind {
        "for" | "until" => {
            fields.only(&["op", kind])?;
            let secs = fields.seconds(kind)?.expect("the key is there");
            if kind == "for" {
                Wait::For { ms: ms(secs) }
            } else {
                Wait::Until { ms: ms(secs) }
            }
        }
        "starts" | "dies" => {
            fields.only(&["op", kind, "service", "timeout"])?;
            let count = fields.int(kind, lo, hi, "")?.expect("the key is there");
            let (service, timeout_ms) = (service()?, timeout()?);
            if kind == "starts" {
                Wait::Starts {
                    service,
                    count,
                    timeout_ms,
                }
            } else {
                Wait::Dies {
                    service,
                    count,
                    timeout_ms,
                }
            }
        }
        "health" => {
            fields.only(&["op", "health", "service", "timeout"])?;
            let path = format!("{}.health", fields.field);
            let health = match table.get("health") {
                Some(toml::Value::String(s)) => match HealthStatus::parse(s) {
                    // `starting` is set by each start without an event: there is nothing to
                    // wait for.
                    Some(health @ (HealthStatus::Healthy | HealthStatus::Unhealthy)) => health,
                    _ => {
                        return Err(fields.r.error_at(
                            fields.span.start,
                            &path,
                            format!(
                                "`{}` is not a health to wait for: healthy or unhealthy (the `health_status` events)",
                                text::one_line(s)
                            ),
                        ));
                    }
                },
                _ => {
                    return Err(fields.r.error_at(
                        fields.span.start,
                        &path,
                        "a health is a string: healthy or unhealthy".into(),
                    ));
                }
            };
            let service = service()?;
            if !fields.health_checked(&service) {
                return Err(fields.r.error_at(
                    fields.span.start,
                    &path,
                    format!("{service} has no `healthcheck`: its health never changes"),
                ));
            }
            Wait::Health {
                service,
                health,
                timeout_ms: timeout()?,
            }
        }
        _ => {
            fields.only(&["op", "state", "service", "timeout"])?;
            let state = match table.get("state") {
                Some(toml::Value::String(s)) => match s.as_str() {
                    "running" => ServiceState::Running,
                    "exited" => ServiceState::Exited,
                    "paused" => ServiceState::Paused,
                    "removed" => ServiceState::Removed,
                    other => {
                        return Err(fields.r.error_at(
                            fields.span.start,
                            &format!("{}.state", fields.field),
                            format!(
                                "`{}` is not a state to wait for: running, exited, paused or removed",
                                text::one_line(other)
                            ),
                        ));
                    }
                },
                _ => {
                    return Err(fields.r.error_at(
                        fields.span.start,
                        &format!("{}.state", fields.field),
                        "a state is a string: running, exited, paused or removed".into(),
                    ));
                }
            };
            Wait::State {
                service: service()?,
                state,
                timeout_ms: timeout()?,
            }
        }
    })
}

/// An operation's table, with the field paths and the place its errors name.
struct Fields<'r, 'a> {
    r: &'r Resolver<'a>,
    table: &'r toml::Table,
    span: Range<usize>,
    field: &'r str,
    services: &'r [Service],
}

impl Fields<'_, '_> {
    fn only(&self, allowed: &[&str]) -> Result<(), ScenarioError> {
        only_keys(self.r, self.table, allowed, self.span.start, self.field)
    }

    /// Whether `service` has a health check.
    fn health_checked(&self, service: &str) -> bool {
        self.services
            .iter()
            .any(|s| s.name == service && s.healthcheck.is_some())
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.field)
    }

    fn int<T>(&self, key: &str, lo: T, hi: T, unit: &str) -> Result<Option<T>, ScenarioError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
        T::Err: std::fmt::Display,
    {
        let Some(value) = self.table.get(key) else {
            return Ok(None);
        };
        let raw = self.r.raw(value, self.span.clone(), &self.path(key))?;
        self.r.int_in(raw, &self.path(key), lo, hi, unit).map(Some)
    }

    fn seconds(&self, key: &str) -> Result<Option<f64>, ScenarioError> {
        let Some(value) = self.table.get(key) else {
            return Ok(None);
        };
        let raw = self.r.raw(value, self.span.clone(), &self.path(key))?;
        self.r.seconds(raw, &self.path(key)).map(Some)
    }

    fn signal(&self, key: &str) -> Result<Option<i32>, ScenarioError> {
        let Some(value) = self.table.get(key) else {
            return Ok(None);
        };
        let raw = self.r.raw(value, self.span.clone(), &self.path(key))?;
        let text = self.r.expand(&raw, &self.path(key))?;
        parse_signal(&text).map(Some).ok_or_else(|| {
            self.r.error_at(
                self.span.start,
                &self.path(key),
                format!(
                    "`{}` is not a signal: expected a number from 1 to 64 or a name such as KILL, TERM, HUP",
                    text::one_line(&text)
                ),
            )
        })
    }
}
