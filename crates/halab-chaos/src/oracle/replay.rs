//! The model's account of a run: the run's own operations, at the times the history says they
//! were invoked, fed to a [`DaemonModel`] of its services, with each service's program doing
//! what its `program` says. A program's run is anchored at the start the daemon really made:
//! it ends when the daemon saw it end by itself (a `die` with the program's own code, no
//! earlier than its run time allows), else its run time after that start. The program's timing
//! is a fact of the workload; what the daemon does about it is what the model is judged on.

use std::collections::{BTreeMap, VecDeque};

use halab_model::{
    Answer, ApiCall, ContainerAction, DaemonAction, DaemonConfig, DaemonModel, DaemonOp,
    DaemonPhase, EngineVersion, History, Nanos, Observed, Op, Order, Output, Reference, Run, Said,
    ServiceBehaviour, ServiceOp,
};

use crate::scenario::Scenario;

/// One event the model predicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicted {
    pub at: Nanos,
    pub action: ContainerAction,
    /// How many of the run's operations the model had taken when it did this.
    pub ops_done: usize,
}

/// What the model says of a run.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    /// Each service's events, in order.
    pub events: BTreeMap<String, Vec<Predicted>>,
    /// Each service's state after each thing the model did to it, from its creation: the state
    /// at any time is the last one logged before it.
    pub states: BTreeMap<String, Vec<(Nanos, Observed)>>,
    /// When each daemon operation (by op id) ends in the model: the daemon down, or answering.
    pub daemon_ends: BTreeMap<u64, Nanos>,
    /// The model's answer to each Engine API call (by op id), once it is given.
    pub answers: BTreeMap<u64, Answer>,
}

struct Program {
    behaviour: ServiceBehaviour,
    runs: u64,
    waiting: bool,
    orders: VecDeque<Order>,
    end: Option<(Nanos, Order)>,
    /// The daemon's real starts of the service (every source), to anchor runs at.
    observed_starts: Vec<Nanos>,
    /// And its real dies, with their exit codes.
    observed_dies: Vec<(Nanos, i64)>,
}

/// When, within a daemon start's span, the model's daemon restores its containers. A real
/// daemon does it somewhere between the start being asked for and its API answering (after its
/// own start-up, before its network and API), and one decision of `restore` depends on when:
/// with live-restore, `ShouldRestart` on a running container leaves its restart manager active
/// for 100 ms, and an exit within them is not restarted. The oracle replays both extremes and
/// a history either explains is the daemon's (see `compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreAt {
    /// As soon as the start is invoked (the model's own timing: what the daemon's start-up time
    /// is judged by).
    Invoke,
    /// As late as the daemon's answer allows: done just as its API answers.
    Answer,
}

/// How much earlier than its run time a program may be seen to end (clock granularity).
const EARLY_END_NS: i64 = 50_000_000;

/// Replays `history` through the model of `scenario`'s daemon, following `reference`.
pub fn replay(
    scenario: &Scenario,
    engine: EngineVersion,
    live_restore: bool,
    reference: Reference,
    history: &History,
    restore_at: RestoreAt,
) -> Replayed {
    let mut model = DaemonModel::new(
        engine,
        DaemonConfig {
            live_restore,
            ..DaemonConfig::default()
        },
    )
    .with_reference(reference);
    let mut programs = Vec::new();
    for s in &scenario.services {
        model.add_service(&s.name, s.spec());
        programs.push(Program {
            behaviour: s.program.clone(),
            runs: 0,
            waiting: false,
            orders: VecDeque::new(),
            end: None,
            observed_starts: history.starts(&s.name).collect(),
            observed_dies: history
                .container_actions(&s.name)
                .filter_map(|(at, a)| match a {
                    ContainerAction::Die { exit_code } => Some((at, *exit_code)),
                    _ => None,
                })
                .collect(),
        });
    }
    let mut r = Replay {
        model,
        programs,
        out: Replayed::default(),
        pending_daemon: VecDeque::new(),
        pending_calls: Vec::new(),
        ops_done: 0,
    };
    for (i, s) in scenario.services.iter().enumerate() {
        r.out.events.insert(s.name.clone(), Vec::new());
        let first = history.entries().first().map_or(Nanos(0), |e| e.at);
        r.out
            .states
            .insert(s.name.clone(), vec![(first, r.model.state(i))]);
    }
    let spans = history.op_spans();
    let horizon = history.entries().last().map_or(Nanos(0), |e| e.at);
    let mut next = 0;
    // The time the next operation is taken at, once worked out (see `RestoreAt`).
    let mut next_at: Option<(usize, Nanos)> = None;
    loop {
        let op_at = spans.get(next).map(|s| match next_at {
            Some((i, at)) if i == next => at,
            _ => {
                let at = r.taken_at(s, restore_at);
                next_at = Some((next, at));
                at
            }
        });
        let timer_at = r.model.next_deadline();
        let program_at = r
            .programs
            .iter()
            .filter_map(|p| p.end.map(|(t, _)| t))
            .min();
        let Some(t) = [op_at, timer_at, program_at].into_iter().flatten().min() else {
            break;
        };
        if t > horizon {
            break;
        }
        if timer_at == Some(t) {
            let said = r.model.advance(t);
            r.absorb(said, t);
        } else if program_at == Some(t) {
            r.program_ends(t);
        } else {
            let span = &spans[next];
            r.ops_done = next + 1;
            // What the harness could not do (a signal to a process it could not find, an
            // order it could not write) did not happen; an API call the daemon refused did,
            // and the model answers it.
            let not_done = matches!(span.ended, Some((_, halab_model::OpStep::Fail { .. })))
                && !matches!(
                    span.op,
                    Op::Service {
                        op: ServiceOp::Api(_),
                        ..
                    } | Op::Daemon(_)
                );
            if !not_done {
                r.op(span.id, span.op, t);
            }
            next += 1;
        }
    }
    r.out
}

