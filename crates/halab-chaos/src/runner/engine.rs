//! The phase engine, written once against [`Runtime`]: it plays a scenario's phases — each a set
//! of tracks, each a list of operations — records every operation as an `invoke` and its end,
//! and waits on the history (never by polling the daemon). Tracks of a phase are interleaved:
//! the engine does every track's next operation that can be done now, and when every track
//! waits, it waits for the first of their conditions or deadlines. Operations themselves are
//! done one at a time, in track order, so a phase plays the same way on a real daemon and in
//! the simulator.

use std::time::Duration;

use halab_model::{
    ApiCall, DaemonOp, Entry, Happening, History, Nanos, Op, OpStep, RestartPolicy, Run, ServiceOp,
    ServiceState, Wait,
};

use super::{Runtime, daemon_lost, ms_to_nanos};
use crate::oracle::Slack;
use crate::report::PhaseReport;
use crate::scenario::{Phase, Scenario};
use crate::view::View;

/// How long the programs may take, after a start, to write their increments before a daemon
/// fault: a fault in between would leave a start with no increment, which is the harness's
/// timing and not the daemon's doing.
const SETTLE_COUNTERS: Duration = Duration::from_secs(5);

/// How long a service may take to show its first start after the run started it.
const FIRST_START: Duration = Duration::from_secs(30);

/// How long the services killed at the end of a run may take to show their `die`.
const LAST_DIES: Duration = Duration::from_secs(10);

/// At the end of a run, the daemon is quiet when it has logged nothing for the run's slack (at
/// least [`QUIET_MS`]); the end waits for that at most [`QUIET_AT_MOST`].
const QUIET_MS: i64 = 500;
const QUIET_AT_MOST: Duration = Duration::from_secs(15);

/// Plays a scenario: the services' first starts, the phases, and the end of the run (quiet,
/// then every service inspected and its counter read). Returns the phases' reports.
pub(crate) async fn play<R: Runtime>(
    rt: &mut R,
    scenario: &Scenario,
    skip_daemon_phases: bool,
    view: &mut dyn View,
) -> Vec<PhaseReport> {
    let mut engine = Engine {
        rt,
        scenario,
        view,
        next_id: 0,
        shown: 0,
        began: Nanos(0),
    };
    engine.began = engine.rt.now();
    engine.first_starts().await;
    let began = engine.rt.now();
    // The first phase's waits count from each service's first start, not from their own
    // invoke: a service that exits at once may have died (and been restarted) while the other
    // services were still being started, before the phase began (a loaded machine).
    let mut since_first_starts: Option<Counts> = Some(
        scenario
            .services
            .iter()
            .map(|s| (s.name.clone(), usize::from(s.start), 0))
            .collect(),
    );
    let mut reports = Vec::new();
    for (i, phase) in scenario.phases.iter().enumerate() {
        let skipped = skip_daemon_phases && phase.touches_daemon();
        engine
            .view
            .phase(i, scenario.phases.len(), &phase.name, skipped);
        if skipped {
            reports.push(PhaseReport {
                name: phase.name.clone(),
                skipped: true,
                duration_ms: 0,
                problem: None,
            });
            continue;
        }
        let start = engine.rt.now();
        engine.rt.record(Happening::Phase {
            name: phase.name.clone(),
        });
        let problem = engine.phase(phase, began, since_first_starts.take()).await;
        if let Some(problem) = &problem {
            engine
                .view
                .note(&format!("phase {}: {problem}", phase.name));
        }
        reports.push(PhaseReport {
            name: phase.name.clone(),
            skipped: false,
            duration_ms: engine.rt.now().millis_since(start),
            problem,
        });
    }
    engine.finish().await;
    reports
}

struct Engine<'a, R: Runtime> {
    rt: &'a mut R,
    scenario: &'a Scenario,
    view: &'a mut dyn View,
    next_id: u64,
    /// History entries already shown.
    shown: usize,
    began: Nanos,
}

/// A wait in progress.
struct Waiting {
    id: u64,
    op: Op,
    deadline: Nanos,
    /// The service's starts or dies that the wait counts from.
    baseline: usize,
}

/// Where one track is.
struct Cursor<'p> {
    ops: &'p [Op],
    next: usize,
    waiting: Option<Waiting>,
    /// Every service's starts and dies when the track's last acting operation was invoked.
    mark: Option<Counts>,
    /// The services a counting wait has counted from `mark` already: the next wait on one of
    /// them counts from its own invoke (two waits for one start each are two starts), a wait on
    /// another service still from the mark (after a daemon start, each service's restart).
    counted: Vec<String>,
}

/// Starts and dies per service, at one moment of the history.
type Counts = Vec<(String, usize, usize)>;

