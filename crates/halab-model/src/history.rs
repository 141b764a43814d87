//! The history of a run: what the harness did, what the daemon did, and what was observed.
//!
//! A history is the one record that checks, the oracle and reports read. It is pure data,
//! ordered by time; the Docker side fills it from the events stream and `inspect`, the simulator
//! from the model, and both produce the same shape. As in Jepsen, every operation the harness
//! performs is recorded twice: an `invoke` when it begins, then an `ok`, a `fail` (it was
//! refused: nothing happened) or an `info` (its outcome is unknown: the connection dropped, say)
//! when it ends — beside the observations: the daemon's events, counter readings, the daemon
//! lost or back. Every entry names its node (the daemon) and, for a container, its service.

use serde::{Deserialize, Serialize};

use crate::health::HealthStatus;
use crate::op::{DaemonOp, Op, ServiceState};

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
    Die {
        exit_code: i64,
    },
    Kill {
        signal: String,
    },
    Stop,
    Oom,
    Pause,
    Unpause,
    Restart,
    Destroy,
    /// `health_status: STATUS`: a health probe changed the container's health.
    HealthStatus {
        status: HealthStatus,
    },
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
            ContainerAction::HealthStatus { .. } => "health_status",
        }
    }

    /// A short spelling for tables and messages: `die(143)`, `kill(15)`, else the name.
    pub fn short(&self) -> String {
        match self {
            ContainerAction::Die { exit_code } => format!("die({exit_code})"),
            ContainerAction::Kill { signal } => format!("kill({signal})"),
            ContainerAction::HealthStatus { status } => format!("health_status: {status}"),
            other => other.name().to_owned(),
        }
    }
}

/// What the daemon itself did, as opposed to what was done to it (a daemon [`Op`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaemonAction {
    /// The daemon process has exited (in the model: the end of `Shutdown`, or a crash).
    Stopped,
    /// The daemon answers its API again (in a history: back without halab having started it).
    Ready,
    /// The daemon went away without the harness asking it to: its process exited (a lab
    /// daemon, whose `pid` halab watches) or its events stream ended (a daemon halab does not
    /// own). Killed from outside, or crashed by itself: either way the run did not plan it.
    Lost { pid: Option<u32> },
}

/// How far an operation has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum OpStep {
    /// It begins.
    Invoke,
    /// It was done; an inspection carries what it read.
    Ok {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read: Option<Inspected>,
    },
    /// It was refused, and nothing happened (a 409, a wait that timed out).
    Fail { error: String },
    /// Its outcome is unknown (the connection dropped, the daemon died mid-call).
    Info { error: String },
}

impl OpStep {
    /// Whether this entry ends the operation.
    pub fn ends(&self) -> bool {
        !matches!(self, OpStep::Invoke)
    }
}

/// What `docker inspect` showed of a service's container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspected {
    /// `State.Status`: created, running, paused, restarting, exited, dead (or `removed`).
    pub status: String,
    pub exit_code: i64,
    pub restart_count: i64,
    /// `State.Health.Status` (`starting`, `healthy`, `unhealthy`), for a container with a
    /// health check that has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Happening {
    /// What a service's container did, as its daemon's events stream says.
    Container {
        node: String,
        service: String,
        #[serde(flatten)]
        action: ContainerAction,
    },
    /// What the daemon did without being asked.
    Daemon { node: String, action: DaemonAction },
    /// An operation halab performed: one entry when it began, one when it ended (same `id`).
    Op {
        node: String,
        id: u64,
        #[serde(flatten)]
        step: OpStep,
        op: Op,
    },
    /// A scenario phase began.
    Phase { name: String },
    /// halab started a probe container of its own and the daemon took `start_ms` to start it:
    /// the daemon's start latency under the run's load, which the oracle's tolerances follow.
    Probe { node: String, start_ms: i64 },
    /// The harness read a service's counter.
    Counter {
        node: String,
        service: String,
        value: u64,
    },
}

/// An operation as the history tells it: when it began, and how and when it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpSpan<'a> {
    pub id: u64,
    pub node: &'a str,
    pub op: &'a Op,
    pub invoked: Nanos,
    /// Where its `invoke` entry is in the history.
    pub position: usize,
    /// How it ended, and when; `None` for an operation the history does not see end (a run cut
    /// short).
    pub ended: Option<(Nanos, &'a OpStep)>,
}

