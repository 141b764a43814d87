//! Runs in the simulator: the reference model in virtual time, with the same phase engine,
//! history, oracle, checks and report as a real run. Nothing is created, so nothing needs
//! tearing down.

use std::time::Duration;

use halab_model::sim::{Latencies, SimConfig, SimService, Simulator};
use halab_model::{
    Answer, DaemonConfig, DaemonOp, DaemonPhase, EngineVersion, Entry, Happening, History,
    Inspected, Nanos, Op, OpStep, ServiceOp,
};

use super::engine::play;
use super::names::RunNames;
use super::{Played, RunError, Runtime, Started};
use crate::report::TargetInfo;
use crate::scenario::Scenario;
use crate::scenario::limits::MAX_SIM_ENTRIES;
use crate::view::View;

/// Where virtual time starts: 2026-01-01T00:00:00Z, so that a simulated history reads like a
/// real one and does not depend on when it was run.
const EPOCH: Nanos = Nanos(1_767_225_600_000_000_000);

/// Virtual seconds a daemon or API operation may take before the run gives up on it (a stop
/// with the default 10 s stop timeout takes 10 s; a restore stopping containers as long).
const OP_LIMIT: Duration = Duration::from_secs(300);

/// The simulated daemon's name in the history.
const NODE: &str = "sim";

pub(super) async fn run(
    scenario: &Scenario,
    seed: u64,
    engine: EngineVersion,
    live_restore: bool,
    skip_daemon_phases: bool,
    view: &mut dyn View,
) -> Result<Played, RunError> {
    let config = SimConfig {
        engine,
        daemon: DaemonConfig {
            live_restore,
            ..DaemonConfig::default()
        },
        latencies: Latencies::default(),
        seed,
    };
    let services = scenario
        .services
        .iter()
        .map(|s| SimService {
            name: s.name.clone(),
            spec: s.spec(),
            behaviour: s.program.clone(),
            counter_initial: s.counter_initial,
        })
        .collect();
    let names = RunNames::for_seed(seed);
    let mut rt = SimRuntime {
        sim: Simulator::new(config, NODE, services, EPOCH),
        counting: scenario
            .services
            .iter()
            .filter(|s| s.counts())
            .map(|s| s.name.clone())
            .collect(),
        arrivals: Vec::new(),
    };
    rt.sim.limit_entries(MAX_SIM_ENTRIES);
    view.note(&format!(
        "simulating engine {} in virtual time, seed {seed}",
        engine.name()
    ));
    // The daemon's own start, as a lab's is recorded: what the oracle calibrates with.
    let start = Op::Daemon(DaemonOp::Start);
    rt.record(op_entry(0, OpStep::Invoke, &start));
    let latency = rt.sim.draw(rt.sim.latencies().daemon_start);
    rt.sim
        .run_until(rt.sim.now().plus_nanos(latency.0), |_| false);
    rt.record(op_entry(0, OpStep::Ok { read: None }, &start));
    rt.read_counters();
    let target = TargetInfo {
        kind: "sim".into(),
        name: format!(
            "seed {seed}{}",
            if live_restore { ", live-restore" } else { "" }
        ),
        docker_host: String::new(),
        engine_version: format!("model of {}", engine.name()),
    };
    view.started(&Started {
        run_id: names.run_id.clone(),
        target: target.clone(),
        engine,
        live_restore,
    });
    let phases = play(&mut rt, scenario, skip_daemon_phases, view).await;
    if rt.sim.over_limit() {
        return Err(RunError::SimulationTooLong {
            scenario: scenario.name.clone(),
            limit: MAX_SIM_ENTRIES,
            virtual_secs: rt.sim.now().millis_since(EPOCH) / 1000,
        });
    }
    Ok(Played {
        run_id: names.run_id,
        target,
        live_restore,
        engine,
        phases,
        history: rt.sim.into_history(),
    })
}

/// The daemon's initial start gets an id of its own, outside the engine's (which start at 0
/// too, but the history tells them apart by their ends' order).
fn op_entry(id: u64, step: OpStep, op: &Op) -> Happening {
    Happening::Op {
        node: NODE.to_owned(),
        id: u64::MAX - id,
        step,
        op: op.clone(),
    }
}

struct SimRuntime {
    sim: Simulator,
    counting: Vec<String>,
    /// Every entry in the order it was recorded (the simulator's history is ordered by time).
    arrivals: Vec<Entry>,
}

impl SimRuntime {
    fn after(&self, duration: Duration) -> Nanos {
        self.sim.now().plus(duration)
    }

    /// Entries the simulator recorded since the last look, in recording order.
    fn catch_up(&mut self, known: usize) {
        let entries = self.sim.history().entries();
        // Entries arrive at the simulator's `now`, so they are the history's newest ones.
        self.arrivals
            .extend(entries[known.min(entries.len())..].iter().cloned());
    }

