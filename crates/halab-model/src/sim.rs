//! A virtual-time simulator: the model of a daemon and its services' containers, with each
//! service's own program (it counts its start, runs a while, exits — or waits to be told),
//! producing the same [`History`] a real run records.
//!
//! Time is virtual: the simulator jumps from one due thing to the next (a back-off restart, a
//! program's increment, its exit, the daemon answering), so minutes of daemon behaviour take
//! microseconds. It is deterministic: the only randomness is a jitter drawn from a generator
//! seeded by the caller. Like the rest of this crate it does no I/O and reads no clock.

use std::collections::VecDeque;

use crate::behaviour::{Order, Run, ServiceBehaviour};
use crate::config::{ContainerSpec, DaemonConfig};
use crate::daemon_model::{DaemonModel, Said};
use crate::engine::EngineVersion;
use crate::history::{ContainerAction, Entry, Happening, History, Nanos, Source};
use crate::observed::DaemonPhase;
use crate::op::{ApiCall, DaemonOp, Op, ServiceOp};
use crate::output::{Answer, Output};

/// How long something takes: `base` plus a uniform draw from `[0, jitter)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub base: Nanos,
    pub jitter: Nanos,
}

/// How long things take that the model itself does not time, measured on a real lab daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    /// From the `start` event to the program's increment.
    pub increment_after_start: Latency,
    /// From executing dockerd to its `restore` beginning (its API answers once `restore` is
    /// done, which the model times).
    pub daemon_start: Latency,
}

