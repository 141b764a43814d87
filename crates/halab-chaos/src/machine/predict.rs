//! The reference state machine: the engine's model, with each service's program, played in
//! virtual time one transition at a time. Generation asks it what state each service is in
//! (to draw transitions that mean something there); compilation asks it what the daemon will
//! do after each transition (to wait on the history for exactly that, and no longer).

use std::time::Duration;

use halab_model::sim::{Latencies, SimConfig, SimService, Simulator};
use halab_model::{
    ApiCall, ContainerAction, DaemonConfig, DaemonPhase, EngineVersion, Happening, Nanos, Observed,
    Op, ServiceOp,
};

use super::Case;

/// Where virtual time starts (any fixed moment: nothing reads it as a date).
const EPOCH: Nanos = Nanos(1_767_225_600_000_000_000);

/// How far ahead the daemon may have something to do and still count as settling: past the
/// back-off's one-minute cap and a stop's timeout, so every pending restart is waited for.
const HORIZON: Duration = Duration::from_secs(75);

/// What the daemon does after one transition, until it is quiet again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settling {
    /// Per service (in the case's order): starts and dies it logs.
    pub starts: Vec<u64>,
    pub dies: Vec<u64>,
    /// Per service: whether the last of them is a die (else a start, or nothing).
    pub ends_dead: Vec<bool>,
    /// From the transition's start until the last of those events, in virtual time.
    pub took: Duration,
}

/// The model of a case's daemon and services, in virtual time.
pub struct Prediction {
    sim: Simulator,
}

impl Prediction {
    /// A daemon with the case's services created, none started.
    pub fn new(case: &Case) -> Prediction {
        let config = SimConfig {
            engine: EngineVersion::V20_10,
            daemon: DaemonConfig {
                live_restore: case.live_restore,
                ..DaemonConfig::default()
            },
            latencies: Latencies::default(),
            seed: 0,
        };
        let services = case
            .services
            .iter()
            .map(|s| {
                let service = s.service();
                SimService {
                    name: service.name.clone(),
                    spec: service.spec(),
                    behaviour: service.program.clone(),
                    counter_initial: 0,
                }
            })
            .collect();
        Prediction {
            sim: Simulator::new(config, "model", services, EPOCH),
        }
    }

    /// A case's daemon with every service started, as a run begins.
    pub fn started(case: &Case) -> Prediction {
        let mut prediction = Prediction::new(case);
        for service in &case.services {
            prediction.step(&Op::on(
                service.name.clone(),
                ServiceOp::Api(ApiCall::Start),
            ));
        }
        prediction
    }

    /// Does `op` and lets the daemon settle: returns what it did meanwhile.
    pub fn step(&mut self, op: &Op) -> Settling {
        let began = self.sim.now();
        let before = self.counts();
        let entries_before = self.sim.history().entries().len();
        match op {
            Op::Wait(halab_model::Wait::For { ms }) => {
                let until = began.plus(Duration::from_millis(*ms));
                self.sim.run_until(until, |_| false);
            }
            _ => self.sim.perform(op),
        }
        let mut last = began;
        let limit = self.sim.now().plus(HORIZON);
        while let Some(at) = self.sim.next_time() {
            if at > limit {
                break;
            }
            self.sim.step();
            last = last.max(self.sim.now());
        }
        let after = self.counts();
        let (starts, dies) = before
            .iter()
            .zip(&after)
            .map(|(b, a)| ((a.0 - b.0) as u64, (a.1 - b.1) as u64))
            .unzip();
        let ends_dead = self
            .sim
            .model()
            .service_names()
            .iter()
            .map(|name| {
                self.sim.history().entries()[entries_before..]
                    .iter()
                    .rev()
                    .find_map(|e| match &e.what {
                        Happening::Container {
                            service, action, ..
                        } if service == name => match action {
                            ContainerAction::Start => Some(false),
                            ContainerAction::Die { .. } => Some(true),
                            _ => None,
                        },
                        _ => None,
                    })
                    .unwrap_or(false)
            })
            .collect();
        Settling {
            starts,
            dies,
            ends_dead,
            took: Duration::from_nanos(last.0.saturating_sub(began.0).max(0) as u64),
        }
    }

    fn counts(&self) -> Vec<(usize, usize)> {
        let history = self.sim.history();
        self.sim
            .model()
            .service_names()
            .iter()
            .map(|s| (history.start_count(s), history.die_count(s)))
            .collect()
    }

    pub fn daemon(&self) -> DaemonPhase {
        self.sim.model().phase()
    }

    /// What inspect would show of the `i`-th service.
    pub fn state(&self, i: usize) -> Observed {
        self.sim.model().state(i)
    }
}
