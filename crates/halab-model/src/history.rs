//! The history of a run: what the daemon did, what the harness did, and what was observed.
//!
//! A history is the one record that checks and reports read. It is pure data, ordered by time;
//! the Docker side fills it from the events stream and `inspect`, the simulator fills it from the
//! model, and both produce the same shape.

use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch, as the daemon stamps events (`timeNano`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Nanos(pub i64);

impl Nanos {
    pub const fn from_millis(ms: i64) -> Nanos {
        Nanos(ms * 1_000_000)
    }

    /// Milliseconds from `earlier` to `self` (negative if `self` is earlier).
    pub fn millis_since(self, earlier: Nanos) -> i64 {
        self.0.saturating_sub(earlier.0) / 1_000_000
    }

    /// `nanos` later. Virtual time saturates at the end of `i64` (the year 2262) rather than
    /// wrapping: every duration a scenario can ask for is bounded far below that, so saturation
    /// only ever stands in for "never".
    pub const fn plus_nanos(self, nanos: i64) -> Nanos {
        Nanos(self.0.saturating_add(nanos))
    }

    /// `secs` seconds later, saturating like [`Nanos::plus_nanos`].
    pub const fn plus_secs(self, secs: i64) -> Nanos {
        self.plus_nanos(secs.saturating_mul(1_000_000_000))
    }

    /// `duration` later, saturating like [`Nanos::plus_nanos`].
    pub fn plus(self, duration: std::time::Duration) -> Nanos {
        self.plus_nanos(i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// Where an entry came from: it matters when judging how much to trust its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The daemon's events stream; `at` is the daemon's own timestamp.
    Events,
    /// Reconstructed from `inspect` after the stream was cut (daemon down): the event itself was
    /// lost with the daemon's in-memory ring, `at` is `State.StartedAt` or `State.FinishedAt`.
    Inspect,
    /// Something the harness did or measured; `at` is the host clock.
    Harness,
}

/// What a container did, as the events stream names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum ContainerAction {
    Create,
    Start,
    Die { exit_code: i64 },
    Kill { signal: String },
    Stop,
    Oom,
    Pause,
    Unpause,
    Restart,
    Destroy,
}

impl ContainerAction {
    /// The action as the events stream spells it.
    pub fn name(&self) -> &'static str {
        match self {
            ContainerAction::Create => "create",
            ContainerAction::Start => "start",
            ContainerAction::Die { .. } => "die",
            ContainerAction::Kill { .. } => "kill",
            ContainerAction::Stop => "stop",
            ContainerAction::Oom => "oom",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
            ContainerAction::Restart => "restart",
            ContainerAction::Destroy => "destroy",
        }
    }
}

/// What happened to the daemon, as the harness did it and saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaemonAction {
    /// The harness asked the daemon to stop: SIGTERM (`crash: false`) or SIGKILL (`crash: true`).
    StopRequested { crash: bool },
    /// The daemon process has exited.
    Stopped,
    /// The harness started the daemon process.
    StartRequested,
    /// The daemon answers its API again.
    Ready,
    /// The daemon went away without the harness asking it to: its process exited (a lab
    /// daemon, whose `pid` halab watches) or its events stream ended (a daemon halab does not
    /// own). Killed from outside, or crashed by itself: either way the run did not plan it.
    Lost { pid: Option<u32> },
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Happening {
    Container {
        /// The container's name (without the leading `/`).
        container: String,
        #[serde(flatten)]
        action: ContainerAction,
    },
    Daemon {
        action: DaemonAction,
    },
    /// A scenario phase began.
    Phase {
        name: String,
    },
    /// The harness read the service's counter.
    Counter {
        value: u64,
    },
}

/// One entry of a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub at: Nanos,
    pub source: Source,
    #[serde(flatten)]
    pub what: Happening,
}

/// A run's history, ordered by `at` (entries with equal times keep the order they were added in).
///
/// Serialised as the list of its entries. Besides them it keeps two tallies up to date as
/// entries arrive — how many times each container started, and where the last daemon action
/// is — because a run waits on them after every entry: read from the entries each time, a long
/// simulated run would take time quadratic in its length.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Entry>", into = "Vec<Entry>")]
pub struct History {
    entries: Vec<Entry>,
    /// `start` entries per container.
    starts: std::collections::BTreeMap<String, usize>,
    /// The position of the last daemon action.
    last_daemon: Option<usize>,
}

impl From<Vec<Entry>> for History {
    fn from(entries: Vec<Entry>) -> History {
        let mut history = History::new();
        for entry in entries {
            history.record(entry);
        }
        history
    }
}

impl From<History> for Vec<Entry> {
    fn from(history: History) -> Vec<Entry> {
        history.entries
    }
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    /// Adds an entry in time order. Entries reconstructed after the fact land where they belong.
    pub fn record(&mut self, entry: Entry) {
        let at = self.entries.partition_point(|e| e.at <= entry.at);
        if let Happening::Container {
            container,
            action: ContainerAction::Start,
        } = &entry.what
        {
            *self.starts.entry(container.clone()).or_default() += 1;
        }
        self.last_daemon = match (&entry.what, self.last_daemon) {
            (Happening::Daemon { .. }, Some(last)) if last >= at => Some(last + 1),
            (Happening::Daemon { .. }, _) => Some(at),
            (_, Some(last)) if last >= at => Some(last + 1),
            (_, last) => last,
        };
        self.entries.insert(at, entry);
    }

