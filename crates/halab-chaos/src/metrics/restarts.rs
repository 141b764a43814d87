//! Automatic restarts: each `die` the daemon followed with a `start` of its own, its delay
//! beside the delay the model's back-off gives the same restart.
//!
//! Read as the oracle reads them (`oracle::compare`): the daemon's own events, less those
//! logged while it shut down (they reach nobody); a restart is a `die` then a `start` with no
//! operation on the service or the daemon invoked between them and no daemon restart around
//! them. The model's restarts are found the same way in its replay of the run and paired with
//! the observed ones in order, as the oracle pairs them.

use halab_model::{ContainerAction, DaemonOp, Happening, History, Nanos, Op, Source};
use serde::{Deserialize, Serialize};

use super::ms_between;
use crate::oracle::Replayed;

/// One automatic restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restart {
    /// When the service died, in ms since the run's first entry.
    pub at_ms: f64,
    pub die_position: usize,
    pub start_position: usize,
    /// From the `die` to the `start`.
    pub observed_ms: f64,
    /// The model's delay for the same restart (the same count of restarts into the run);
    /// `None` when the model restarts fewer times.
    pub expected_ms: Option<f64>,
}

/// A container event as both sides are read: when, what, and how many of the run's
/// operations had been invoked by then.
struct Seen {
    at: Nanos,
    die: bool,
    start: bool,
    position: usize,
    ops_done: usize,
}

type Window = (Nanos, Nanos);

/// What both sides are read against.
struct Frame {
    /// The daemon shutting down: from a stop's invoke to its end.
    blind: Vec<Window>,
    /// From a daemon stop (or loss) until it answers again: a start there is the daemon's
    /// restore, not a back-off.
    restarting: Vec<Window>,
    /// The indices (among the run's operations) of those that act on the service or the daemon.
    acting: Vec<usize>,
}

/// Every automatic restart of `service`, with the model's delay for it.
pub fn restarts(history: &History, service: &str, replayed: &Replayed) -> Vec<Restart> {
    let first = history.entries().first().map_or(Nanos(0), |e| e.at);
    let end = history.entries().last().map_or(Nanos(0), |e| e.at);
    let spans = history.op_spans();
    let frame = Frame {
        blind: spans
            .iter()
            .filter(|s| s.daemon_op().is_some_and(DaemonOp::ends_daemon))
            .map(|s| (s.invoked, s.ended.map_or(end, |(t, _)| t)))
            .collect(),
        restarting: history
            .daemon_outages()
            .iter()
            .map(|o| (o.from, o.until.unwrap_or(end)))
            .collect(),
        acting: spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.op.acts())
            .filter(|(_, s)| match s.op {
                Op::Daemon(_) => true,
                Op::Service { service: s2, .. } => s2 == service,
                Op::Wait(_) => false,
            })
            .map(|(i, _)| i)
            .collect(),
    };
    let observed: Vec<Seen> = history
        .entries()
        .iter()
        .enumerate()
        .filter(|(_, e)| e.source == Source::Events)
        .filter_map(|(position, e)| match &e.what {
            Happening::Container {
                service: s, action, ..
            } if s == service => seen(
                e.at,
                action,
                position,
                spans.partition_point(|s| s.position < position),
            ),
            _ => None,
        })
        .collect();
    let predicted: Vec<Seen> = replayed
        .events
        .get(service)
        .into_iter()
        .flatten()
        .filter_map(|p| seen(p.at, &p.action, 0, p.ops_done))
        .collect();
    let expected = gaps(&frame, &predicted);
    gaps(&frame, &observed)
        .into_iter()
        .enumerate()
        .map(|(n, (die, start))| Restart {
            at_ms: ms_between(first, die.at),
            die_position: die.position,
            start_position: start.position,
            observed_ms: ms_between(die.at, start.at),
            expected_ms: expected.get(n).map(|(d, s)| ms_between(d.at, s.at)),
        })
        .collect()
}

/// An event as the comparison counts it: creations and removals are not part of the story, nor
/// is health, which no restart follows.
fn seen(at: Nanos, action: &ContainerAction, position: usize, ops_done: usize) -> Option<Seen> {
    if matches!(
        action,
        ContainerAction::Create | ContainerAction::Destroy | ContainerAction::HealthStatus { .. }
    ) {
        return None;
    }
    Some(Seen {
        at,
        die: matches!(action, ContainerAction::Die { .. }),
        start: matches!(action, ContainerAction::Start),
        position,
        ops_done,
    })
}

fn within(at: Nanos, windows: &[Window]) -> bool {
    windows.iter().any(|&(from, to)| from <= at && at <= to)
}

/// The automatic restarts among `events`: each a `die` and the `start` right after it.
fn gaps<'a>(frame: &Frame, events: &'a [Seen]) -> Vec<(&'a Seen, &'a Seen)> {
    // Events logged while the daemon shut down reach no client: left out on both sides.
    let events: Vec<&Seen> = events
        .iter()
        .filter(|e| !frame.blind.iter().any(|&(a, b)| a <= e.at && e.at < b))
        .collect();
    events
        .windows(2)
        .filter_map(|pair| {
            let (die, start) = (pair[0], pair[1]);
            let acted = frame
                .acting
                .iter()
                .any(|i| (die.ops_done..start.ops_done).contains(i));
            let automatic = die.die
                && start.start
                && !acted
                && !within(die.at, &frame.restarting)
                && !within(start.at, &frame.restarting);
            automatic.then_some((die, start))
        })
        .collect()
}