struct Replay {
    model: DaemonModel,
    programs: Vec<Program>,
    out: Replayed,
    /// Daemon operations waiting for their end in the model.
    pending_daemon: VecDeque<(u64, DaemonOp)>,
    /// API calls waiting for the model's answer: op id, service, call.
    pending_calls: Vec<(u64, usize, ApiCall)>,
    /// The run's operations taken so far (waits included), the one being taken counted.
    ops_done: usize,
}

impl Replay {
    /// When the model takes the operation of `span`: at its invoke, except a daemon start whose
    /// restore is placed as late as its answer allows.
    fn taken_at(&self, span: &halab_model::OpSpan<'_>, restore_at: RestoreAt) -> Nanos {
        let late = restore_at == RestoreAt::Answer
            && span.daemon_op() == Some(DaemonOp::Start)
            && self.model.phase() == DaemonPhase::Down;
        match span.ended {
            Some((answered, halab_model::OpStep::Ok { .. })) if late => {
                let restore = self.restore_takes(span.invoked);
                Nanos(answered.0.saturating_sub(restore).max(span.invoked.0))
            }
            _ => span.invoked,
        }
    }

    /// How long the model's `restore` takes if the daemon starts at `t` (stopping what outlived
    /// a crash waits out stop timeouts), in nanoseconds.
    fn restore_takes(&self, t: Nanos) -> i64 {
        let mut model = self.model.clone();
        model.apply(&Op::Daemon(DaemonOp::Start), t);
        let mut now = t;
        while model.phase() != DaemonPhase::Up {
            let Some(at) = model.next_deadline() else {
                break;
            };
            model.advance(at);
            now = at;
        }
        now.0.saturating_sub(t.0)
    }

    fn op(&mut self, id: u64, op: &Op, t: Nanos) {
        match op {
            Op::Wait(_) => {}
            Op::Daemon(daemon) => {
                let phase = self.model.phase();
                let moot = match daemon {
                    DaemonOp::Start => phase != DaemonPhase::Down,
                    DaemonOp::Stop => phase != DaemonPhase::Up,
                    DaemonOp::Crash | DaemonOp::PowerLoss => phase == DaemonPhase::Down,
                };
                if moot {
                    // Nothing for the model to do (the lab's own first start, say): it ends at once.
                    self.out.daemon_ends.insert(id, t);
                    return;
                }
                self.pending_daemon.push_back((id, *daemon));
                let said = self.model.apply(op, t);
                self.absorb(said, t);
            }
            Op::Service { service, op: s_op } => {
                let Some(i) = self.model.index(service) else {
                    return;
                };
                match s_op {
                    ServiceOp::Inspect => {
                        let said = self.model.advance(t);
                        self.absorb(said, t);
                    }
                    ServiceOp::Exit { .. } | ServiceOp::Oom => {
                        if let Some(order) = Order::of(s_op) {
                            self.order(i, order, t);
                        }
                    }
                    _ => {
                        if let ServiceOp::Api(call) = s_op {
                            self.pending_calls.push((id, i, *call));
                        }
                        let said = self.model.apply(op, t);
                        self.absorb(said, t);
                    }
                }
            }
        }
    }

