//! Operations written back as a scenario file spells them, so that a drawn schedule can be
//! read, kept, and run again as an explicit scenario (the parser reads it back to the same
//! operations: `tests.rs` holds it to that).

use std::fmt::Write as _;

use halab_model::{ApiCall, Op, ServiceOp, Wait, signal};

use crate::scenario::Phase;

/// `phase` as a `[[phases]]` table.
pub fn phase(phase: &Phase) -> String {
    let mut s = String::from("[[phases]]\n");
    let _ = writeln!(s, "name = {}", quoted(&phase.name));
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