    /// Runs virtual time until `done`, at most `timeout`.
    fn run_until(&mut self, timeout: Duration, mut done: impl FnMut(&Simulator) -> bool) -> bool {
        let limit = self.after(timeout);
        self.sim.run_until(limit, |s| done(s))
    }
}

impl Runtime for SimRuntime {
    fn node(&self) -> &str {
        NODE
    }

    fn now(&self) -> Nanos {
        self.sim.now()
    }

    fn record(&mut self, what: Happening) {
        let known = self.sim.history().entries().len();
        self.sim.record(what);
        self.catch_up(known);
    }

    fn read_counters(&mut self) {
        for service in self.counting.clone() {
            let Some(i) = self.sim.model().index(&service) else {
                continue;
            };
            let value = self.sim.counter(i);
            self.record(Happening::Counter {
                node: NODE.to_owned(),
                service,
                value,
            });
        }
    }

    async fn perform(&mut self, op: &Op) -> OpStep {
        let known = self.sim.history().entries().len();
        let step = match op {
            Op::Daemon(daemon) => {
                let phase = self.sim.model().phase();
                self.sim.perform(op);
                let (wanted, refused) = match daemon {
                    DaemonOp::Start => (DaemonPhase::Up, phase != DaemonPhase::Down),
                    _ => (DaemonPhase::Down, phase == DaemonPhase::Down),
                };
                if refused {
                    OpStep::Fail {
                        error: match daemon {
                            DaemonOp::Start => "the daemon is already running".into(),
                            _ => "the daemon is not running".into(),
                        },
                    }
                } else if self.run_until(OP_LIMIT, |s| {
                    s.model().phase() == wanted && (wanted == DaemonPhase::Down || s.daemon_up())
                }) {
                    OpStep::Ok { read: None }
                } else {
                    OpStep::Info {
                        error: format!("not done within {} virtual s", OP_LIMIT.as_secs()),
                    }
                }
            }
            Op::Service { service, op: s_op } => {
                let Some(i) = self.sim.model().index(service) else {
                    return OpStep::Fail {
                        error: format!("no service {service}"),
                    };
                };
                match s_op {
                    ServiceOp::Inspect => {
                        let state = self.sim.model().state(i);
                        if !self.sim.daemon_up() {
                            OpStep::Fail {
                                error: "no daemon answers".into(),
                            }
                        } else {
                            OpStep::Ok {
                                read: Some(Inspected {
                                    status: if state.removed {
                                        "removed".into()
                                    } else {
                                        state.status.as_str().into()
                                    },
                                    exit_code: state.exit_code,
                                    restart_count: i64::from(state.restart_count),
                                    health: state.health.map(|h| h.as_str().to_owned()),
                                }),
                            }
                        }
                    }
                    ServiceOp::Api(call) => {
                        self.sim.perform(op);
                        let call = *call;
                        // A stop (or restart) answers when the container has stopped: let
                        // virtual time run to the answer.
                        self.run_until(OP_LIMIT, |s| s.has_reply(i, call));
                        match self.sim.take_reply(i, call) {
                            Some(Answer::Status { code }) if code < 400 => {
                                OpStep::Ok { read: None }
                            }
                            Some(Answer::Status { code }) => OpStep::Fail {
                                error: format!("the daemon answered {code}"),
                            },
                            Some(Answer::NoDaemon) => OpStep::Fail {
                                error: "no daemon answers".into(),
                            },
                            Some(Answer::Dropped) | None => OpStep::Info {
                                error: "the connection dropped before an answer".into(),
                            },
                        }
                    }
                    _ => {
                        self.sim.perform(op);
                        OpStep::Ok { read: None }
                    }
                }
            }
            Op::Wait(_) => OpStep::Ok { read: None },
        };
        self.catch_up(known);
        step
    }

    async fn wait_for(
        &mut self,
        timeout: Duration,
        done: &mut dyn FnMut(&History) -> bool,
        shown: &mut usize,
        arrived: &mut dyn FnMut(&[Entry]),
    ) -> bool {
        let known = self.sim.history().entries().len();
        let reached = self.run_until(timeout, |s| done(s.history()));
        self.catch_up(known);
        let fresh = self.arrivals_since(*shown);
        *shown += fresh.len();
        if !fresh.is_empty() {
            arrived(&fresh);
        }
        reached
    }

    fn with_history<T>(&self, read: impl FnOnce(&History) -> T) -> T {
        read(self.sim.history())
    }

    fn arrivals_since(&self, seen: usize) -> Vec<Entry> {
        self.arrivals.get(seen..).unwrap_or_default().to_vec()
    }

    fn halted(&self) -> bool {
        self.sim.over_limit()
    }
}