impl OpSpan<'_> {
    pub fn is_ok(&self) -> bool {
        matches!(self.ended, Some((_, OpStep::Ok { .. })))
    }

    /// The daemon op, if it is one.
    pub fn daemon_op(&self) -> Option<DaemonOp> {
        match self.op {
            Op::Daemon(op) => Some(*op),
            _ => None,
        }
    }
}

/// A time the daemon was not up: see [`History::daemon_outages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// The stop or crash was asked for, or the daemon was lost.
    pub from: Nanos,
    /// Its process was gone (the stop's `ok`, or the loss).
    pub down_at: Option<Nanos>,
    /// The harness asked it to start again.
    pub start_asked: Option<Nanos>,
    /// It answered again.
    pub until: Option<Nanos>,
    pub from_position: usize,
    /// Nobody asked: the daemon was lost.
    pub lost: bool,
}

impl Outage {
    /// An outage that begins at `at`, with the entry at `position`.
    fn from(at: Nanos, position: usize) -> Outage {
        Outage {
            from: at,
            down_at: None,
            start_asked: None,
            until: None,
            from_position: position,
            lost: false,
        }
    }
}

/// One entry of a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub at: Nanos,
    pub source: Source,
    /// When halab recorded it, by the host clock, for an entry stamped by the daemon (an
    /// event): `seen - at` is how long the news took to reach halab (detection latency).
    /// `None` for what the harness stamped itself, and in the simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Nanos>,
    #[serde(flatten)]
    pub what: Happening,
}

impl Entry {
    /// An entry stamped `at` and not seen later than that.
    pub fn new(at: Nanos, source: Source, what: Happening) -> Entry {
        Entry {
            at,
            source,
            seen: None,
            what,
        }
    }
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
    /// `start` and `die` entries per service.
    starts: std::collections::BTreeMap<String, usize>,
    dies: std::collections::BTreeMap<String, usize>,
    /// Each service's state as its latest event (by time) says, and that event's time.
    states: std::collections::BTreeMap<String, (Nanos, ServiceState)>,
    /// Each service's health as its latest `health_status` event since its latest start says,
    /// and that event's time.
    health: std::collections::BTreeMap<String, (Nanos, Option<HealthStatus>)>,
    /// The position of the last entry that says what state the daemon is in: the daemon's own
    /// (stopped, ready, lost), or a daemon op that ended well.
    last_daemon_state: Option<usize>,
}

