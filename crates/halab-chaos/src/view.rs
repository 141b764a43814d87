//! What a person sees while a run goes on: a live status line on a terminal, plain lines
//! otherwise. Both go to stderr, so stdout stays for the summary or the JSON result.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use halab_docker::{Docker, Recorder, containers};
use halab_model::{ContainerAction, DaemonAction, Entry, Happening, History};

/// How a run reports progress.
pub trait View: Send {
    /// A line about what the harness is doing.
    fn note(&mut self, line: &str);
    /// Phase `index` of `count` begins (or is skipped).
    fn phase(&mut self, index: usize, count: usize, name: &str, skipped: bool);
    /// Starts showing the service's state from the history; the task ends when aborted.
    fn watch(
        &mut self,
        recorder: Recorder,
        docker: Docker,
        container: String,
    ) -> tokio::task::JoinHandle<()>;
}

/// The view for stderr: live when it is a terminal, plain lines when it is not.
pub fn for_stderr() -> Box<dyn View> {
    Box::new(StderrView {
        live: std::io::stderr().is_terminal(),
        started: Instant::now(),
    })
}

/// A view that shows nothing (for library users and tests that only want the report).
pub struct Silent;

impl View for Silent {
    fn note(&mut self, _: &str) {}
    fn phase(&mut self, _: usize, _: usize, _: &str, _: bool) {}
    fn watch(&mut self, _: Recorder, _: Docker, _: String) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async {})
    }
}

struct StderrView {
    live: bool,
    started: Instant,
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
            self.started.elapsed().as_secs_f64(),
            crate::text::one_line(text)
        ));
    }
}

impl View for StderrView {
    fn note(&mut self, line: &str) {
        self.line(line);
    }

    fn phase(&mut self, index: usize, count: usize, name: &str, skipped: bool) {
        let what = if skipped {
            " (skipped: daemon phase on a daemon halab does not own)"
        } else {
            ""
        };
        self.line(&format!("── phase {}/{count}: {name}{what}", index + 1));
    }

    fn watch(
        &mut self,
        recorder: Recorder,
        docker: Docker,
        container: String,
    ) -> tokio::task::JoinHandle<()> {
        let live = self.live;
        let started = self.started;
        tokio::spawn(async move {
            let mut changes = recorder.subscribe();
            let mut shown = 0;
            let mut restart_count = None;
            let mut redraw = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = redraw.tick(), if live => {}
                }
                let fresh = recorder.arrivals_since(shown);
                let status = recorder.with(|h| Status::of(h, &container));
                shown += fresh.len();
                let container_moved = fresh
                    .iter()
                    .any(|e| matches!(e.what, Happening::Container { .. }));
                if container_moved && status.daemon_up {
                    // Event-driven: RestartCount is asked for when the container did something.
                    restart_count = containers::inspect(&docker, &container)
                        .await
                        .ok()
                        .and_then(|c| c.restart_count);
                }
                let elapsed = started.elapsed().as_secs_f64();
                if live {
                    let line = status.render(restart_count, elapsed);
                    say(&format!("{CLEAR}{}", crate::text::one_line(&line)));
                } else {
                    for entry in fresh.iter().filter_map(|e| describe(e, &container)) {
                        say(&format!("{elapsed:>7.1}s  {entry}\n"));
                    }
                }
            }
        })
    }
}

/// Writes progress to stderr. A closed stderr (`halab … 2>&1 | head`) must not stop a run, and
/// above all not its teardown, so write errors are ignored (`eprint!` would panic).
fn say(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// The service and daemon as the history shows them now.
struct Status {
    phase: String,
    state: &'static str,
    daemon_up: bool,
    counter: Option<u64>,
    starts: usize,
}

impl Status {
    fn of(h: &History, container: &str) -> Status {
        let phase = h
            .entries()
            .iter()
            .rev()
            .find_map(|e| match &e.what {
                Happening::Phase { name } => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "setup".into());
        let daemon_up = !matches!(
            h.last_daemon_action(),
            Some((
                _,
                DaemonAction::Stopped
                    | DaemonAction::StopRequested { .. }
                    | DaemonAction::StartRequested
                    | DaemonAction::Lost { .. }
            ))
        );
        let state = match h.container_actions(container).last().map(|(_, a)| a) {
            None => "created",
            Some(ContainerAction::Start | ContainerAction::Unpause) => "running",
            Some(
                ContainerAction::Die { .. } | ContainerAction::Kill { .. } | ContainerAction::Oom,
            ) => "exited",
            Some(ContainerAction::Stop) => "stopped",
            Some(ContainerAction::Pause) => "paused",
            Some(ContainerAction::Destroy) => "removed",
            Some(ContainerAction::Create | ContainerAction::Restart) => "created",
        };
        Status {
            phase,
            state,
            daemon_up,
            counter: h.counter_readings().last().map(|(_, v)| v),
            starts: h.starts(container).count(),
        }
    }

    fn render(&self, restart_count: Option<i64>, elapsed: f64) -> String {
        format!(
            "[{}] counter {}  starts {}  RestartCount {}  service {}  daemon {}  {elapsed:.1}s",
            self.phase,
            self.counter.map_or("?".into(), |v| v.to_string()),
            self.starts,
            restart_count.map_or("?".into(), |v| v.to_string()),
            self.state,
            if self.daemon_up { "up" } else { "down" },
        )
    }
}

/// One plain line for an entry worth showing.
fn describe(entry: &Entry, container: &str) -> Option<String> {
    Some(match &entry.what {
        Happening::Container {
            container: c,
            action,
        } if c == container => match action {
            ContainerAction::Die { exit_code } => format!("service die (exit {exit_code})"),
            ContainerAction::Kill { signal } => format!("service kill ({signal})"),
            other => format!("service {}", other.name()),
        },
        Happening::Container { .. } => return None,
        Happening::Daemon { action } => match action {
            DaemonAction::StopRequested { crash: true } => "daemon: SIGKILL".into(),
            DaemonAction::StopRequested { crash: false } => "daemon: SIGTERM".into(),
            DaemonAction::Stopped => "daemon: exited".into(),
            DaemonAction::StartRequested => "daemon: starting".into(),
            DaemonAction::Ready => "daemon: answering".into(),
            DaemonAction::Lost { pid: Some(pid) } => {
                format!("daemon: LOST (dockerd pid {pid} exited; halab did not stop it)")
            }
            DaemonAction::Lost { pid: None } => {
                "daemon: LOST (its events stream ended; halab did not stop it)".into()
            }
        },
        Happening::Counter { value } => format!("counter = {value}"),
        Happening::Phase { .. } => return None,
    })
}