fn counts(h: &History, services: &[String]) -> Counts {
    services
        .iter()
        .map(|s| (s.clone(), h.start_count(s), h.die_count(s)))
        .collect()
}

impl<R: Runtime> Engine<'_, R> {
    /// Does `op` (not a wait) and records it: `invoke`, then how it ended. Around a daemon
    /// operation the counters are read, so that what they held while the daemon was down is
    /// in the history.
    async fn perform(&mut self, op: &Op) -> OpStep {
        let daemon = match op {
            Op::Daemon(daemon) => Some(*daemon),
            _ => None,
        };
        if daemon.is_some_and(DaemonOp::ends_daemon) {
            self.let_counters_settle().await;
        }
        if daemon == Some(DaemonOp::Start) {
            self.rt.read_counters();
        }
        let id = self.invoke(op);
        // Shown before it is done: a daemon start may take a while.
        self.show();
        let step = self.rt.perform(op).await;
        if daemon.is_some_and(DaemonOp::ends_daemon) {
            self.rt.read_counters();
        }
        self.end(id, op, step.clone());
        step
    }

    fn invoke(&mut self, op: &Op) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.record_op(id, op, OpStep::Invoke);
        id
    }

    fn end(&mut self, id: u64, op: &Op, step: OpStep) {
        self.record_op(id, op, step);
        self.show();
    }

    fn record_op(&mut self, id: u64, op: &Op, step: OpStep) {
        let node = self.rt.node().to_owned();
        self.rt.record(Happening::Op {
            node,
            id,
            step,
            op: op.clone(),
        });
    }

    /// Hands the view what was recorded since it last looked.
    fn show(&mut self) {
        let fresh: Vec<Entry> = self.rt.arrivals_since(self.shown);
        self.shown += fresh.len();
        if !fresh.is_empty() {
            self.view.entries(&fresh, self.began);
        }
    }

    /// Waits until `done` or `timeout`, showing entries as they arrive.
    async fn wait_for(
        &mut self,
        timeout: Duration,
        done: &mut dyn FnMut(&History) -> bool,
    ) -> bool {
        let view: &mut dyn View = self.view;
        let began = self.began;
        let reached = self
            .rt
            .wait_for(timeout, done, &mut self.shown, &mut |fresh: &[Entry]| {
                view.entries(fresh, began);
            })
            .await;
        self.show();
        reached
    }

    /// Starts every service the scenario starts at once (`start = true`), in order, and waits
    /// for their first starts.
    async fn first_starts(&mut self) {
        let services: Vec<String> = self
            .scenario
            .services
            .iter()
            .filter(|s| s.start)
            .map(|s| s.name.clone())
            .collect();
        for service in &services {
            self.perform(&Op::on(service.clone(), ServiceOp::Api(ApiCall::Start)))
                .await;
        }
        self.wait_for(FIRST_START, &mut |h: &History| {
            daemon_lost(h) || services.iter().all(|s| h.start_count(s) >= 1)
        })
        .await;
    }

    /// Lets every counting service write the increment of its last start (see
    /// [`SETTLE_COUNTERS`]).
    async fn let_counters_settle(&mut self) {
        let counting: Vec<(String, u64)> = self
            .scenario
            .services
            .iter()
            .filter(|s| s.counts())
            .map(|s| (s.name.clone(), s.counter_initial))
            .collect();
        self.wait_for(SETTLE_COUNTERS, &mut |h: &History| {
            daemon_lost(h)
                || counting.iter().all(|(service, initial)| {
                    let starts = h.start_count(service) as u64;
                    starts == 0
                        || h.counter_readings(service)
                            .last()
                            .is_some_and(|(_, v)| v.saturating_sub(*initial) >= starts)
                })
        })
        .await;
    }

    /// One phase. `Some(problem)` when an operation could not be done or a wait timed out.
    async fn phase(&mut self, phase: &Phase, began: Nanos, mark: Option<Counts>) -> Option<String> {
        let mut problems: Vec<String> = Vec::new();
        let mut cursors: Vec<Cursor<'_>> = phase
            .tracks
            .iter()
            .map(|t| Cursor {
                ops: &t.ops,
                next: 0,
                waiting: None,
                mark: mark.clone(),
                counted: Vec::new(),
            })
            .collect();
        let services = self.scenario.service_names();
        loop {
            if self.rt.halted() {
                problems.push("the runtime stopped before the phase's end".into());
                break;
            }
            for cursor in cursors.iter_mut() {
                loop {
                    let now = self.rt.now();
                    if let Some(w) = &cursor.waiting {
                        let lost = self.rt.with_history(daemon_lost);
                        let over = now >= w.deadline;
                        let timed = matches!(w.op, Op::Wait(Wait::For { .. } | Wait::Until { .. }));
                        let satisfied = (over && timed)
                            || self
                                .rt
                                .with_history(|h| satisfied(&w.op, w.baseline, began, now, h));
                        let id = w.id;
                        let op = w.op.clone();
                        if satisfied {
                            self.end(id, &op, OpStep::Ok { read: None });
                        } else if lost && op.service().is_some() {
                            let error = "the daemon was lost under the run".to_owned();
                            problems.push(format!("{op}: {error}"));
                            self.end(id, &op, OpStep::Fail { error });
                        } else if over {
                            problems.push(format!("{op}: timed out"));
                            self.end(
                                id,
                                &op,
                                OpStep::Fail {
                                    error: "timed out".into(),
                                },
                            );
                        } else {
                            break;
                        }
                        cursor.waiting = None;
                        cursor.next += 1;
                        continue;
                    }
                    let Some(op) = cursor.ops.get(cursor.next) else {
                        break;
                    };
                    if let Op::Wait(wait) = op {
                        let id = self.invoke(op);
                        let deadline = match wait {
                            Wait::Until { ms } => began.plus_nanos(ms_to_nanos(*ms)),
                            Wait::For { ms } => now.plus_nanos(ms_to_nanos(*ms)),
                            Wait::Starts { timeout_ms, .. }
                            | Wait::Dies { timeout_ms, .. }
                            | Wait::State { timeout_ms, .. }
                            | Wait::Health { timeout_ms, .. } => {
                                now.plus_nanos(ms_to_nanos(*timeout_ms))
                            }
                        };
                        // A counting wait counts from the last acting operation before it
                        // in its track, not from its own invoke: the event of the start
                        // `docker-start` caused may reach the history after `docker-start`
                        // returned, and must count.
                        let mark = match wait {
                            Wait::Starts { service, .. } | Wait::Dies { service, .. }
                                if !cursor.counted.contains(service) =>
                            {
                                cursor.counted.push(service.clone());
                                cursor.mark.clone()
                            }
                            _ => None,
                        };
                        let baseline = self.rt.with_history(|h| baseline(wait, h, mark.as_ref()));
                        cursor.waiting = Some(Waiting {
                            id,
                            op: op.clone(),
                            deadline,
                            baseline,
                        });
                        continue;
                    }
                    if op.acts() {
                        cursor.mark = Some(self.rt.with_history(|h| counts(h, &services)));
                        cursor.counted.clear();
                    }
                    let step = self.perform(op).await;
                    match step {
                        // A drawn schedule's refusals are judged by the oracle ("answers").
                        OpStep::Fail { .. } if phase.drawn => {}
                        OpStep::Fail { error } | OpStep::Info { error } => {
                            problems.push(format!("{op}: {error}"));
                        }
                        _ => {}
                    }
                    cursor.next += 1;
                }
            }
            let waiting: Vec<&Waiting> =
                cursors.iter().filter_map(|c| c.waiting.as_ref()).collect();
            if waiting.is_empty() {
                break;
            }
            let now = self.rt.now();
            let deadline = waiting.iter().map(|w| w.deadline).min().expect("not empty");
            let conditions: Vec<(Op, usize)> =
                waiting.iter().map(|w| (w.op.clone(), w.baseline)).collect();
            let timeout = Duration::from_nanos(deadline.0.saturating_sub(now.0).max(0) as u64);
            self.wait_for(timeout, &mut |h: &History| {
                daemon_lost(h)
                    || conditions.iter().any(|(op, baseline)| {
                        !matches!(op, Op::Wait(Wait::For { .. } | Wait::Until { .. }))
                            && satisfied(op, *baseline, began, Nanos(i64::MIN), h)
                    })
            })
            .await;
        }
        if self.rt.with_history(daemon_lost) {
            problems.push("the daemon was lost under the run (halab did not stop it)".into());
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// The end of a run: every service inspected (what the oracle compares the model's final
    /// state with); then its restart policy set to `no`, so that nothing restarts any more,
    /// and, once the daemon is quiet, whatever still runs killed; then the counters read, once
    /// the increments of the last starts are written. Every step is an operation the oracle
    /// replays like the scenario's own.
    async fn finish(&mut self) {
        if self.rt.halted() {
            return;
        }
        if self.rt.with_history(daemon_lost) {
            self.rt.read_counters();
            self.show();
            return;
        }
        let services = self.scenario.service_names();
        for service in &services {
            self.perform(&Op::on(service.clone(), ServiceOp::Inspect))
                .await;
        }
        for service in &services {
            let no = ApiCall::UpdateRestartPolicy {
                policy: RestartPolicy::No,
            };
            self.perform(&Op::on(service.clone(), ServiceOp::Api(no)))
                .await;
        }
        // A restart already under way still happens: wait until the daemon has been quiet a
        // moment, at most QUIET_AT_MOST.
        let late_ms = self.rt.with_history(|h| Slack::from_history(h).late_ms);
        let quiet = Duration::from_millis(late_ms.max(QUIET_MS) as u64);
        let until = self.rt.now().plus(QUIET_AT_MOST);
        loop {
            let now = self.rt.now();
            let last = self
                .rt
                .with_history(last_container_event)
                .unwrap_or(Nanos(i64::MIN));
            if now >= until
                || last.plus(quiet) <= now
                || self.rt.halted()
                || self.rt.with_history(daemon_lost)
            {
                break;
            }
            let wait = Duration::from_nanos(last.plus(quiet).0.saturating_sub(now.0).max(0) as u64);
            self.wait_for(wait, &mut |h: &History| {
                last_container_event(h) > Some(last)
            })
            .await;
        }
        self.let_timed_runs_end(late_ms).await;
        let mut killed = Vec::new();
        for service in &services {
            let running = self.rt.with_history(|h| {
                matches!(
                    h.service_state(service),
                    Some(ServiceState::Running | ServiceState::Paused)
                )
            });
            if !running {
                continue;
            }
            let dies = self.rt.with_history(|h| h.die_count(service));
            let kill = Op::on(service.clone(), ServiceOp::Api(ApiCall::Kill { signal: 9 }));
            if matches!(self.perform(&kill).await, OpStep::Ok { .. }) {
                killed.push((service.clone(), dies));
            }
        }
        self.wait_for(LAST_DIES, &mut |h: &History| {
            daemon_lost(h) || killed.iter().all(|(s, dies)| h.die_count(s) > *dies)
        })
        .await;
        self.let_counters_settle().await;
        self.rt.read_counters();
        self.show();
    }
}

impl<R: Runtime> Engine<'_, R> {
    /// A service whose program ends its run by itself (a timed run) is left to end it, its
    /// policy now `no`: killed as it exits, the kill would race its own exit, and the history
    /// could not say which came first. At most the run's time from its start, plus the slack.
    async fn let_timed_runs_end(&mut self, late_ms: i64) {
        let now = self.rt.now();
        let timed: Vec<(String, usize, Nanos)> = self
            .scenario
            .services
            .iter()
            .filter_map(|s| {
                self.rt.with_history(|h| {
                    if h.service_state(&s.name) != Some(ServiceState::Running) {
                        return None;
                    }
                    let started = h.starts(&s.name).last()?;
                    let Run::Exit { after_ms, .. } = s.program.run(h.start_count(&s.name) as u64)
                    else {
                        return None;
                    };
                    let ends = started
                        .plus(Duration::from_millis(after_ms))
                        .plus(Duration::from_millis(late_ms.max(0) as u64));
                    Some((s.name.clone(), h.die_count(&s.name), ends))
                })
            })
            .collect();
        let Some(until) = timed.iter().map(|(_, _, ends)| *ends).max() else {
            return;
        };
        let timeout = Duration::from_nanos(until.0.saturating_sub(now.0).max(0) as u64);
        self.wait_for(timeout, &mut |h: &History| {
            daemon_lost(h) || timed.iter().all(|(s, dies, _)| h.die_count(s) > *dies)
        })
        .await;
    }
}

