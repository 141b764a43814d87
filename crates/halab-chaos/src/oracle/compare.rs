//! The oracle's properties: what the daemon did, service by service, against what the model
//! predicts — the events in order, each automatic restart's delay, the state every inspection
//! read — and the daemon's own stops and starts, each a verdict with its evidence.
//!
//! Both sides are read the same way. The events a daemon logs while it shuts down (from the
//! stop being asked for until its process is gone) reach no client — its API listener is closed
//! first — so they are left out on both sides; so are events reconstructed from `inspect`
//! after the fact. What the history cannot decide is `unknown`, never `pass`: events after the
//! daemon was lost under the run, or after an operation whose outcome is unknown; a difference
//! that follows an operation the harness did while the daemon was between two states (the
//! model had moved on, the daemon not yet, or the other way round).

use halab_model::{
    ContainerAction, DaemonOp, History, Nanos, Observed, Op, OpSpan, OpStep, ServiceOp, Source,
};

use super::replay::{Predicted, Replayed};
use super::slack::{EARLY_MS, Slack};
use crate::checks::{CheckResult, Evidence, Mark, Subject, Verdict};
use crate::scenario::HealthCheck;

/// From one time to another, both included.
type Window = (Nanos, Nanos);

fn within(at: Nanos, windows: &[Window]) -> bool {
    windows.iter().any(|&(from, to)| from <= at && at <= to)
}

/// A daemon shutting down, whose events reach no client: from its stop's invoke — by order,
/// not time: what was recorded (or predicted) before the invoke is not in it, even at the same
/// instant of virtual time — up to, not including, the moment the daemon is seen gone (what
/// happens at that moment is the next operation's: in virtual time the start that follows a
/// crash is invoked at the very instant the crash ends).
struct Shutdown {
    /// Where the stop's invoke is in the history.
    position: usize,
    /// The stop's index among the run's operations.
    index: usize,
    to: Nanos,
}

impl Shutdown {
    fn hides(&self, seen: &Seen) -> bool {
        let after_invoke = match seen.position {
            Some(position) => position > self.position,
            None => seen.ops_done > self.index,
        };
        after_invoke && seen.at < self.to
    }
}

fn in_shutdown(seen: &Seen, shutdowns: &[Shutdown]) -> bool {
    shutdowns.iter().any(|s| s.hides(seen))
}

/// An event as the comparison sees it.
#[derive(Debug, Clone)]
struct Seen {
    at: Nanos,
    action: ContainerAction,
    /// Its place in the history (observed events only).
    position: Option<usize>,
    /// How many of the run's operations had been invoked when it happened: what orders it
    /// against them when they share an instant (virtual time does that).
    ops_done: usize,
}

/// An operation the harness did to a service or to the daemon.
struct Action<'s, 'h> {
    at: Nanos,
    /// Its index among the run's operations.
    index: usize,
    span: &'s OpSpan<'h>,
}

/// Whether the `events` property counts `action`: not the creation and removal halab does, nor
/// health, which `final-health` judges (see `health.rs`).
fn counted(action: &ContainerAction) -> bool {
    !matches!(
        action,
        ContainerAction::Create | ContainerAction::Destroy | ContainerAction::HealthStatus { .. }
    )
}

/// What the comparison needs of the run's operations and the daemon's life.
struct Frame<'a> {
    history: &'a History,
    spans: Vec<OpSpan<'a>>,
    /// The daemon shutting down: its events reach nobody.
    blind: Vec<Shutdown>,
    /// From a daemon stop (or crash, or loss) until it answers again: a start there is not a
    /// back-off restart.
    restarting: Vec<Window>,
    /// From here on nothing can be judged: the daemon lost under the run.
    lost_at: Option<Nanos>,
    /// The history was cut short here: an operation invoked that it never sees end (a run
    /// killed, a recording truncated). What came after, the final state included, is unknown.
    cut_short: Option<Nanos>,
    /// The end of the history.
    end: Nanos,
    first: Nanos,
}

impl<'a> Frame<'a> {
    fn mark(&self, at: Nanos, position: Option<usize>, text: String) -> Mark {
        Mark {
            at_ms: at.millis_since(self.first),
            position,
            text,
        }
    }