    fn order(&mut self, i: usize, order: Order, t: Nanos) {
        let p = &mut self.programs[i];
        p.orders.push_back(order);
        if p.waiting && p.end.is_none() {
            let order = p.orders.pop_front().expect("just pushed");
            p.end = Some((t, order));
        }
    }

    /// The program whose end is due does it.
    fn program_ends(&mut self, t: Nanos) {
        let Some(i) = self
            .programs
            .iter()
            .position(|p| p.end.is_some_and(|(at, _)| at == t))
        else {
            return;
        };
        let (_, order) = self.programs[i].end.take().expect("found above");
        self.programs[i].waiting = false;
        let op = order.op();
        let service = self.model.service_name(i).to_owned();
        let said = self.model.apply(&Op::on(service, op), t);
        self.absorb(said, t);
    }

    fn absorb(&mut self, said: Vec<Said>, t: Nanos) {
        // Every container's state after the step (a daemon op changes all of them).
        let log = !said.is_empty();
        for Said { service, output } in said {
            match (service, output) {
                (Some(i), Output::Event(action)) => {
                    self.program_sees(i, &action, t);
                    let name = self.model.service_name(i).to_owned();
                    self.out.events.entry(name).or_default().push(Predicted {
                        at: t,
                        action,
                        ops_done: self.ops_done,
                    });
                }
                (Some(i), Output::Reply { call, answer }) => {
                    if let Some(k) = self
                        .pending_calls
                        .iter()
                        .position(|&(_, j, c)| j == i && c == call)
                    {
                        let (id, _, _) = self.pending_calls.remove(k);
                        self.out.answers.insert(id, answer);
                    }
                }
                (None, Output::Daemon(action)) => {
                    let ends = |op: DaemonOp| match action {
                        DaemonAction::Stopped => op.ends_daemon(),
                        DaemonAction::Ready => op == DaemonOp::Start,
                        DaemonAction::Lost { .. } => false,
                    };
                    if let Some(k) = self.pending_daemon.iter().position(|(_, op)| ends(*op)) {
                        let (id, _) = self.pending_daemon.remove(k).expect("found above");
                        self.out.daemon_ends.insert(id, t);
                    }
                }
                _ => {}
            }
        }
        if log {
            for i in 0..self.model.service_names().len() {
                let state = self.model.state(i);
                let name = self.model.service_name(i).to_owned();
                let states = self.out.states.entry(name).or_default();
                if states.last().is_none_or(|(_, last)| *last != state) {
                    states.push((t, state));
                }
            }
        }
    }

    /// A program starts a run — anchored at the daemon's real start of it — or ends one.
    fn program_sees(&mut self, i: usize, action: &ContainerAction, t: Nanos) {
        let p = &mut self.programs[i];
        match action {
            ContainerAction::Start => {
                p.runs += 1;
                let k = p.runs as usize - 1;
                let anchor = p.observed_starts.get(k).copied().unwrap_or(t);
                // The daemon's StartedAt is the observed start: the run's length, which decides
                // whether the back-off resets, is measured from there.
                self.model.observed_start(i, anchor);
                let p = &mut self.programs[i];
                let next_start = p
                    .observed_starts
                    .get(k + 1)
                    .copied()
                    .unwrap_or(Nanos(i64::MAX));
                p.waiting = false;
                p.end = None;
                match p.behaviour.run(p.runs) {
                    Run::Exit { after_ms, code } => {
                        let earliest = anchor.plus_nanos(super::ms_nanos(after_ms));
                        let seen_end = p
                            .observed_dies
                            .iter()
                            .find(|&&(at, c)| {
                                at > anchor
                                    && at <= next_start
                                    && c == code
                                    && at.0 >= earliest.0.saturating_sub(EARLY_END_NS)
                            })
                            .map(|&(at, _)| at);
                        let at = seen_end.unwrap_or(earliest).max(t);
                        p.end = Some((at, Order::Exit { code }));
                    }
                    Run::UntilTold => {
                        p.waiting = true;
                        if let Some(order) = p.orders.pop_front() {
                            p.end = Some((anchor.max(t), order));
                        }
                    }
                    Run::Forever => {}
                }
            }
            ContainerAction::Die { .. } => {
                p.end = None;
                p.waiting = false;
            }
            _ => {}
        }
    }
}
