//! One daemon and the containers under it: the level at which a daemon fault hits every
//! container at once, as on a real daemon.
//!
//! Each service is a [`ContainerModel`]; the daemon adds what only exists across them:
//! - its own phase: it is down only when every container's part of `Shutdown` is done (they
//!   stop in parallel, each with its own timeout), and it answers again only when `restore` is
//!   done for all of them;
//! - `restore`'s two loops: every container is restored first (an alive one is stopped, waiting
//!   out its stop timeout, when live-restore is off) and only then are the restart policies
//!   applied (`group.Wait()` between the loops of `daemon.(*Daemon).restore`, 20.10) — so a
//!   container that could restart at once waits for the slowest stop;
//! - its API: while it is not up, every call is answered [`Answer::NoDaemon`], also for a
//!   container whose own restore is done.

use std::collections::BTreeMap;

use crate::config::{ContainerSpec, DaemonConfig, ModelConfig};
use crate::container::ContainerModel;
use crate::engine::EngineVersion;
use crate::history::{DaemonAction, Nanos};
use crate::observed::{DaemonPhase, Observed};
use crate::op::{DaemonOp, Op, ServiceOp};
use crate::output::{Answer, Output};
use crate::reference::Reference;

/// What the daemon model reports: an output of one service's container, or of the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The service's index (see [`DaemonModel::service_name`]); `None` for the daemon's own.
    pub service: Option<usize>,
    pub output: Output,
}

/// A daemon with its services' containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonModel {
    engine: EngineVersion,
    config: DaemonConfig,
    reference: Reference,
    names: Vec<String>,
    containers: Vec<ContainerModel>,
    phase: DaemonPhase,
}

impl DaemonModel {
    /// A running daemon with no container yet.
    pub fn new(engine: EngineVersion, config: DaemonConfig) -> DaemonModel {
        DaemonModel {
            engine,
            config,
            reference: Reference::Engine,
            names: Vec::new(),
            containers: Vec::new(),
            phase: DaemonPhase::Up,
        }
    }

    /// The same daemon, following `reference` (for containers added afterwards).
    pub fn with_reference(mut self, reference: Reference) -> DaemonModel {
        self.reference = reference;
        self
    }

    /// Creates `service`'s container (not started). Returns its index.
    pub fn add_service(&mut self, service: &str, spec: ContainerSpec) -> usize {
        let mut container = ContainerModel::with_config(ModelConfig {
            engine: self.engine,
            daemon: self.config,
            container: spec,
            reference: self.reference,
        });
        container.managed = true;
        self.names.push(service.to_owned());
        self.containers.push(container);
        self.names.len() - 1
    }

    pub fn phase(&self) -> DaemonPhase {
        self.phase
    }

    pub fn config(&self) -> DaemonConfig {
        self.config
    }

    pub fn service_names(&self) -> &[String] {
        &self.names
    }

    pub fn service_name(&self, index: usize) -> &str {
        &self.names[index]
    }

    pub fn index(&self, service: &str) -> Option<usize> {
        self.names.iter().position(|n| n == service)
    }

    /// One service's container.
    pub fn container(&self, index: usize) -> &ContainerModel {
        &self.containers[index]
    }

    /// The daemon's own record of when the container at `index` last started (its
    /// `State.StartedAt`), as a run observed it: a model that judges a real run measures each
    /// run's length from there, as moby's exit handler does (`time.Since(c.StartedAt)` in
    /// `daemon.(*Daemon).handleContainerExit`), not from its own idea of the start, which is
    /// earlier by the daemon's start latency — enough, on a loaded machine, to put a 9 s run
    /// over the 10 s back-off reset. Ignored unless the container is running and `at` is no
    /// earlier than the model's start.
    pub fn observed_start(&mut self, index: usize, at: Nanos) {
        self.containers[index].observed_start(at);
    }

    /// What inspect would show of `service` (the daemon's phase included).
    pub fn state(&self, index: usize) -> Observed {
        let mut state = self.containers[index].state();
        state.daemon = self.phase;
        state
    }