    /// When the harness acted on `service` (or on the daemon): every non-wait operation's
    /// invoke, with the operation.
    fn actions_on(&self, service: &str) -> Vec<Action<'_, 'a>> {
        self.spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.op.acts())
            .filter(|(_, s)| match s.op {
                Op::Daemon(_) => true,
                Op::Service { service: s2, .. } => s2 == service,
                Op::Wait(_) => false,
            })
            .map(|(index, span)| Action {
                at: span.invoked,
                index,
                span,
            })
            .collect()
    }

    /// How many operations had been invoked before the entry at `position`.
    fn ops_before(&self, position: usize) -> usize {
        self.spans.partition_point(|s| s.position < position)
    }

    /// From when `service`'s events cannot be judged: the daemon lost, or an operation on it
    /// (or on the daemon) whose outcome is unknown.
    fn cut_for(&self, service: &str) -> Option<Nanos> {
        let unknown_op = self
            .spans
            .iter()
            .filter(|s| matches!(s.ended, Some((_, OpStep::Info { .. }))))
            .filter(|s| match s.op {
                Op::Daemon(_) => true,
                Op::Service { service: s2, .. } => s2 == service,
                Op::Wait(_) => false,
            })
            .map(|s| s.invoked)
            .min();
        [self.lost_at, unknown_op, self.cut_short]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Every property of the run. `replayed` is the model's account of the run with each daemon
/// start's `restore` placed as early and as late as the history allows (see `RestoreAt`): a
/// service's history is the daemon's if either explains it; the daemon's own timing is judged by
/// the earliest, the model's own.
pub fn properties(
    run: &Subject<'_>,
    [early, late]: [&Replayed; 2],
    slack: &Slack,
) -> Vec<CheckResult> {
    let history = run.history;
    let spans = history.op_spans();
    let end = history.entries().last().map_or(Nanos(0), |e| e.at);
    let first = history.entries().first().map_or(Nanos(0), |e| e.at);
    let blind: Vec<Shutdown> = spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.daemon_op().is_some_and(DaemonOp::ends_daemon))
        .map(|(index, s)| Shutdown {
            position: s.position,
            index,
            to: s.ended.map_or(end, |(t, _)| t),
        })
        .collect();
    let outages = history.daemon_outages();
    let restarting: Vec<Window> = outages
        .iter()
        .map(|o| (o.from, o.until.unwrap_or(end)))
        .collect();
    let lost_at = outages.iter().filter(|o| o.lost).map(|o| o.from).min();
    let cut_short = spans
        .iter()
        .filter(|s| s.ended.is_none())
        .map(|s| s.invoked)
        .min();
    let frame = Frame {
        history,
        spans,
        blind,
        restarting,
        lost_at,
        cut_short,
        end,
        first,
    };
    let mut results = Vec::new();
    for service in &run.scenario.services {
        let judged = |replayed: &Replayed| {
            let mut results = service_properties(
                &frame,
                &service.name,
                service.healthcheck.as_ref(),
                replayed,
                slack,
            );
            results.extend(super::answers::answers(
                history,
                &service.name,
                replayed,
                slack,
                first,
            ));
            results
        };
        let by_early = judged(early);
        let fails = |r: &[CheckResult]| r.iter().any(|c| c.verdict == Verdict::Fail);
        if fails(&by_early) {
            let by_late = judged(late);
            results.extend(if fails(&by_late) { by_early } else { by_late });
        } else {
            results.extend(by_early);
        }
    }
    results.extend(daemon_properties(&frame, early, slack));
    results
}

fn service_properties(
    frame: &Frame<'_>,
    service: &str,
    healthcheck: Option<&HealthCheck>,
    replayed: &Replayed,
    slack: &Slack,
) -> Vec<CheckResult> {
    let observed: Vec<Seen> = frame
        .history
        .entries()
        .iter()
        .enumerate()
        .filter(|(_, e)| e.source == Source::Events)
        .filter_map(|(position, e)| match &e.what {
            halab_model::Happening::Container {
                service: s, action, ..
            } if s == service && counted(action) => Some(Seen {
                at: e.at,
                action: action.clone(),
                position: Some(position),
                ops_done: frame.ops_before(position),
            }),
            _ => None,
        })
        .filter(|seen| !in_shutdown(seen, &frame.blind))
        .collect();
    let predicted: Vec<Seen> = replayed
        .events
        .get(service)
        .into_iter()
        .flatten()
        .filter(|p: &&Predicted| counted(&p.action))
        .map(|p| Seen {
            at: p.at,
            action: p.action.clone(),
            position: None,
            ops_done: p.ops_done,
        })
        .filter(|seen| !in_shutdown(seen, &frame.blind))
        .collect();
    let actions = frame.actions_on(service);
    let observed = one_oom_per_kill(without_relayed_ooms(
        observed,
        &predicted,
        &actions,
        &frame.restarting,
        slack,
    ));
    let cut = frame.cut_for(service);
    let (events, raced_at) = events(frame, service, &observed, &predicted, &actions, cut, slack);
    let mut results = vec![events];
    if results[0].verdict == Verdict::Pass
        && let Some(delays) = restart_delays(frame, service, &observed, &predicted, &actions, slack)
    {
        results.push(delays);
    }
    // Where the events cannot say which of two states the service went to, no later state can
    // be compared with the model's either.
    let undecided_from = [cut, raced_at].into_iter().flatten().min();
    results.extend(states(frame, service, replayed, undecided_from, slack));
    if let Some(check) = healthcheck {
        let run = super::health::Run {
            history: frame.history,
            spans: &frame.spans,
            service,
            check,
            undecided_from,
            cut_short: frame.cut_short.is_some(),
        };
        results.push(super::health::final_health(&run, replayed, slack));
    }
    results
}

