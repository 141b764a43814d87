//! Scenarios written back as a file spells them, so that a drawn or generated schedule can be
//! read, kept, and run again as an explicit scenario (the parser reads it back to the same
//! scenario: `tests.rs` holds it to that).

use std::fmt::Write as _;

use halab_model::{ApiCall, Op, Run, ServiceOp, SignalResponse, Wait, signal};

use crate::scenario::{
    DEFAULT_COUNTER_DIR, DEFAULT_COUNTER_FILE, Found, LAB_IMAGE, Phase, Scenario, Service,
};

/// A whole scenario as a file: name, summary, daemon, services, phases, checks and `[found]`.
/// Its values are the resolved ones (parameters applied); a `[chaos]` table is not written
/// (write its drawn schedule as a phase instead).
pub fn scenario(scenario: &Scenario, comment: &str) -> String {
    let mut s = String::new();
    for line in comment.lines() {
        let _ = writeln!(s, "# {line}");
    }
    // No `name`: a scenario is named by the file it is written to.
    if !scenario.summary.is_empty() {
        let _ = writeln!(s, "summary = {}", quoted(&scenario.summary));
    }
    if scenario.live_restore {
        s.push_str("\n[daemon]\nlive_restore = true\n");
    }
    for service in &scenario.services {
        s.push('\n');
        s.push_str(&self::service(service));
    }
    for phase in &scenario.phases {
        s.push('\n');
        s.push_str(&self::phase(phase));
    }
    let c = &scenario.checks;
    let flags = [
        ("counter_matches_starts", c.counter_matches_starts),
        ("counter_never_decreases", c.counter_never_decreases),
        (
            "counter_frozen_while_daemon_down",
            c.counter_frozen_while_daemon_down,
        ),
    ];
    if flags.iter().any(|(_, on)| *on) || c.running_after_daemon_start.is_some() {
        s.push_str("\n[checks]\n");
        for (name, on) in flags {
            if on {
                let _ = writeln!(s, "{name} = true");
            }
        }
        if let Some((within, service)) = &c.running_after_daemon_start {
            let _ = write!(s, "running_after_daemon_start = {{ within = {within}");
            if let Some(service) = service {
                let _ = write!(s, ", service = {}", quoted(service));
            }
            s.push_str(" }\n");
        }
    }
    if let Some(found) = &scenario.found {
        s.push('\n');
        s.push_str(&self::found(found));
    }
    s
}

/// One `[services.NAME]` table.
fn service(service: &Service) -> String {
    let mut s = format!("[services.{}]\n", service.name);
    if service.image != LAB_IMAGE {
        let _ = writeln!(s, "image = {}", quoted(&service.image));
    }
    let _ = writeln!(s, "restart = {}", quoted(&service.restart.to_string()));
    if let Some(script) = &service.script {
        let _ = writeln!(s, "script = {}", quoted(script));
    }
    let runs: Vec<String> = service
        .program
        .runs
        .iter()
        .map(|run| match run {
            Run::Exit { after_ms, code } => {
                format!("{{ exit = {code}, after = {} }}", secs(*after_ms))
            }
            Run::UntilTold => quoted("until-told"),
            Run::Forever => quoted("forever"),
        })
        .collect();
    let on_stop = match service.on_stop_signal {
        SignalResponse::Ignore => quoted("ignore"),
        SignalResponse::Die => quoted("die"),
        SignalResponse::Exit { code } => format!("{{ exit = {code} }}"),
    };
    let _ = write!(
        s,
        "program = {{ runs = [{}], on_stop_signal = {on_stop}",
        runs.join(", ")
    );
    if !service.program.counts {
        s.push_str(", counts = false");
    }
    s.push_str(" }\n");
    if let Some(t) = service.stop_timeout {
        let _ = writeln!(s, "stop_timeout = {t}");
    }
    if let Some(mb) = service.memory_mb {
        let _ = writeln!(s, "memory_mb = {mb}");
    }
    if !service.start {
        s.push_str("start = false\n");
    }
    if let Some(h) = &service.healthcheck {
        let _ = writeln!(
            s,
            "healthcheck = {{ cmd = {}, passes = {}, interval = {}, timeout = {}, start_period = {}, retries = {} }}",
            quoted(&h.cmd),
            h.passes,
            secs(h.interval_ms),
            secs(h.timeout_ms),
            secs(h.start_period_ms),
            h.retries
        );
    }
    let custom_counter = service.counter_dir != DEFAULT_COUNTER_DIR
        || service.counter_file != DEFAULT_COUNTER_FILE
        || service.counter_initial != 0;
    if custom_counter {
        let _ = writeln!(
            s,
            "counter = {{ dir = {}, file = {}, initial = {} }}",
            quoted(&service.counter_dir),
            quoted(&service.counter_file),
            service.counter_initial
        );
    }
    s
}