/// The time of the last container event.
fn last_container_event(h: &History) -> Option<Nanos> {
    h.entries()
        .iter()
        .rev()
        .find(|e| matches!(e.what, Happening::Container { .. }))
        .map(|e| e.at)
}

/// What a wait counts from: the counts at `mark` when there is one, else the history's now.
fn baseline(wait: &Wait, h: &History, mark: Option<&Counts>) -> usize {
    let at_mark = |service: &str| mark.and_then(|m| m.iter().find(|(s, _, _)| s == service));
    match wait {
        Wait::Starts { service, .. } => at_mark(service).map_or(h.start_count(service), |m| m.1),
        Wait::Dies { service, .. } => at_mark(service).map_or(h.die_count(service), |m| m.2),
        _ => 0,
    }
}

/// Whether the wait `op` is over at `now` (waits for events also count a deadline as over
/// only through the caller).
fn satisfied(op: &Op, baseline: usize, began: Nanos, now: Nanos, h: &History) -> bool {
    let Op::Wait(wait) = op else {
        return true;
    };
    match wait {
        Wait::For { .. } => false,
        Wait::Until { ms } => now >= began.plus_nanos(ms_to_nanos(*ms)),
        Wait::Starts { service, count, .. } => (h.start_count(service) - baseline) as u64 >= *count,
        Wait::Dies { service, count, .. } => (h.die_count(service) - baseline) as u64 >= *count,
        Wait::State { service, state, .. } => h.service_state(service) == Some(*state),
        Wait::Health {
            service, health, ..
        } => h.service_health(service) == Some(*health),
    }
}