impl Default for Latencies {
    /// Measured on the lab machine (Docker 20.10.24): a lab dockerd with nothing to restore
    /// answers ~0.8–1.3 s after it is executed; busybox `sh` writes its counter within a few ms
    /// of `start`.
    fn default() -> Latencies {
        Latencies {
            increment_after_start: Latency {
                base: Nanos::from_millis(2),
                jitter: Nanos::from_millis(20),
            },
            daemon_start: Latency {
                base: Nanos::from_millis(800),
                jitter: Nanos::from_millis(500),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    pub engine: EngineVersion,
    pub daemon: DaemonConfig,
    pub latencies: Latencies,
    pub seed: u64,
}

/// One service, as the simulator plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimService {
    pub name: String,
    pub spec: ContainerSpec,
    pub behaviour: ServiceBehaviour,
    pub counter_initial: u64,
}

/// A service's program in the simulator.
#[derive(Debug, Clone)]
struct Program {
    behaviour: ServiceBehaviour,
    runs_started: u64,
    counter: u64,
    pending_increment: Option<Nanos>,
    /// The run's end: its own exit, or an order carried out.
    pending_end: Option<(Nanos, Order)>,
    /// The current run waits to be told.
    waiting: bool,
    orders: VecDeque<Order>,
}

/// One simulated daemon with its services.
pub struct Simulator {
    model: DaemonModel,
    programs: Vec<Program>,
    config: SimConfig,
    node: String,
    now: Nanos,
    history: History,
    /// When the daemon, asked to start, begins its `restore`.
    pending_daemon_start: Option<Nanos>,
    replies: Vec<(usize, ApiCall, Answer)>,
    rng: SplitMix64,
    outputs: u64,
    /// The most history entries this simulator makes; past it, it stops stepping.
    entry_limit: usize,
}

impl Simulator {
    /// A simulator of daemon `node` at virtual time `start`, every service's container created
    /// but not started.
    pub fn new(
        config: SimConfig,
        node: &str,
        services: Vec<SimService>,
        start: Nanos,
    ) -> Simulator {
        let mut model = DaemonModel::new(config.engine, config.daemon);
        let mut programs = Vec::with_capacity(services.len());
        for service in services {
            model.add_service(&service.name, service.spec);
            programs.push(Program {
                behaviour: service.behaviour,
                runs_started: 0,
                counter: service.counter_initial,
                pending_increment: None,
                pending_end: None,
                waiting: false,
                orders: VecDeque::new(),
            });
        }
        Simulator {
            model,
            programs,
            config,
            node: node.to_owned(),
            now: start,
            history: History::new(),
            pending_daemon_start: None,
            replies: Vec::new(),
            rng: SplitMix64(config.seed),
            outputs: 0,
            entry_limit: usize::MAX,
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn now(&self) -> Nanos {
        self.now
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn into_history(self) -> History {
        self.history
    }

    /// The daemon model under the simulator.
    pub fn model(&self) -> &DaemonModel {
        &self.model
    }

    /// A service's counter now.
    pub fn counter(&self, service: usize) -> u64 {
        self.programs[service].counter
    }

    pub fn latencies(&self) -> Latencies {
        self.config.latencies
    }

    /// How many outputs (events, replies, daemon transitions) the model has produced so far.
    pub fn outputs(&self) -> u64 {
        self.outputs
    }

    /// Whether the daemon answers its API.
    pub fn daemon_up(&self) -> bool {
        self.model.phase() == DaemonPhase::Up && self.pending_daemon_start.is_none()
    }

    /// Stops the simulator stepping once its history holds `limit` entries: a service that
    /// restarts without end, given a long enough wait, would otherwise fill memory. See
    /// [`Simulator::over_limit`].
    pub fn limit_entries(&mut self, limit: usize) {
        self.entry_limit = limit;
    }

    /// Whether the simulator stopped because its history reached its limit.
    pub fn over_limit(&self) -> bool {
        self.history.entries().len() >= self.entry_limit
    }

    /// Records something the harness did or saw, now.
    pub fn record(&mut self, what: Happening) {
        self.history.record(Entry {
            at: self.now,
            source: Source::Harness,
            seen: None,
            what,
        });
    }

    /// `op` is done now. A daemon start begins its `restore` after the daemon's own start
    /// latency; an order to the program (exit, OOM) is carried out when its run waits to be
    /// told; a wait does nothing (let time pass with [`Simulator::run_until`]).
    pub fn perform(&mut self, op: &Op) {
        match op {
            Op::Daemon(DaemonOp::Start) if self.model.phase() == DaemonPhase::Down => {
                let latency = self.draw(self.config.latencies.daemon_start);
                self.pending_daemon_start = Some(self.now.plus_nanos(latency.0));
            }
            Op::Service { service, op } => match (self.model.index(service), Order::of(op)) {
                (Some(i), Some(order)) => self.order(i, order),
                (Some(_), None) => self.apply(op_of(op, service)),
                (None, _) => {}
            },
            Op::Daemon(_) => self.apply(op.clone()),
            Op::Wait(_) => {}
        }
    }

    /// Whether the model has answered `call` on `service`.
    pub fn has_reply(&self, service: usize, call: ApiCall) -> bool {
        self.replies
            .iter()
            .any(|(s, c, _)| *s == service && *c == call)
    }

    /// The answer to `call` on `service`, once the model has given it (a stop answers when the
    /// container has stopped).
    pub fn take_reply(&mut self, service: usize, call: ApiCall) -> Option<Answer> {
        let i = self
            .replies
            .iter()
            .position(|(s, c, _)| *s == service && *c == call)?;
        Some(self.replies.remove(i).2)
    }

    fn apply(&mut self, op: Op) {
        let said = self.model.apply(&op, self.now);
        self.absorb(said);
    }

    fn order(&mut self, i: usize, order: Order) {
        let program = &mut self.programs[i];
        program.orders.push_back(order);
        if program.waiting && program.pending_end.is_none() {
            let order = program.orders.pop_front().expect("just pushed");
            program.pending_end = Some((self.now, order));
        }
    }

    /// One draw of `latency` from this simulator's seeded generator.
    pub fn draw(&mut self, latency: Latency) -> Nanos {
        let jitter = latency.jitter.0;
        let extra = if jitter > 0 {
            (self.rng.next() % jitter as u64) as i64
        } else {
            0
        };
        latency.base.plus_nanos(extra)
    }

    /// When the next thing is due, if anything is.
    pub fn next_time(&self) -> Option<Nanos> {
        let programs = self.programs.iter().flat_map(|p| {
            [p.pending_increment, p.pending_end.map(|(at, _)| at)]
                .into_iter()
                .flatten()
        });
        [self.model.next_deadline(), self.pending_daemon_start]
            .into_iter()
            .flatten()
            .chain(programs)
            .min()
    }

    /// Does the next due thing, moving time to it. `false` when nothing is due.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(at);
        if self.model.next_deadline() == Some(at) {
            let said = self.model.advance(at);
            self.absorb(said);
            return true;
        }
        if self.pending_daemon_start == Some(at) {
            self.pending_daemon_start = None;
            self.apply(Op::Daemon(DaemonOp::Start));
            return true;
        }
        for i in 0..self.programs.len() {
            let program = &mut self.programs[i];
            if program.pending_increment == Some(at) {
                program.pending_increment = None;
                program.counter = program.counter.saturating_add(1);
                let value = program.counter;
                let service = self.model.service_name(i).to_owned();
                let node = self.node.clone();
                self.record(Happening::Counter {
                    node,
                    service,
                    value,
                });
                return true;
            }
            if let Some((end_at, order)) = program.pending_end
                && end_at == at
            {
                program.pending_end = None;
                program.waiting = false;
                let service = self.model.service_name(i).to_owned();
                self.apply(Op::on(service, order.op()));
                return true;
            }
        }
        true
    }

    /// Steps until `done` holds or the next due thing is after `limit` (then time moves to
    /// `limit`). Returns whether `done` holds. Stops at once, time where it is, when the
    /// history is over its limit (see [`Simulator::limit_entries`]).
    pub fn run_until(&mut self, limit: Nanos, mut done: impl FnMut(&Simulator) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if self.over_limit() {
                return false;
            }
            match self.next_time() {
                Some(at) if at <= limit => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(limit);
                    return done(self);
                }
            }
        }
    }

    /// Turns the model's outputs into history, and starts and ends the programs' runs.
    fn absorb(&mut self, said: Vec<Said>) {
        for Said { service, output } in said {
            self.outputs = self.outputs.saturating_add(1);
            let Some(i) = service else {
                continue;
            };
            match output {
                Output::Event(action) => {
                    self.program_sees(i, &action);
                    let service = self.model.service_name(i).to_owned();
                    self.history.record(Entry {
                        at: self.now,
                        source: Source::Events,
                        seen: None,
                        what: Happening::Container {
                            node: self.node.clone(),
                            service,
                            action,
                        },
                    });
                }
                Output::Reply { call, answer } => self.replies.push((i, call, answer)),
                Output::UpdateEvent | Output::Daemon(_) => {}
            }
        }
    }

    /// A program starts a run (it counts first, then runs) or ends one.
    fn program_sees(&mut self, i: usize, action: &ContainerAction) {
        match action {
            ContainerAction::Start => {
                let increment = self.draw(self.config.latencies.increment_after_start);
                let now = self.now;
                let program = &mut self.programs[i];
                program.runs_started += 1;
                program.pending_increment = program
                    .behaviour
                    .counts
                    .then(|| now.plus_nanos(increment.0));
                program.waiting = false;
                program.pending_end = None;
                // The script counts first, then runs: it never ends before its increment.
                let counted = now.plus_nanos(if program.behaviour.counts {
                    increment.0
                } else {
                    0
                });
                match program.behaviour.run(program.runs_started) {
                    Run::Exit { after_ms, code } => {
                        let at = now.plus_nanos((after_ms as i64).saturating_mul(1_000_000));
                        program.pending_end = Some((at.max(counted), Order::Exit { code }));
                    }
                    Run::UntilTold => {
                        program.waiting = true;
                        if let Some(order) = program.orders.pop_front() {
                            program.pending_end = Some((counted, order));
                        }
                    }
                    Run::Forever => {}
                }
            }
            ContainerAction::Die { .. } => {
                let program = &mut self.programs[i];
                program.pending_increment = None;
                program.pending_end = None;
                program.waiting = false;
            }
            _ => {}
        }
    }
}

/// `op` on `service` as an [`Op`].
fn op_of(op: &ServiceOp, service: &str) -> Op {
    Op::on(service, *op)
}

/// A small, fast, seedable generator (Steele, Lea, Flood 2014): enough for jitter, and it keeps
/// this crate free of `rand` and its OS entropy source.
#[derive(Debug, Clone, Copy)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RestartPolicy, SignalResponse, Status};

    fn seed_config(seed: u64) -> SimConfig {
        SimConfig {
            engine: EngineVersion::V20_10,
            daemon: DaemonConfig::default(),
            latencies: Latencies::default(),
            seed,
        }
    }

    fn seed_service(runs_for_ms: u64) -> SimService {
        let mut spec = ContainerSpec::with_policy(RestartPolicy::Always);
        spec.workload.on_stop_signal = SignalResponse::Ignore;
        SimService {
            name: "svc".into(),
            spec,
            behaviour: ServiceBehaviour::exits_after(runs_for_ms, 0),
            counter_initial: 0,
        }
    }

    fn seed(seed: u64, runs_for_ms: u64) -> Simulator {
        let mut sim = Simulator::new(
            seed_config(seed),
            "sim",
            vec![seed_service(runs_for_ms)],
            Nanos(0),
        );
        sim.perform(&Op::on("svc", ServiceOp::Api(ApiCall::Start)));
        sim
    }

    fn starts(sim: &Simulator) -> usize {
        sim.history().start_count("svc")
    }

    #[test]
    fn the_seed_counts_each_start_and_survives_a_daemon_restart() {
        let mut sim = seed(7, 1000);
        assert!(sim.run_until(Nanos::from_millis(60_000), |s| starts(s) >= 4));
        // As the runner does: let the last start write its increment before the fault.
        assert!(sim.run_until(Nanos::from_millis(61_000), |s| s.counter(0)
            == starts(s) as u64));
        sim.perform(&Op::Daemon(DaemonOp::Stop));
        assert!(
            sim.run_until(Nanos::from_millis(120_000), |s| s.model().phase()
                == DaemonPhase::Down)
        );
        let frozen = sim.counter(0);
        sim.run_until(sim.now().plus_secs(3), |_| false);
        assert_eq!(
            sim.counter(0),
            frozen,
            "nothing runs while the daemon is down"
        );
        sim.perform(&Op::Daemon(DaemonOp::Start));
        assert!(sim.run_until(sim.now().plus_secs(5), Simulator::daemon_up));
        assert_eq!(
            sim.model().state(0).status,
            Status::Running,
            "always comes back at daemon start"
        );
        let before = starts(&sim);
        assert!(sim.run_until(sim.now().plus_secs(60), |s| starts(s) > before));
        sim.run_until(sim.now().plus_nanos(100_000_000), |_| false);
        assert_eq!(sim.counter(0), starts(&sim) as u64);
    }

    #[test]
    fn a_program_waiting_to_be_told_exits_with_the_code_it_is_told() {
        let mut service = seed_service(0);
        service.spec.policy = RestartPolicy::OnFailure { max_retries: 0 };
        service.behaviour = ServiceBehaviour {
            runs: vec![Run::UntilTold],
            counts: true,
        };
        let mut sim = Simulator::new(seed_config(1), "sim", vec![service], Nanos(0));
        sim.perform(&Op::on("svc", ServiceOp::Api(ApiCall::Start)));
        sim.run_until(Nanos::from_millis(1000), |_| false);
        sim.perform(&Op::on("svc", ServiceOp::Exit { code: 3 }));
        sim.run_until(Nanos::from_millis(2000), |_| false);
        let dies: Vec<_> = sim
            .history()
            .container_actions("svc")
            .filter(|(_, a)| matches!(a, ContainerAction::Die { .. }))
            .map(|(_, a)| a.clone())
            .collect();
        assert_eq!(dies, [ContainerAction::Die { exit_code: 3 }]);
        assert_eq!(
            starts(&sim),
            2,
            "on-failure restarted it, and it waits again"
        );
        sim.perform(&Op::on("svc", ServiceOp::Oom));
        sim.run_until(Nanos::from_millis(3000), |_| false);
        let oom = sim
            .history()
            .container_actions("svc")
            .any(|(_, a)| *a == ContainerAction::Oom);
        assert!(oom, "the OOM order ends in an `oom` event");
    }

    #[test]
    fn a_service_that_restarts_without_end_stops_at_the_entry_limit() {
        let mut sim = seed(3, 0);
        sim.limit_entries(1_000);
        let far = Nanos(i64::MAX);
        assert!(!sim.run_until(far, |_| false));
        assert!(sim.over_limit());
        assert!(sim.history().entries().len() < 1_010);
        assert!(sim.now() < far, "time stays where the limit was reached");
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let run = |seed_value| {
            let mut sim = seed(seed_value, 1000);
            sim.run_until(Nanos::from_millis(30_000), |_| false);
            sim.into_history()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2), "the seed moves the jitter");
    }
}