    /// When the next timer of any container fires.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.containers
            .iter()
            .filter_map(ContainerModel::next_deadline)
            .min()
    }

    /// Whether any container has a stop waiting for its exit.
    pub fn stop_in_progress(&self) -> bool {
        self.containers.iter().any(ContainerModel::stop_in_progress)
    }

    /// Lets time pass up to `now`, firing every due timer at its own time, earliest first.
    pub fn advance(&mut self, now: Nanos) -> Vec<Said> {
        let mut said = Vec::new();
        while let Some(at) = self.next_deadline().filter(|at| *at <= now) {
            for i in 0..self.containers.len() {
                if self.containers[i].next_deadline() == Some(at) {
                    let out = self.containers[i].advance(at);
                    self.absorb(i, out, &mut said);
                }
            }
            self.settle(at, &mut said);
        }
        for i in 0..self.containers.len() {
            let out = self.containers[i].advance(now);
            self.absorb(i, out, &mut said);
        }
        self.settle(now, &mut said);
        said
    }

    /// `op` is done at `now` (timers due by then fire first). An op naming no service of this
    /// daemon does nothing; a wait only lets time pass.
    pub fn apply(&mut self, op: &Op, now: Nanos) -> Vec<Said> {
        let mut said = self.advance(now);
        match op {
            Op::Wait(_) => {}
            Op::Daemon(op) => self.daemon(*op, now, &mut said),
            Op::Service { service, op } => {
                if let Some(i) = self.index(service) {
                    self.service(i, *op, now, &mut said);
                }
            }
        }
        self.settle(now, &mut said);
        said
    }

    fn service(&mut self, i: usize, op: ServiceOp, now: Nanos, said: &mut Vec<Said>) {
        if let ServiceOp::Api(call) = op
            && self.phase != DaemonPhase::Up
        {
            // The listener is closed while shutting down and not serving while restoring.
            said.push(Said {
                service: Some(i),
                output: Output::Reply {
                    call,
                    answer: Answer::NoDaemon,
                },
            });
            return;
        }
        let out = self.containers[i].apply(op, now);
        self.absorb(i, out, said);
    }

    fn daemon(&mut self, op: DaemonOp, now: Nanos, said: &mut Vec<Said>) {
        let applies = match op {
            DaemonOp::Stop => self.phase == DaemonPhase::Up,
            DaemonOp::Crash => self.phase != DaemonPhase::Down,
            DaemonOp::PowerLoss => true,
            DaemonOp::Start => self.phase == DaemonPhase::Down,
        };
        if !applies {
            return;
        }
        self.phase = match op {
            DaemonOp::Stop => DaemonPhase::ShuttingDown,
            DaemonOp::Crash | DaemonOp::PowerLoss => DaemonPhase::Down,
            DaemonOp::Start => DaemonPhase::Starting,
        };
        for i in 0..self.containers.len() {
            let out = self.containers[i].apply_daemon(op, now);
            self.absorb(i, out, said);
        }
        if matches!(op, DaemonOp::Crash | DaemonOp::PowerLoss) {
            said.push(Said {
                service: None,
                output: Output::Daemon(DaemonAction::Stopped),
            });
        }
    }

    /// A container's outputs, with its own view of the daemon (it is one of several) left out.
    fn absorb(&self, i: usize, out: Vec<Output>, said: &mut Vec<Said>) {
        said.extend(
            out.into_iter()
                .filter(|o| !matches!(o, Output::Daemon(_)))
                .map(|output| Said {
                    service: Some(i),
                    output,
                }),
        );
    }

    /// Moves the daemon on when every container has done its part: the last stop of a shutdown
    /// ends the process; the last restore lets the restart policies run, and the API answer.
    fn settle(&mut self, now: Nanos, said: &mut Vec<Said>) {
        let container_phases = |phase| self.containers.iter().all(|c| c.phase == phase);
        match self.phase {
            DaemonPhase::ShuttingDown if container_phases(DaemonPhase::Down) => {
                self.phase = DaemonPhase::Down;
                said.push(Said {
                    service: None,
                    output: Output::Daemon(DaemonAction::Stopped),
                });
            }
            DaemonPhase::Starting if !self.containers.iter().any(ContainerModel::restoring) => {
                for i in 0..self.containers.len() {
                    let mut out = Vec::new();
                    self.containers[i].release_restore(now, &mut out);
                    self.absorb(i, out, said);
                }
                self.phase = DaemonPhase::Up;
                said.push(Said {
                    service: None,
                    output: Output::Daemon(DaemonAction::Ready),
                });
            }
            _ => {}
        }
    }

    /// The services by name, with their containers' states.
    pub fn states(&self) -> BTreeMap<&str, Observed> {
        (0..self.names.len())
            .map(|i| (self.names[i].as_str(), self.state(i)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SignalResponse;
    use crate::observed::Status;
    use crate::op::ApiCall;

    const S: i64 = 1_000_000_000;

    fn spec(policy: &str) -> ContainerSpec {
        let mut spec = ContainerSpec::with_policy(policy.parse().unwrap());
        spec.workload.on_stop_signal = SignalResponse::Ignore;
        spec
    }

    fn daemon(live_restore: bool) -> DaemonModel {
        DaemonModel::new(
            EngineVersion::V20_10,
            DaemonConfig {
                live_restore,
                ..DaemonConfig::default()
            },
        )
    }

    fn start_all(d: &mut DaemonModel, now: Nanos) {
        for name in d.service_names().to_vec() {
            d.apply(&Op::on(&name, ServiceOp::Api(ApiCall::Start)), now);
        }
    }

    #[test]
    fn a_crash_hits_every_container_and_restore_waits_for_the_slowest_stop() {
        let mut d = daemon(false);
        d.add_service("always", spec("always"));
        d.add_service("exits", spec("always"));
        start_all(&mut d, Nanos(0));
        // `exits` dies while the daemon is down; `always` outlives it.
        d.apply(&Op::Daemon(DaemonOp::Crash), Nanos(S));
        d.apply(&Op::on("exits", ServiceOp::Exit { code: 0 }), Nanos(2 * S));
        let said = d.apply(&Op::Daemon(DaemonOp::Start), Nanos(3 * S));
        assert!(
            !said
                .iter()
                .any(|s| s.output == Output::Daemon(DaemonAction::Ready)),
            "restore first stops `always`, which ignores SIGTERM: {said:?}"
        );
        let answer = d.apply(
            &Op::on("exits", ServiceOp::Api(ApiCall::Start)),
            Nanos(4 * S),
        );
        assert!(answer.iter().any(|s| matches!(
            s.output,
            Output::Reply {
                answer: Answer::NoDaemon,
                ..
            }
        )));
        // SIGKILL after the 10 s stop timeout; then both restart and the API answers.
        let said = d.advance(Nanos(13 * S));
        let start_of = |i| Said {
            service: Some(i),
            output: Output::Event(crate::ContainerAction::Start),
        };
        let ready = said
            .iter()
            .position(|s| s.output == Output::Daemon(DaemonAction::Ready))
            .expect("the daemon answers again");
        let exits_started = said
            .iter()
            .position(|s| *s == start_of(1))
            .expect("restarted");
        assert!(
            said[..exits_started].contains(&Said {
                service: Some(0),
                output: Output::Event(crate::ContainerAction::Die { exit_code: 137 }),
            }),
            "`exits` restarts only once `always` has been stopped: {said:?}"
        );
        assert!(exits_started < ready);
        assert!(said.contains(&Said {
            service: None,
            output: Output::Daemon(DaemonAction::Ready)
        }));
        assert_eq!(d.phase(), DaemonPhase::Up);
        assert_eq!(d.state(0).status, Status::Running);
        assert_eq!(d.state(1).status, Status::Running);
    }

    #[test]
    fn a_clean_stop_ends_when_the_last_container_has_stopped() {
        let mut d = daemon(false);
        let mut quick = spec("unless-stopped");
        quick.workload.on_stop_signal = SignalResponse::Exit { code: 0 };
        d.add_service("quick", quick);
        d.add_service("slow", spec("always"));
        start_all(&mut d, Nanos(0));
        let said = d.apply(&Op::Daemon(DaemonOp::Stop), Nanos(S));
        assert!(!said.iter().any(|s| s.service.is_none()), "{said:?}");
        assert_eq!(d.phase(), DaemonPhase::ShuttingDown);
        d.advance(Nanos(11 * S - 1));
        assert_eq!(d.phase(), DaemonPhase::ShuttingDown);
        let said = d.advance(Nanos(11 * S));
        assert_eq!(d.phase(), DaemonPhase::Down);
        assert!(said.contains(&Said {
            service: None,
            output: Output::Daemon(DaemonAction::Stopped)
        }));
        let back = d.apply(&Op::Daemon(DaemonOp::Start), Nanos(12 * S));
        assert!(back.contains(&Said {
            service: None,
            output: Output::Daemon(DaemonAction::Ready)
        }));
        assert_eq!(d.state(0).status, Status::Running);
        assert_eq!(d.state(1).status, Status::Running);
    }
}
