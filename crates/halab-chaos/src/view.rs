//! What a person sees while a run goes on, fed from the history as it grows — so a simulated
//! run shows the same lines as a real one, stamped with its virtual time. Each line says what
//! happened, when (seconds since the run began), and to whom; on a terminal, a status line under
//! them sums up the services and the daemon. Everything goes to stderr, so stdout stays for
//! the summary or the JSON result.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use halab_model::{
    ContainerAction, DaemonAction, Entry, Happening, Nanos, Op, OpStep, ServiceState,
};

/// How a run reports progress.
pub trait View: Send {
    /// A line about what the harness is doing.
    fn note(&mut self, line: &str);
    /// Phase `index` of `count` begins (or is skipped).
    fn phase(&mut self, index: usize, count: usize, name: &str, skipped: bool);
    /// New history entries, in the order they were recorded; `start` is when the run began, in
    /// the runtime's time.
    fn entries(&mut self, entries: &[Entry], start: Nanos);
    /// The run's daemon is ready and its first phase is about to begin.
    fn started(&mut self, _run: &crate::runner::Started) {}
}

/// The view for stderr: a status line when it is a terminal, plain lines either way.
pub fn for_stderr() -> Box<dyn View> {
    Box::new(StderrView {
        live: std::io::stderr().is_terminal(),
        last: Nanos(0),
        status: Status::default(),
    })
}

/// A view that shows nothing (for library users and tests that only want the report).
pub struct Silent;

impl View for Silent {
    fn note(&mut self, _: &str) {}
    fn phase(&mut self, _: usize, _: usize, _: &str, _: bool) {}
    fn entries(&mut self, _: &[Entry], _: Nanos) {}
}

struct StderrView {
    live: bool,
    /// Seconds of the run shown last (notes and phases are stamped with it).
    last: Nanos,
    status: Status,
}

/// `\r` + clear line: the status line is redrawn in place on a terminal.
const CLEAR: &str = "\r\x1b[2K";

impl StderrView {
    /// One line of progress. `text` may quote a daemon's error or a name from a file: its
    /// control characters are shown escaped (ours, the status line's, are added after).
    fn line(&self, text: &str) {
        let clear = if self.live { CLEAR } else { "" };
        say(&format!(
            "{clear}{:>7.1}s  {}\n",
            self.last.0 as f64 / 1e9,
            crate::text::one_line(text)
        ));
    }

    fn redraw(&self) {
        if self.live {
            say(&format!(
                "{CLEAR}{}",
                crate::text::one_line(&self.status.render(self.last))
            ));
        }
    }
}

impl View for StderrView {
    fn note(&mut self, line: &str) {
        self.line(line);
        self.redraw();
    }

    fn phase(&mut self, index: usize, count: usize, name: &str, skipped: bool) {
        let what = if skipped {
            " (skipped: daemon phase on a daemon halab does not own)"
        } else {
            ""
        };
        self.status.phase = name.to_owned();
        self.line(&format!("── phase {}/{count}: {name}{what}", index + 1));
        self.redraw();
    }

    fn entries(&mut self, entries: &[Entry], start: Nanos) {
        for entry in entries {
            self.last = Nanos(entry.at.0.saturating_sub(start.0).max(self.last.0));
            self.status.sees(entry);
            if let Some(line) = describe(entry) {
                self.line(&line);
            }
        }
        self.redraw();
    }
}

/// Writes progress to stderr. A closed stderr (`halab … 2>&1 | head`, a closed terminal) must
/// not stop a run, and above all not its teardown, so write errors are ignored.
fn say(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// The services and the daemon as the history shows them so far.
#[derive(Default)]
struct Status {
    phase: String,
    services: BTreeMap<String, (ServiceState, u64, Option<u64>)>,
    daemon_up: bool,
    /// Operations done that change something (faults, on a chaos run).
    acted: u64,
}

impl Status {
    fn sees(&mut self, entry: &Entry) {
        if let Happening::Op {
            op,
            step: OpStep::Invoke,
            ..
        } = &entry.what
            && op.acts()
        {
            self.acted += 1;
        }
        match &entry.what {
            Happening::Container {
                service, action, ..
            } => {
                let s =
                    self.services
                        .entry(service.clone())
                        .or_insert((ServiceState::Exited, 0, None));
                if let Some(state) = ServiceState::after(action) {
                    s.0 = state;
                }
                if *action == ContainerAction::Start {
                    s.1 += 1;
                }
            }
            Happening::Counter { service, value, .. } => {
                self.services
                    .entry(service.clone())
                    .or_insert((ServiceState::Exited, 0, None))
                    .2 = Some(*value);
            }
            Happening::Op {
                op: Op::Daemon(op),
                step,
                ..
            } => {
                self.daemon_up = match step {
                    OpStep::Invoke => false,
                    OpStep::Ok { .. } => !op.ends_daemon(),
                    _ => self.daemon_up,
                };
            }
            Happening::Daemon { action, .. } => {
                self.daemon_up = matches!(action, DaemonAction::Ready);
            }
            _ => {}
        }
    }

    fn render(&self, now: Nanos) -> String {
        let services: Vec<String> = self
            .services
            .iter()
            .map(|(name, (state, starts, counter))| {
                let counter = counter.map_or(String::new(), |c| format!(", counter {c}"));
                format!("{name} {} ({starts} starts{counter})", state.name())
            })
            .collect();
        format!(
            "[{}] {} · daemon {} · {} ops · {:.1}s",
            if self.phase.is_empty() {
                "setup"
            } else {
                &self.phase
            },
            services.join(" · "),
            if self.daemon_up { "up" } else { "down" },
            self.acted,
            now.0 as f64 / 1e9
        )
    }
}

/// One plain line for an entry worth showing.
fn describe(entry: &Entry) -> Option<String> {
    Some(match &entry.what {
        Happening::Container {
            service, action, ..
        } => match action {
            ContainerAction::Die { exit_code } => format!("{service} die (exit {exit_code})"),
            ContainerAction::Kill { signal } => format!("{service} kill ({signal})"),
            ContainerAction::HealthStatus { .. } => format!("{service} {}", action.short()),
            other => format!("{service} {}", other.name()),
        },
        Happening::Daemon { action, .. } => match action {
            DaemonAction::Lost { pid: Some(pid) } => {
                format!("daemon: LOST (dockerd pid {pid} exited; halab did not stop it)")
            }
            DaemonAction::Lost { pid: None } => {
                "daemon: LOST (its events stream ended; halab did not stop it)".into()
            }
            DaemonAction::Ready => "daemon: answering again".into(),
            DaemonAction::Stopped => "daemon: exited".into(),
        },
        Happening::Op { op, step, .. } => match (op, step) {
            (Op::Wait(_) | Op::Service { .. }, OpStep::Ok { .. }) => return None,
            (_, OpStep::Invoke) => format!("→ {op}"),
            (Op::Daemon(op), OpStep::Ok { .. }) => {
                if op.ends_daemon() {
                    "daemon: exited".into()
                } else {
                    "daemon: answering".into()
                }
            }
            (_, OpStep::Fail { error }) => format!("✗ {op}: {error}"),
            (_, OpStep::Info { error }) => format!("? {op}: {error}"),
        },
        Happening::Counter { service, value, .. } => format!("{service} counter = {value}"),
        Happening::Phase { .. } | Happening::Probe { .. } => return None,
    })
}
