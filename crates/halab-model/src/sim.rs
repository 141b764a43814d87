//! A virtual-time simulator: the model of a daemon and one service container, with the service's
//! own behaviour (it counts its start, runs a while, exits), producing the same [`History`] a
//! real run records.
//!
//! Time is virtual: the simulator jumps from one due thing to the next (a back-off restart, the
//! service's increment, its exit), so minutes of daemon behaviour take microseconds. It is
//! deterministic: the only randomness is a jitter drawn from a generator seeded by the caller.
//! Like the rest of this crate it does no I/O and reads no clock.

use crate::config::ModelConfig;
use crate::container::ContainerModel;
use crate::history::{ContainerAction, Entry, Happening, History, Nanos, Source};
use crate::input::Input;
use crate::observed::Observed;
use crate::output::Output;

/// What the service does by itself, as the simulator plays it (the real service is a script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceBehaviour {
    /// After each start, the process exits by itself this long after (the seed: `sleep 10`).
    pub runs_for: Nanos,
    pub exit_code: i64,
    /// How much each start adds to the counter (the seed: 1).
    pub increments: u64,
}

/// How long something takes: `base` plus a uniform draw from `[0, jitter)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub base: Nanos,
    pub jitter: Nanos,
}

/// How long things take that the model itself does not time, measured on a real lab daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    /// From the `start` event to the script's increment.
    pub increment_after_start: Latency,
    /// From executing dockerd to its API answering (restore included).
    pub daemon_start: Latency,
}

impl Default for Latencies {
    /// Measured on the lab machine (Docker 20.10.24): a lab dockerd answers ~0.8–1.3 s after it
    /// is executed; busybox `sh` writes its counter within a few ms of `start`.
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
    pub model: ModelConfig,
    pub service: ServiceBehaviour,
    pub latencies: Latencies,
    pub seed: u64,
}

/// One simulated daemon with one service container.
pub struct Simulator {
    model: ContainerModel,
    config: SimConfig,
    container: String,
    now: Nanos,
    history: History,
    counter: u64,
    pending_increment: Option<Nanos>,
    pending_exit: Option<Nanos>,
    rng: SplitMix64,
    outputs: u64,
    /// The most history entries this simulator makes; past it, it stops stepping.
    entry_limit: usize,
}