/// The restores in which a process ended unseen may be heard of: from each daemon start that
/// followed an operation on the service (one `acted` says may end it) done while the daemon was
/// down, to the end of the outage the start ends. By the operations' order, not their times:
/// in virtual time they all happen at one instant.
fn restores_after(
    actions: &[Action<'_, '_>],
    restarting: &[Window],
    acted: impl Fn(&ServiceOp) -> bool,
) -> Vec<Window> {
    let (mut down, mut acted_while_down) = (false, false);
    let mut restores = Vec::new();
    for a in actions {
        match a.span.op {
            Op::Daemon(DaemonOp::Start) => {
                if down && acted_while_down {
                    restores.extend(
                        restarting
                            .iter()
                            .filter(|&&(from, to)| from <= a.at && a.at <= to)
                            .map(|&(_, to)| (a.at, to)),
                    );
                }
                (down, acted_while_down) = (false, false);
            }
            Op::Daemon(op) if op.ends_daemon() => down = true,
            Op::Service { op, .. } if down && acted(op) => acted_while_down = true,
            _ => {}
        }
    }
    restores
}

/// The `oom` of an OOM kill done while the daemon was down, logged when it came back — or not.
/// No daemon hears the kill itself (the model logs nothing for it), but its notice can reach
/// the next one: the shim re-sends an event containerd did not take (its publisher retries
/// for about 15 s), and the cgroup's removal in `restore` can wake the shim's OOM watcher
/// again; either way moby logs `oom` for it (`daemon.ProcessEvent`, `EventOOM`) if it arrives
/// once the container is registered. Whether it does is timing, not a decision of the daemon,
/// and it changes no state: in the daemon's restore (up to the slack after it answers again),
/// such an `oom` is dropped, not compared — unless the model logs one there itself.
fn without_relayed_ooms(
    observed: Vec<Seen>,
    predicted: &[Seen],
    actions: &[Action<'_, '_>],
    restarting: &[Window],
    slack: &Slack,
) -> Vec<Seen> {
    let late = slack.late_ns();
    let reach = |(from, to): Window, at: Nanos| from <= at && at.0 <= to.0.saturating_add(late);
    let killed_while_down: Vec<Window> =
        restores_after(actions, restarting, |op| *op == ServiceOp::Oom)
            .into_iter()
            .filter(|&window| {
                !predicted
                    .iter()
                    .any(|p| p.action == ContainerAction::Oom && reach(window, p.at))
            })
            .collect();
    observed
        .into_iter()
        .filter(|seen| {
            seen.action != ContainerAction::Oom
                || !killed_while_down
                    .iter()
                    .any(|&window| reach(window, seen.at))
        })
        .collect()
}

/// One `oom` event for each OOM kill. moby 20.10 logs an `oom` for every OOM event containerd
/// forwards (`daemon.ProcessEvent`, `EventOOM`), and the kernel may count several OOM kills in
/// one episode while the workload's processes die (seen on a lab: 1 event once, 10 the next
/// time, for the same workload): how many is not the daemon's behaviour but the kernel's timing.
/// The model logs one; a burst of them in a row is read as one.
fn one_oom_per_kill(observed: Vec<Seen>) -> Vec<Seen> {
    let mut kept: Vec<Seen> = Vec::with_capacity(observed.len());
    for seen in observed {
        let repeat = seen.action == ContainerAction::Oom
            && kept
                .last()
                .is_some_and(|last| last.action == ContainerAction::Oom);
        if repeat {
            continue;
        }
        // The `oom` of a kill logged after its `die`: containerd forwards the shim's OOM
        // notice (the cgroup's eventfd) and the task's exit as two events, and moby logs each
        // as it comes (`daemon.ProcessEvent`: `EventOOM` logs `oom`, `EventExit` runs
        // `handleContainerExit`, which logs `die`), so their order is containerd's delivery,
        // not the daemon's decision (seen on a loaded lab: `die 137`, then `oom` 170 ms later).
        // Read as the model logs them: `oom`, then `die`, at the die's time.
        // A later `oom` of the same burst, after the pair, is a repeat.
        if seen.action == ContainerAction::Oom
            && let Some(die) = kept.pop()
        {
            let killed = matches!(die.action, ContainerAction::Die { exit_code: 137 });
            let paired = kept
                .last()
                .is_some_and(|last| last.action == ContainerAction::Oom);
            if killed && !paired {
                kept.push(Seen {
                    at: die.at,
                    ..seen.clone()
                });
            }
            kept.push(die);
            if killed {
                continue;
            }
        }
        kept.push(seen);
    }
    kept
}