/// The `[found]` table.
fn found(found: &Found) -> String {
    let mut s = String::from("[found]\n");
    if let Some(by) = &found.by {
        let _ = writeln!(s, "by = {}", quoted(by));
    }
    let _ = writeln!(s, "reference = {}", quoted(&found.reference.to_string()));
    let verdict = match found.verdict {
        crate::Verdict::Pass => "pass",
        crate::Verdict::Fail => "fail",
        crate::Verdict::Unknown | crate::Verdict::NotRun => "unknown",
    };
    let _ = writeln!(s, "verdict = {}", quoted(verdict));
    let failed: Vec<String> = found.failed.iter().map(|f| quoted(f)).collect();
    let _ = writeln!(s, "failed = [{}]", failed.join(", "));
    s
}

/// `phase` as a `[[phases]]` table.
pub fn phase(phase: &Phase) -> String {
    let mut s = String::from("[[phases]]\n");
    let _ = writeln!(s, "name = {}", quoted(&phase.name));
    if phase.drawn {
        s.push_str("drawn = true\n");
    }
    let list = |s: &mut String, ops: &[Op], indent: &str| {
        s.push_str("[\n");
        for op in ops {
            let _ = writeln!(s, "{indent}    {},", step(op));
        }
        let _ = write!(s, "{indent}]");
    };
    match &phase.tracks[..] {
        [track] if track.name.is_none() => {
            s.push_str("do = ");
            list(&mut s, &track.ops, "");
            s.push('\n');
        }
        tracks => {
            s.push_str("[phases.tracks]\n");
            for track in tracks {
                let _ = write!(s, "{} = ", quoted(track.name.as_deref().unwrap_or("main")));
                list(&mut s, &track.ops, "");
                s.push('\n');
            }
        }
    }
    s
}

/// One operation, as an entry of a `do` list.
pub fn step(op: &Op) -> String {
    let on = |name: &str, service: &str, rest: &str| {
        format!("{{ op = \"{name}\", service = {}{rest} }}", quoted(service))
    };
    match op {
        Op::Daemon(op) => quoted(op.name()),
        Op::Service { service, op } => match *op {
            ServiceOp::Signal { signal } => on("crash", service, &signal_key(signal)),
            ServiceOp::Exit { code } => on("exit", service, &format!(", code = {code}")),
            ServiceOp::Oom => on("oom", service, ""),
            ServiceOp::Inspect => on("inspect", service, ""),
            ServiceOp::BindSource { present: false } => on("remove-bind-source", service, ""),
            ServiceOp::BindSource { present: true } => on("restore-bind-source", service, ""),
            ServiceOp::Api(call) => match call {
                ApiCall::Start => on("docker-start", service, ""),
                ApiCall::Stop { timeout_s } => on("docker-stop", service, &timeout(timeout_s)),
                ApiCall::Restart { timeout_s } => {
                    on("docker-restart", service, &timeout(timeout_s))
                }
                ApiCall::Kill { signal } => on(
                    "docker-kill",
                    service,
                    &signal_key(if signal == 0 { 9 } else { signal }),
                ),
                ApiCall::Pause => on("docker-pause", service, ""),
                ApiCall::Unpause => on("docker-unpause", service, ""),
                ApiCall::RemoveForce => on("docker-rm", service, ""),
                ApiCall::UpdateRestartPolicy { policy } => on(
                    "docker-update",
                    service,
                    &format!(", restart = {}", quoted(&policy.to_string())),
                ),
            },
        },
        Op::Wait(wait) => match wait {
            Wait::For { ms } => format!("{{ op = \"wait\", for = {} }}", secs(*ms)),
            Wait::Until { ms } => format!("{{ op = \"wait\", until = {} }}", secs(*ms)),
            Wait::Starts {
                service,
                count,
                timeout_ms,
            } => counting("starts", service, *count, *timeout_ms),
            Wait::Dies {
                service,
                count,
                timeout_ms,
            } => counting("dies", service, *count, *timeout_ms),
            Wait::State {
                service,
                state,
                timeout_ms,
            } => format!(
                "{{ op = \"wait\", service = {}, state = {}, timeout = {} }}",
                quoted(service),
                quoted(state.name()),
                secs(*timeout_ms)
            ),
            Wait::Health {
                service,
                health,
                timeout_ms,
            } => format!(
                "{{ op = \"wait\", service = {}, health = {}, timeout = {} }}",
                quoted(service),
                quoted(health.as_str()),
                secs(*timeout_ms)
            ),
        },
    }
}

fn counting(kind: &str, service: &str, count: u64, timeout_ms: u64) -> String {
    format!(
        "{{ op = \"wait\", service = {}, {kind} = {count}, timeout = {} }}",
        quoted(service),
        secs(timeout_ms)
    )
}

fn signal_key(number: i32) -> String {
    match signal::name(number) {
        Some(name) => format!(", signal = \"{}\"", name.trim_start_matches("SIG")),
        None => format!(", signal = \"{number}\""),
    }
}

fn timeout(timeout_s: Option<i64>) -> String {
    timeout_s.map_or_else(String::new, |t| format!(", timeout = {t}"))
}

/// Milliseconds as seconds, exactly (`1.5`, `10`, `0.007`).
fn secs(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
            .trim_end_matches('0')
            .to_owned()
    }
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}