    /// How many times `container` started (the same as `starts(container).count()`, at once).
    pub fn start_count(&self, container: &str) -> usize {
        self.starts.get(container).copied().unwrap_or(0)
    }

    /// The last daemon action by position in the history, at once.
    pub fn last_daemon_action(&self) -> Option<(Nanos, DaemonAction)> {
        let entry = &self.entries[self.last_daemon?];
        match entry.what {
            Happening::Daemon { action } => Some((entry.at, action)),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The actions of one container, in order, with their times.
    pub fn container_actions<'a>(
        &'a self,
        container: &'a str,
    ) -> impl Iterator<Item = (Nanos, &'a ContainerAction)> + 'a {
        self.container_actions_in(container, 0..self.entries.len())
    }

    /// The actions of one container among the entries at positions `span` (see
    /// [`History::phase_span`]).
    pub fn container_actions_in<'a>(
        &'a self,
        container: &'a str,
        span: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (Nanos, &'a ContainerAction)> + 'a {
        self.entries[span]
            .iter()
            .filter_map(move |e| match &e.what {
                Happening::Container {
                    container: c,
                    action,
                } if c == container => Some((e.at, action)),
                _ => None,
            })
    }

    /// The times a container was started.
    pub fn starts<'a>(&'a self, container: &'a str) -> impl Iterator<Item = Nanos> + 'a {
        self.container_actions(container)
            .filter(|(_, a)| matches!(a, ContainerAction::Start))
            .map(|(at, _)| at)
    }

    /// The times the harness saw a daemon action.
    pub fn daemon_actions(&self) -> impl Iterator<Item = (Nanos, DaemonAction)> + '_ {
        self.entries.iter().filter_map(|e| match e.what {
            Happening::Daemon { action } => Some((e.at, action)),
            _ => None,
        })
    }

    /// The counter readings, in order.
    pub fn counter_readings(&self) -> impl Iterator<Item = (Nanos, u64)> + '_ {
        self.entries.iter().filter_map(|e| match e.what {
            Happening::Counter { value } => Some((e.at, value)),
            _ => None,
        })
    }

    /// The entries of a phase, by position: from its `Phase` entry to the next phase's (or the
    /// end). Positions, not times, decide: an entry stamped at the very instant a phase begins
    /// but recorded before it belongs to the phase before (the simulator makes such ties).
    pub fn phase_span(&self, name: &str) -> Option<std::ops::Range<usize>> {
        let is_phase = |e: &Entry| matches!(e.what, Happening::Phase { .. });
        let start = self
            .entries
            .iter()
            .position(|e| matches!(&e.what, Happening::Phase { name: n } if n == name))?;
        let end = self.entries[start + 1..]
            .iter()
            .position(is_phase)
            .map_or(self.entries.len(), |i| start + 1 + i);
        Some(start..end)
    }

    /// When a phase began, if it did.
    pub fn phase_start(&self, name: &str) -> Option<Nanos> {
        self.entries.iter().find_map(|e| match &e.what {
            Happening::Phase { name: n } if n == name => Some(e.at),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(at: i64, source: Source) -> Entry {
        Entry {
            at: Nanos(at),
            source,
            what: Happening::Container {
                container: "svc".into(),
                action: ContainerAction::Start,
            },
        }
    }

    #[test]
    fn late_entries_land_in_time_order() {
        let mut h = History::new();
        h.record(start(10, Source::Events));
        h.record(start(30, Source::Events));
        h.record(start(20, Source::Inspect));
        let times: Vec<i64> = h.starts("svc").map(|n| n.0).collect();
        assert_eq!(times, [10, 20, 30]);
        assert_eq!(h.entries()[1].source, Source::Inspect);
    }

    #[test]
    fn tallies_follow_entries_in_any_order() {
        let daemon = |at: i64, action| Entry {
            at: Nanos(at),
            source: Source::Harness,
            what: Happening::Daemon { action },
        };
        let mut h = History::new();
        h.record(start(10, Source::Events));
        h.record(daemon(20, DaemonAction::Stopped));
        h.record(start(30, Source::Events));
        h.record(start(15, Source::Inspect));
        assert_eq!(h.start_count("svc"), 3);
        assert_eq!(h.start_count("other"), 0);
        assert_eq!(
            h.last_daemon_action(),
            Some((Nanos(20), DaemonAction::Stopped))
        );
        h.record(daemon(5, DaemonAction::Ready));
        assert_eq!(
            h.last_daemon_action(),
            Some((Nanos(20), DaemonAction::Stopped)),
            "an older daemon entry is not the last"
        );
        h.record(daemon(40, DaemonAction::StartRequested));
        assert_eq!(h.last_daemon_action().map(|(at, _)| at), Some(Nanos(40)));
        let json = serde_json::to_string(&h).unwrap();
        let back: History = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h, "tallies are rebuilt from the entries");
        assert_eq!(h.daemon_actions().last(), h.last_daemon_action());
    }

    #[test]
    fn entries_serialise_flat() {
        let e = Entry {
            at: Nanos(5),
            source: Source::Events,
            what: Happening::Container {
                container: "svc".into(),
                action: ContainerAction::Die { exit_code: 137 },
            },
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at": 5, "source": "events", "kind": "container",
                               "container": "svc", "action": "die", "exit_code": 137})
        );
        assert_eq!(serde_json::from_value::<Entry>(json).unwrap(), e);
    }
}