/// The service's events, in order, are the model's; and, when a race leaves the history unable
/// to decide, from when.
fn events(
    frame: &Frame<'_>,
    service: &str,
    observed: &[Seen],
    predicted: &[Seen],
    actions: &[Action<'_, '_>],
    cut: Option<Nanos>,
    slack: &Slack,
) -> (CheckResult, Option<Nanos>) {
    const NAME: &str = "events";
    let before = |seen: &[Seen]| -> usize {
        cut.map_or(seen.len(), |cut| {
            seen.iter().take_while(|e| e.at < cut).count()
        })
    };
    let (o_n, p_n) = (before(observed), before(predicted));
    let (o, p) = (&observed[..o_n], &predicted[..p_n]);
    let said = |seen: &[Seen]| seen.iter().map(|e| e.action.short()).collect::<Vec<_>>();
    let differs_at = (0..o.len().max(p.len()))
        .find(|&i| o.get(i).map(|e| e.action.short()) != p.get(i).map(|e| e.action.short()));
    let base = |verdict, detail| {
        CheckResult::new(NAME, service, verdict, detail)
            .fact("observed", said(observed))
            .fact("predicted", said(predicted))
    };
    let Some(i) = differs_at else {
        let result = if let Some(cut) = cut {
            base(
                Verdict::Unknown,
                format!(
                    "{} events as the model predicts; after +{} ms the history cannot say (the daemon was lost, an operation's outcome is unknown, or the history was cut short)",
                    o_n,
                    cut.millis_since(frame.first)
                ),
            )
        } else {
            base(
                Verdict::Pass,
                format!(
                    "{} events, as the model predicts: {}",
                    o_n,
                    said(o).join(" ")
                ),
            )
        };
        return (result, None);
    };
    // The last operation before the difference, on either side's clock.
    let at = [o.get(i).map(|e| e.at), p.get(i).map(|e| e.at)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(frame.end);
    let led_there = actions.iter().rev().find(|a| a.at <= at).map(|a| a.span);
    let op_mark = led_there.map(|s| frame.mark(s.invoked, Some(s.position), s.op.to_string()));
    let evidence = vec![Evidence {
        what: format!("event {} of {service}", i + 1),
        observed: o
            .get(i)
            .map(|e| frame.mark(e.at, e.position, e.action.short())),
        predicted: p.get(i).map(|e| frame.mark(e.at, None, e.action.short())),
        op: op_mark,
    }];
    // A race: the harness acted between the model's and the daemon's time of an earlier pair;
    // or the difference is the order of an operation and the program's own exit, which the
    // daemon decided and the timestamps cannot tell when they are this close.
    let raced_before = (0..i.min(o.len()).min(p.len())).any(|k| {
        let (a, b) = (o[k].at.min(p[k].at), o[k].at.max(p[k].at));
        b.millis_since(a) > EARLY_MS && actions.iter().any(|x| x.at > a && x.at < b)
    });
    let late = slack.late_ns();
    let stopping = |e: &Seen| {
        matches!(
            e.action,
            ContainerAction::Die { .. } | ContainerAction::Kill { .. } | ContainerAction::Stop
        )
    };
    let raced_exit = match (o.get(i), p.get(i)) {
        (Some(oe), Some(pe)) if stopping(oe) && stopping(pe) => {
            let (a, b) = (oe.at.min(pe.at), oe.at.max(pe.at));
            actions
                .iter()
                .any(|x| x.at.0 >= a.0.saturating_sub(late) && x.at.0 <= b.0.saturating_add(late))
        }
        _ => false,
    };
    // A SIGKILL held by a frozen process kills it the moment it is thawed: containerd's
    // `TaskResumed` (logged `unpause` while the daemon still thinks it paused) and `TaskExit`
    // race out of the shim (its resume call returning against its reaper), and a lab has shown
    // both orders. The model logs one; the other is a race the history cannot decide.
    let killed = |e: Option<&Seen>| {
        e.is_some_and(|e| matches!(e.action, ContainerAction::Die { exit_code: 137 }))
    };
    let unpause = |e: Option<&Seen>| e.is_some_and(|e| e.action == ContainerAction::Unpause);
    let raced_thaw = (unpause(o.get(i)) && killed(p.get(i)) && killed(o.get(i + 1)))
        || (unpause(p.get(i)) && killed(o.get(i)) && killed(p.get(i + 1)));
    // A container that ended while its daemon was down has two ends in the daemon's restore:
    // `restore` reads its task as dead, deletes it and marks it stopped, logging nothing; and
    // the shim's exit can reach the new daemon too — re-sent by the shim to a containerd that
    // was down, or published by containerd as it cleans up after the dead shim. When that
    // `TaskExit` reaches the container before `restore` has marked it stopped,
    // `handleContainerExit` logs `die` — with the real exit code while the task is there, 255
    // once `restore` has deleted it (`DeleteTask`, libcontainerd/remote/client.go, 20.10) — and
    // asks a restart manager that `restore` may cancel: whether and when the container starts
    // again is that interleaving's (a lab has shown it left exited after `die(255)`). The model
    // follows `restore` alone; a `die` in a restore of a container whose process the harness
    // ended while the daemon was down is the history saying it raced.
    let ends_the_process = |op: &ServiceOp| {
        matches!(
            op,
            ServiceOp::Signal { .. } | ServiceOp::Exit { .. } | ServiceOp::Oom
        )
    };
    let restores = restores_after(actions, &frame.restarting, ends_the_process);
    let raced_restore = o.get(i).is_some_and(|e| {
        matches!(e.action, ContainerAction::Die { .. })
            && restores
                .iter()
                .any(|&(from, to)| from <= e.at && e.at.0 <= to.0.saturating_add(late))
    });
    let raced = raced_before || raced_exit || raced_thaw || raced_restore;
    // The run ended before the daemon could do what the model predicts it does at the end.
    let tail_from = frame.end.plus_nanos(-slack.late_ns());
    let only_late_tail = o.len() == i && p[i..].iter().all(|e| e.at >= tail_from);
    let (verdict, why) = if raced_restore {
        (
            Verdict::Unknown,
            "; the exit of a container that ended while the daemon was down reached the daemon during its restore and raced it (`handleContainerExit` against `restore`), so the history cannot decide",
        )
    } else if raced {
        (
            Verdict::Unknown,
            "; the harness acted while the daemon and the model were between two states, so the history cannot decide",
        )
    } else if only_late_tail {
        (
            Verdict::Unknown,
            "; the run ended before the daemon could do what the model predicts there",
        )
    } else {
        (Verdict::Fail, "")
    };
    let shown = |seen: Option<&Seen>| seen.map_or("nothing".to_owned(), |e| e.action.short());
    let result = base(
        verdict,
        format!(
            "event {}: the daemon did {}, the model predicts {}{why}",
            i + 1,
            shown(o.get(i)),
            shown(p.get(i))
        ),
    )
    .with_evidence(evidence);
    // The race began up to the slack before the events that differ.
    let undecided_from = at.plus_nanos(-slack.late_ns());
    (result, raced.then_some(undecided_from))
}

/// Automatic restarts: a `die` followed by a `start` with no operation in between that could
/// have started it (a `docker start` or `restart`; a daemon start is a restart window) and no
/// daemon restart around them. An operation that cannot start a container — a
/// `docker update`, say, while a back-off restart is pending — does not make the restart it
/// lands in front of a manual one: the daemon's timer starts it all the same.
fn gaps(seen: &[Seen], actions: &[Action<'_, '_>], restarting: &[Window]) -> Vec<(usize, i64)> {
    (1..seen.len())
        .filter_map(|i| {
            let (die, start) = (&seen[i - 1], &seen[i]);
            let acted = actions
                .iter()
                .filter(|a| can_start(a.span.op))
                .any(|a| (die.ops_done..start.ops_done).contains(&a.index));
            let automatic = matches!(die.action, ContainerAction::Die { .. })
                && matches!(start.action, ContainerAction::Start)
                && !acted
                && !within(die.at, restarting)
                && !within(start.at, restarting);
            automatic.then(|| (i, start.at.millis_since(die.at)))
        })
        .collect()
}

/// Whether `op` may start a container by itself.
fn can_start(op: &Op) -> bool {
    matches!(
        op,
        Op::Daemon(DaemonOp::Start)
            | Op::Service {
                op: ServiceOp::Api(
                    halab_model::ApiCall::Start | halab_model::ApiCall::Restart { .. }
                ),
                ..
            }
    )
}

/// Each automatic restart comes after the model's back-off: never earlier (less clock
/// granularity), at most the run's slack later.
fn restart_delays(
    frame: &Frame<'_>,
    service: &str,
    observed: &[Seen],
    predicted: &[Seen],
    actions: &[Action<'_, '_>],
    slack: &Slack,
) -> Option<CheckResult> {
    const NAME: &str = "restart-delays";
    let o = gaps(observed, actions, &frame.restarting);
    let p = gaps(predicted, actions, &frame.restarting);
    if o.is_empty() && p.is_empty() {
        return None;
    }
    let facts = |r: CheckResult| {
        r.fact("observed_ms", o.iter().map(|g| g.1).collect::<Vec<_>>())
            .fact("predicted_ms", p.iter().map(|g| g.1).collect::<Vec<_>>())
            .fact("early_ms", slack.early_ms)
            .fact("late_ms", slack.late_ms)
    };
    if o.len() != p.len() {
        return Some(facts(CheckResult::new(
            NAME,
            service,
            Verdict::Fail,
            format!(
                "{} automatic restarts, the model predicts {}",
                o.len(),
                p.len()
            ),
        )));
    }
    let mut evidence = Vec::new();
    for ((i, r), (j, m)) in o.iter().zip(&p) {
        if !(m - slack.early_ms..=m + slack.late_ms).contains(r) {
            evidence.push(Evidence {
                what: format!("a restart {r} ms after its die; the model says {m} ms"),
                observed: Some(frame.mark(observed[*i].at, observed[*i].position, "start".into())),
                predicted: Some(frame.mark(predicted[*j].at, None, "start".into())),
                op: None,
            });
        }
    }
    let listed: Vec<String> = o
        .iter()
        .zip(&p)
        .map(|((_, r), (_, m))| format!("{r} (model {m})"))
        .collect();
    let detail = format!(
        "die→start ms: {} (tolerance -{}/+{} ms, from the run's own starts)",
        listed.join(", "),
        slack.early_ms,
        slack.late_ms
    );
    Some(facts(
        CheckResult::passes(NAME, service, evidence.is_empty(), detail).with_evidence(evidence),
    ))
}

/// Every inspection of the service read a state the model had shortly before: the daemon lags
/// the model by up to the run's slack, so what inspect reads when called at `t` is the model's
/// state at some moment from `t` less the slack to the answer (plus clock granularity). The last inspection is
/// the final state, compared as status, exit code and `RestartCount`.
fn states(
    frame: &Frame<'_>,
    service: &str,
    replayed: &Replayed,
    cut: Option<Nanos>,
    slack: &Slack,
) -> Vec<CheckResult> {
    let inspections: Vec<&OpSpan<'_>> = frame
        .spans
        .iter()
        .filter(|s| {
            matches!(s.op, Op::Service { service: s2, op: ServiceOp::Inspect } if s2 == service)
        })
        .filter(|s| matches!(s.ended, Some((_, OpStep::Ok { read: Some(_) }))))
        .collect();
    let log: &[(Nanos, Observed)] = replayed.states.get(service).map_or(&[], Vec::as_slice);
    let mut results = Vec::new();
    // The run's last inspection reads its final state — unless the history ends before the
    // run did, and the final inspection is not in it.
    let final_read = frame.cut_short.is_none() && !inspections.is_empty();
    if !final_read {
        for name in ["final-status", "final-exit-code", "restart-count"] {
            results.push(CheckResult::new(
                name,
                service,
                Verdict::Unknown,
                "the history holds no final inspection of the service (the run was cut short): its final state is unknown".into(),
            ));
        }
    }
    for (k, span) in inspections.iter().enumerate() {
        let Some((answered, OpStep::Ok { read: Some(read) })) = span.ended else {
            continue;
        };
        let t = span.invoked;
        // The daemon read the state somewhere between the call and its answer.
        let from = t.plus_nanos(-slack.late_ns());
        let to = answered.plus_nanos(slack.early_ns());
        let candidates = states_between(log, from, to);
        let Some(&latest) = candidates.last() else {
            continue;
        };
        let after_cut = cut.is_some_and(|c| c <= t);
        let shown =
            |m: &Observed| format!("{} {} rc{}", model_status(m), m.exit_code, m.restart_count);
        let read_shown = format!(
            "{} {} rc{}",
            read.status, read.exit_code, read.restart_count
        );
        let evidence = |what: &str, observed: String, predicted: String| Evidence {
            what: what.to_owned(),
            observed: Some(frame.mark(t, Some(span.position), observed)),
            predicted: Some(frame.mark(t, None, predicted)),
            op: Some(frame.mark(t, Some(span.position), span.op.to_string())),
        };
        let verdict = |same: bool| match (after_cut, same) {
            (true, _) => Verdict::Unknown,
            (false, true) => Verdict::Pass,
            (false, false) => Verdict::Fail,
        };
        // A removed container has no exit code or `RestartCount` left to read (the daemon
        // answers 404): when the model removed it too, its status is all there is to compare.
        let gone = |m: &Observed| m.removed && read.status == model_status(m);
        let mut model_states: Vec<String> = candidates.iter().map(|m| shown(m)).collect();
        model_states.dedup();
        if k + 1 < inspections.len() || !final_read {
            let matched = candidates.iter().find(|m| {
                read.status == model_status(m)
                    && (gone(m)
                        || (read.exit_code == m.exit_code
                            && read.restart_count == i64::from(m.restart_count)))
            });
            let detail = format!(
                "at +{} ms: {read_shown}; the model, within the slack before: {}",
                t.millis_since(frame.first),
                model_states.join(" or ")
            );
            results.push(
                CheckResult::new(
                    "state-at-inspect",
                    service,
                    verdict(matched.is_some()),
                    detail,
                )
                .with_evidence(vec![evidence(
                    "the state inspect read",
                    read_shown.clone(),
                    shown(matched.copied().unwrap_or(latest)),
                )]),
            );
            continue;
        }
        // The final state: the candidate most like what was read — latest first, all three
        // the same, else status and exit code, else status — is the one compared with.
        let likeness = |m: &Observed| {
            let status = model_status(m) == read.status;
            let code = status && (gone(m) || read.exit_code == m.exit_code);
            let count = code && (gone(m) || read.restart_count == i64::from(m.restart_count));
            u8::from(status) + u8::from(code) + u8::from(count)
        };
        let model = candidates
            .iter()
            .copied()
            .max_by_key(|m| likeness(m))
            .unwrap_or(latest);
        let rc = i64::from(model.restart_count);
        let any_status = candidates.iter().any(|m| model_status(m) == read.status);
        let removed = "none: removed".to_owned();
        let (code_read, code_model, count_read, count_model) = if gone(model) {
            (removed.clone(), removed.clone(), removed.clone(), removed)
        } else {
            (
                read.exit_code.to_string(),
                model.exit_code.to_string(),
                read.restart_count.to_string(),
                rc.to_string(),
            )
        };
        for (name, observed, predicted, same) in [
            (
                "final-status",
                read.status.clone(),
                model_states.join(" or "),
                any_status,
            ),
            (
                "final-exit-code",
                code_read,
                code_model,
                gone(model) || read.exit_code == model.exit_code,
            ),
            (
                "restart-count",
                count_read,
                count_model,
                gone(model) || read.restart_count == rc,
            ),
        ] {
            let detail = if same {
                format!("{observed}, as the model predicts")
            } else {
                format!("{observed}; the model predicts {predicted}")
            };
            results.push(
                CheckResult::new(name, service, verdict(same), detail)
                    .fact("observed", &observed)
                    .fact("predicted", &predicted)
                    .with_evidence(vec![evidence(name, observed, predicted)]),
            );
        }
    }
    results
}

/// The model's states over [from, to] in `log`: the one it was in at `from`, and every later one.
fn states_between(log: &[(Nanos, Observed)], from: Nanos, to: Nanos) -> Vec<&Observed> {
    let at_from = log.iter().rev().find(|(at, _)| *at <= from).map(|(_, s)| s);
    at_from
        .into_iter()
        .chain(
            log.iter()
                .filter(|(at, _)| *at > from && *at <= to)
                .map(|(_, s)| s),
        )
        .collect()
}

fn model_status(model: &Observed) -> &'static str {
    if model.removed {
        "removed"
    } else {
        model.status.as_str()
    }
}