/// Keeps `slot` (a position) right when an entry is inserted at `at`: it points there when the
/// entry is `hit`, else it moves with the entries it pointed to.
fn track(slot: &mut Option<usize>, hit: bool, at: usize) {
    *slot = match (hit, *slot) {
        (true, Some(last)) if last >= at => Some(last + 1),
        (true, _) => Some(at),
        (false, Some(last)) if last >= at => Some(last + 1),
        (false, last) => last,
    };
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
            service, action, ..
        } = &entry.what
        {
            match action {
                ContainerAction::Start => *self.starts.entry(service.clone()).or_default() += 1,
                ContainerAction::Die { .. } => *self.dies.entry(service.clone()).or_default() += 1,
                _ => {}
            }
            if let Some(state) = ServiceState::after(action) {
                let slot = self
                    .states
                    .entry(service.clone())
                    .or_insert((entry.at, state));
                if entry.at >= slot.0 {
                    *slot = (entry.at, state);
                }
            }
            // A start resets the health (`initHealthMonitor`), without an event.
            let health = match action {
                ContainerAction::Start => Some(None),
                ContainerAction::HealthStatus { status } => Some(Some(*status)),
                _ => None,
            };
            if let Some(health) = health {
                let slot = self
                    .health
                    .entry(service.clone())
                    .or_insert((entry.at, health));
                if entry.at >= slot.0 {
                    *slot = (entry.at, health);
                }
            }
        }
        // A daemon operation that failed, or whose outcome is unknown, says nothing new of the
        // daemon: a loss recorded while a start was failing stays the last word.
        let daemon_state = matches!(
            &entry.what,
            Happening::Daemon { .. }
                | Happening::Op {
                    op: Op::Daemon(_),
                    step: OpStep::Ok { .. },
                    ..
                }
        );
        track(&mut self.last_daemon_state, daemon_state, at);
        self.entries.insert(at, entry);
    }

    /// How many times `service` started (the same as `starts(service).count()`, at once).
    pub fn start_count(&self, service: &str) -> usize {
        self.starts.get(service).copied().unwrap_or(0)
    }

    /// How many times `service` died, at once.
    pub fn die_count(&self, service: &str) -> usize {
        self.dies.get(service).copied().unwrap_or(0)
    }

    /// `service`'s state as its latest event says (`None` before any), at once.
    pub fn service_state(&self, service: &str) -> Option<ServiceState> {
        self.states.get(service).map(|(_, state)| *state)
    }

    /// `service`'s health as its `health_status` events since its latest start say (`None`
    /// before any), at once.
    pub fn service_health(&self, service: &str) -> Option<HealthStatus> {
        self.health.get(service).and_then(|(_, health)| *health)
    }

    /// Whether the daemon is lost and not back: the last entry that says what state the daemon
    /// is in is a loss — not a daemon start that ended well, nor the daemon answering again.
    /// What the harness tried meanwhile (a stop, a start that failed) does not bring it back.
    pub fn daemon_lost(&self) -> bool {
        matches!(
            self.last_daemon_state
                .and_then(|i| self.entries.get(i))
                .map(|e| &e.what),
            Some(Happening::Daemon {
                action: DaemonAction::Lost { .. },
                ..
            })
        )
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The actions of one service's container, in order, with their times.
    pub fn container_actions<'a>(
        &'a self,
        service: &'a str,
    ) -> impl Iterator<Item = (Nanos, &'a ContainerAction)> + 'a {
        self.container_actions_in(service, 0..self.entries.len())
    }

    /// The actions of one service's container among the entries at positions `span` (see
    /// [`History::phase_span`]).
    pub fn container_actions_in<'a>(
        &'a self,
        service: &'a str,
        span: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (Nanos, &'a ContainerAction)> + 'a {
        self.entries[span]
            .iter()
            .filter_map(move |e| match &e.what {
                Happening::Container {
                    service: s, action, ..
                } if s == service => Some((e.at, action)),
                _ => None,
            })
    }

    /// The times a service's container was started.
    pub fn starts<'a>(&'a self, service: &'a str) -> impl Iterator<Item = Nanos> + 'a {
        self.container_actions(service)
            .filter(|(_, a)| matches!(a, ContainerAction::Start))
            .map(|(at, _)| at)
    }

    /// What the daemon did without being asked (lost, back), with the times.
    pub fn daemon_actions(&self) -> impl Iterator<Item = (Nanos, DaemonAction)> + '_ {
        self.entries.iter().filter_map(|e| match e.what {
            Happening::Daemon { action, .. } => Some((e.at, action)),
            _ => None,
        })
    }

    /// A service's counter readings, in order.
    pub fn counter_readings<'a>(
        &'a self,
        service: &'a str,
    ) -> impl Iterator<Item = (Nanos, u64)> + 'a {
        self.entries.iter().filter_map(move |e| match &e.what {
            Happening::Counter {
                service: s, value, ..
            } if s == service => Some((e.at, *value)),
            _ => None,
        })
    }

    /// Every operation, in the order they began, each with how it ended.
    pub fn op_spans(&self) -> Vec<OpSpan<'_>> {
        let mut spans: Vec<OpSpan<'_>> = Vec::new();
        let mut open: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
        for (position, e) in self.entries.iter().enumerate() {
            let Happening::Op { node, id, step, op } = &e.what else {
                continue;
            };
            match step {
                OpStep::Invoke => {
                    open.insert(*id, spans.len());
                    spans.push(OpSpan {
                        id: *id,
                        node,
                        op,
                        invoked: e.at,
                        position,
                        ended: None,
                    });
                }
                ended => {
                    if let Some(i) = open.remove(id) {
                        spans[i].ended = Some((e.at, ended));
                    }
                }
            }
        }
        spans
    }

    /// When the daemon was down or on its way down or up, as the harness's daemon operations
    /// and the losses tell it: from a stop (or crash) being asked for, or a loss, to the daemon
    /// answering again (a start's `ok`, or its return). The end is `None` while it has not
    /// come back.
    pub fn daemon_outages(&self) -> Vec<Outage> {
        let mut outages: Vec<Outage> = Vec::new();
        let mut current: Option<Outage> = None;
        for (position, e) in self.entries.iter().enumerate() {
            match &e.what {
                Happening::Op {
                    op: Op::Daemon(op),
                    step,
                    ..
                } => match (op.ends_daemon(), step) {
                    (true, OpStep::Invoke) => {
                        current.get_or_insert(Outage::from(e.at, position));
                    }
                    (true, OpStep::Ok { .. }) => {
                        if let Some(o) = current.as_mut() {
                            o.down_at.get_or_insert(e.at);
                        }
                    }
                    (false, OpStep::Invoke) => {
                        if let Some(o) = current.as_mut() {
                            o.start_asked.get_or_insert(e.at);
                        }
                    }
                    (false, OpStep::Ok { .. }) => {
                        if let Some(mut o) = current.take() {
                            o.until = Some(e.at);
                            outages.push(o);
                        }
                    }
                    _ => {}
                },
                Happening::Daemon { action, .. } => match action {
                    DaemonAction::Lost { .. } | DaemonAction::Stopped => {
                        let o = current.get_or_insert(Outage::from(e.at, position));
                        o.down_at.get_or_insert(e.at);
                        o.lost |= matches!(action, DaemonAction::Lost { .. });
                    }
                    DaemonAction::Ready => {
                        if let Some(mut o) = current.take() {
                            o.until = Some(e.at);
                            outages.push(o);
                        }
                    }
                },
                _ => {}
            }
        }
        outages.extend(current);
        outages
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
    use crate::op::{ApiCall, ServiceOp};

    fn at(at: i64, source: Source, what: Happening) -> Entry {
        Entry::new(Nanos(at), source, what)
    }

    fn start(when: i64, source: Source) -> Entry {
        at(
            when,
            source,
            Happening::Container {
                node: "lab".into(),
                service: "svc".into(),
                action: ContainerAction::Start,
            },
        )
    }

    #[test]
    fn a_service_s_health_is_its_latest_health_event_since_its_latest_start() {
        let event = |when: i64, action: ContainerAction| {
            at(
                when,
                Source::Events,
                Happening::Container {
                    node: "lab".into(),
                    service: "svc".into(),
                    action,
                },
            )
        };
        let health = |status| ContainerAction::HealthStatus { status };
        let mut h = History::new();
        h.record(start(10, Source::Events));
        assert_eq!(h.service_health("svc"), None, "starting has no event");
        h.record(event(30, health(HealthStatus::Unhealthy)));
        assert_eq!(h.service_health("svc"), Some(HealthStatus::Unhealthy));
        // An event recorded late, out of order, does not win over a later one.
        h.record(event(20, health(HealthStatus::Healthy)));
        assert_eq!(h.service_health("svc"), Some(HealthStatus::Unhealthy));
        h.record(start(40, Source::Events));
        assert_eq!(h.service_health("svc"), None, "a start resets it");
        assert_eq!(h.service_state("svc"), Some(ServiceState::Running));
        assert_eq!(h.service_health("other"), None);
        let json = serde_json::to_string(&health(HealthStatus::Healthy)).unwrap();
        assert_eq!(json, r#"{"action":"health-status","status":"healthy"}"#);
    }

    fn op(when: i64, id: u64, step: OpStep, op: Op) -> Entry {
        at(
            when,
            Source::Harness,
            Happening::Op {
                node: "lab".into(),
                id,
                step,
                op,
            },
        )
    }

    /// A start that fails because dockerd died under it (the loss is recorded first) leaves the
    /// daemon lost; a start that succeeds afterwards brings it back.
    #[test]
    fn a_failed_daemon_operation_does_not_hide_a_loss() {
        let start = Op::Daemon(DaemonOp::Start);
        let mut h = History::new();
        h.record(op(1, 1, OpStep::Invoke, start.clone()));
        h.record(at(
            2,
            Source::Harness,
            Happening::Daemon {
                node: "lab".into(),
                action: DaemonAction::Lost { pid: Some(7) },
            },
        ));
        h.record(op(
            3,
            1,
            OpStep::Info {
                error: "dockerd exited before answering".into(),
            },
            start.clone(),
        ));
        assert!(h.daemon_lost());
        h.record(op(4, 2, OpStep::Invoke, Op::Daemon(DaemonOp::Stop)));
        assert!(h.daemon_lost(), "asking for a stop does not bring it back");
        h.record(op(5, 3, OpStep::Invoke, start.clone()));
        h.record(op(6, 3, OpStep::Ok { read: None }, start));
        assert!(!h.daemon_lost());
    }

    const OK: OpStep = OpStep::Ok { read: None };

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
        let lost = |when: i64| {
            at(
                when,
                Source::Harness,
                Happening::Daemon {
                    node: "lab".into(),
                    action: DaemonAction::Lost { pid: Some(7) },
                },
            )
        };
        let mut h = History::new();
        h.record(start(10, Source::Events));
        h.record(lost(20));
        h.record(start(30, Source::Events));
        h.record(start(15, Source::Inspect));
        assert_eq!(h.start_count("svc"), 3);
        assert_eq!(h.start_count("other"), 0);
        assert!(h.daemon_lost());
        h.record(op(5, 1, OpStep::Invoke, Op::Daemon(DaemonOp::Start)));
        assert!(h.daemon_lost(), "an older daemon entry is not the last");
        h.record(op(40, 2, OpStep::Invoke, Op::Daemon(DaemonOp::Start)));
        assert!(h.daemon_lost(), "a start asked for is not a start done");
        h.record(op(
            41,
            2,
            OpStep::Ok { read: None },
            Op::Daemon(DaemonOp::Start),
        ));
        assert!(!h.daemon_lost());
        let json = serde_json::to_string(&h).unwrap();
        let back: History = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h, "tallies are rebuilt from the entries");
    }

    #[test]
    fn ops_pair_up_and_outages_follow_them() {
        let mut h = History::new();
        h.record(op(10, 1, OpStep::Invoke, Op::Daemon(DaemonOp::Stop)));
        h.record(op(20, 1, OK, Op::Daemon(DaemonOp::Stop)));
        h.record(op(30, 2, OpStep::Invoke, Op::Daemon(DaemonOp::Start)));
        let kill = Op::on("svc", ServiceOp::Api(ApiCall::Kill { signal: 9 }));
        h.record(op(35, 3, OpStep::Invoke, kill.clone()));
        h.record(op(40, 2, OK, Op::Daemon(DaemonOp::Start)));
        h.record(op(
            45,
            3,
            OpStep::Fail {
                error: "409".into(),
            },
            kill,
        ));
        let spans = h.op_spans();
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].ended.map(|(t, _)| t), Some(Nanos(20)));
        assert!(spans[1].is_ok());
        assert!(matches!(spans[2].ended, Some((_, OpStep::Fail { .. }))));
        let outages = h.daemon_outages();
        assert_eq!(outages.len(), 1);
        let o = outages[0];
        assert_eq!(
            (o.from, o.down_at, o.start_asked, o.until),
            (Nanos(10), Some(Nanos(20)), Some(Nanos(30)), Some(Nanos(40)))
        );
        assert!(!o.lost);
    }

    #[test]
    fn entries_serialise_flat() {
        let e = at(
            5,
            Source::Events,
            Happening::Container {
                node: "lab".into(),
                service: "svc".into(),
                action: ContainerAction::Die { exit_code: 137 },
            },
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at": 5, "source": "events", "kind": "container", "node": "lab",
                               "service": "svc", "action": "die", "exit_code": 137})
        );
        assert_eq!(serde_json::from_value::<Entry>(json).unwrap(), e);
        let invoke = op(6, 9, OpStep::Invoke, Op::Daemon(DaemonOp::Crash));
        let json = serde_json::to_value(&invoke).unwrap();
        assert_eq!(json["type"], "invoke");
        assert_eq!(json["id"], 9);
        assert_eq!(serde_json::from_value::<Entry>(json).unwrap(), invoke);
    }
}