impl Simulator {
    /// A simulator at virtual time `start`, the container created but not started.
    pub fn new(
        config: SimConfig,
        container: &str,
        start: Nanos,
        counter_initial: u64,
    ) -> Simulator {
        Simulator {
            model: ContainerModel::with_config(config.model),
            config,
            container: container.to_owned(),
            now: start,
            history: History::new(),
            counter: counter_initial,
            pending_increment: None,
            pending_exit: None,
            rng: SplitMix64(config.seed),
            outputs: 0,
            entry_limit: usize::MAX,
        }
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

    pub fn now(&self) -> Nanos {
        self.now
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn into_history(self) -> History {
        self.history
    }

    pub fn counter(&self) -> u64 {
        self.counter
    }

    pub fn state(&self) -> Observed {
        self.model.state()
    }

    /// The model under the simulator.
    pub fn model(&self) -> &ContainerModel {
        &self.model
    }

    pub fn latencies(&self) -> Latencies {
        self.config.latencies
    }

    /// How many outputs (events, replies, daemon transitions) the model has produced so far.
    pub fn outputs(&self) -> u64 {
        self.outputs
    }

    /// Records something the harness did, now.
    pub fn record(&mut self, what: Happening) {
        self.history.record(Entry {
            at: self.now,
            source: Source::Harness,
            what,
        });
    }

    /// `input` happens now.
    pub fn input(&mut self, input: Input) {
        let outputs = self.model.apply(input, self.now);
        self.absorb(outputs);
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
        [
            self.model.next_deadline(),
            self.pending_increment,
            self.pending_exit,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Does the next due thing, moving time to it. `false` when nothing is due.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(at);
        if self.model.next_deadline() == Some(at) {
            let outputs = self.model.advance(at);
            self.absorb(outputs);
        } else if self.pending_increment == Some(at) {
            self.pending_increment = None;
            self.counter = self.counter.saturating_add(self.config.service.increments);
            self.record(Happening::Counter {
                value: self.counter,
            });
        } else {
            self.pending_exit = None;
            self.input(Input::ProcessExit {
                code: self.config.service.exit_code,
            });
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

    /// Turns the model's outputs into history, and starts and ends the service's own timers.
    fn absorb(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            self.outputs = self.outputs.saturating_add(1);
            match output {
                Output::Event(action) => {
                    match action {
                        ContainerAction::Start => {
                            let increment = self.draw(self.config.latencies.increment_after_start);
                            self.pending_increment = Some(self.now.plus_nanos(increment.0));
                            // The script counts first, then runs: it never exits before its increment.
                            let runs_for = self.config.service.runs_for.0.max(increment.0);
                            self.pending_exit = Some(self.now.plus_nanos(runs_for));
                        }
                        ContainerAction::Die { .. } => {
                            self.pending_increment = None;
                            self.pending_exit = None;
                        }
                        _ => {}
                    }
                    self.history.record(Entry {
                        at: self.now,
                        source: Source::Events,
                        what: Happening::Container {
                            container: self.container.clone(),
                            action,
                        },
                    });
                }
                // The harness records what it sees of the daemon, as it does on a real one.
                Output::Daemon(_) | Output::UpdateEvent | Output::Reply { .. } => {}
            }
        }
    }
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
    use crate::{ApiCall, DaemonInput, EngineVersion, RestartPolicy, Status};

    fn seed_config(seed: u64) -> SimConfig {
        SimConfig {
            model: ModelConfig::new(RestartPolicy::Always, EngineVersion::V20_10),
            service: ServiceBehaviour {
                runs_for: Nanos::from_millis(1000),
                exit_code: 0,
                increments: 1,
            },
            latencies: Latencies::default(),
            seed,
        }
    }

    fn starts(sim: &Simulator) -> usize {
        sim.history().starts("svc").count()
    }

    #[test]
    fn the_seed_counts_each_start_and_survives_a_daemon_restart() {
        let mut sim = Simulator::new(seed_config(7), "svc", Nanos(0), 0);
        sim.input(Input::Api(ApiCall::Start));
        assert!(sim.run_until(Nanos::from_millis(60_000), |s| starts(s) >= 4));
        // As the runner does: let the last start write its increment before the fault.
        assert!(sim.run_until(Nanos::from_millis(61_000), |s| s.counter()
            == starts(s) as u64));
        sim.input(Input::Daemon(DaemonInput::Stop));
        assert!(
            sim.run_until(Nanos::from_millis(120_000), |s| s.state().daemon
                == crate::DaemonPhase::Down)
        );
        let frozen = sim.counter();
        sim.run_until(Nanos(sim.now().0 + 3_000_000_000), |_| false);
        assert_eq!(
            sim.counter(),
            frozen,
            "nothing runs while the daemon is down"
        );
        sim.input(Input::Daemon(DaemonInput::Start));
        assert_eq!(
            sim.state().status,
            Status::Running,
            "always comes back at daemon start"
        );
        let before = starts(&sim);
        assert!(sim.run_until(Nanos(sim.now().0 + 60_000_000_000), |s| starts(s) > before));
        sim.run_until(Nanos(sim.now().0 + 100_000_000), |_| false);
        assert_eq!(sim.counter(), starts(&sim) as u64);
    }

    #[test]
    fn a_service_that_restarts_without_end_stops_at_the_entry_limit() {
        let mut config = seed_config(3);
        config.service.runs_for = Nanos(0);
        let mut sim = Simulator::new(config, "svc", Nanos(0), 0);
        sim.limit_entries(1_000);
        sim.input(Input::Api(ApiCall::Start));
        let far = Nanos(i64::MAX);
        assert!(!sim.run_until(far, |_| false));
        assert!(sim.over_limit());
        assert!(sim.history().entries().len() < 1_010);
        assert!(sim.now() < far, "time stays where the limit was reached");
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let run = |seed| {
            let mut sim = Simulator::new(seed_config(seed), "svc", Nanos(0), 0);
            sim.input(Input::Api(ApiCall::Start));
            sim.run_until(Nanos::from_millis(30_000), |_| false);
            sim.into_history()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2), "the seed moves the jitter");
    }
}