/// How many containers the model has the daemon start or stop within `window`.
fn containers_worked_on(replayed: &Replayed, window: Window) -> usize {
    replayed
        .events
        .values()
        .filter(|events| {
            events.iter().any(|p| {
                within(p.at, &[window])
                    && matches!(
                        p.action,
                        ContainerAction::Start | ContainerAction::Kill { .. }
                    )
            })
        })
        .count()
}

/// The daemon's stops and starts end when the model says: never earlier, at most the run's
/// daemon slack later.
fn daemon_properties(frame: &Frame<'_>, replayed: &Replayed, slack: &Slack) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let mut first_start = true;
    for span in &frame.spans {
        let Some(op) = span.daemon_op() else {
            continue;
        };
        let is_start = op == DaemonOp::Start;
        if is_start && first_start {
            first_start = false;
            if slack.daemon_start_ms.is_some()
                && !frame.history.entries()[..span.position]
                    .iter()
                    .any(|e| matches!(e.what, halab_model::Happening::Container { .. }))
            {
                // The run's own first start: the calibration, not a judgement.
                continue;
            }
        }
        let name = if is_start {
            "daemon-start-time"
        } else {
            "daemon-stop-time"
        };
        let Some((ended, OpStep::Ok { .. })) = span.ended else {
            continue;
        };
        let Some(&model_end) = replayed.daemon_ends.get(&span.id) else {
            results.push(CheckResult::new(
                name,
                "daemon",
                Verdict::Unknown,
                format!(
                    "{op} at +{} ms: the model does not end it",
                    span.invoked.millis_since(frame.first)
                ),
            ));
            continue;
        };
        let took = ended.millis_since(span.invoked);
        let predicted = model_end.millis_since(span.invoked);
        let worked_on = containers_worked_on(replayed, (span.invoked, model_end));
        let late = slack.daemon_late_ms(worked_on);
        let over = took - predicted;
        let after_loss = frame.lost_at.is_some_and(|l| l <= span.invoked);
        let (verdict, bound) = match late {
            _ if after_loss => (Verdict::Unknown, "after the daemon was lost".to_owned()),
            _ if over < -slack.early_ms => (Verdict::Fail, format!("earlier than the model allows (-{} ms)", slack.early_ms)),
            Some(late) if over > late => (Verdict::Fail, format!("later than the run's slack (+{late} ms)")),
            Some(late) => (Verdict::Pass, format!("within -{}/+{late} ms", slack.early_ms)),
            None => (
                Verdict::Pass,
                "not earlier than the model; the upper bound is not checked (no bare start-up of the daemon was measured in this run)".to_owned(),
            ),
        };
        results.push(
            CheckResult::new(
                name,
                "daemon",
                verdict,
                format!("{op} took {took} ms, the model {predicted} ms: {bound}"),
            )
            .fact("took_ms", took)
            .fact("predicted_ms", predicted)
            .fact("late_ms", late)
            .fact("containers_worked_on", worked_on)
            .with_evidence(vec![Evidence {
                what: format!("{op}"),
                observed: Some(frame.mark(ended, None, format!("{op} done"))),
                predicted: Some(frame.mark(model_end, None, format!("{op} done"))),
                op: Some(frame.mark(span.invoked, Some(span.position), op.to_string())),
            }]),
        );
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(ms: i64, action: ContainerAction) -> Seen {
        Seen {
            at: Nanos(ms * 1_000_000),
            action,
            position: None,
            ops_done: 0,
        }
    }

    fn shorts(events: &[Seen]) -> Vec<String> {
        events.iter().map(|e| e.action.short()).collect()
    }

    #[test]
    fn an_oom_logged_after_its_die_is_read_before_it_and_a_burst_as_one() {
        let die = || ContainerAction::Die { exit_code: 137 };
        let late = one_oom_per_kill(vec![
            seen(0, ContainerAction::Start),
            seen(10, die()),
            seen(180, ContainerAction::Oom),
            seen(190, ContainerAction::Oom),
            seen(500, ContainerAction::Start),
        ]);
        assert_eq!(shorts(&late), ["start", "oom", "die(137)", "start"]);
        assert_eq!(late[1].at, late[2].at, "the oom takes the die's time");
        let in_order = one_oom_per_kill(vec![
            seen(0, ContainerAction::Oom),
            seen(1, ContainerAction::Oom),
            seen(2, die()),
        ]);
        assert_eq!(shorts(&in_order), ["oom", "die(137)"]);
        // An `oom` after another exit is left where it is: it is not that die's.
        let other = one_oom_per_kill(vec![
            seen(0, ContainerAction::Die { exit_code: 0 }),
            seen(5, ContainerAction::Oom),
        ]);
        assert_eq!(shorts(&other), ["die(0)", "oom"]);
    }
}
