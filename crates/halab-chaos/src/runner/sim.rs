//! Runs in the simulator: the reference model in virtual time, with the same phase engine,
//! history, checks and report as a real run. Nothing is created, so nothing needs tearing down.

use std::time::Duration;

use halab_model::sim::{Latencies, ServiceBehaviour, SimConfig, Simulator};
use halab_model::{
    ApiCall, DaemonInput, DaemonPhase, EngineVersion, Happening, History, Input, ModelConfig,
    Nanos, SignalResponse, Status,
};

use super::{ContainerCall, RunError, Runtime, judge, play};
use crate::report::{Report, TargetInfo};
use crate::scenario::limits::MAX_SIM_ENTRIES;
use crate::scenario::{OnStopSignal, Scenario};
use crate::view::View;

/// Where virtual time starts: 2026-01-01T00:00:00Z, so that a simulated history reads like a
/// real one and does not depend on when it was run.
const EPOCH: Nanos = Nanos(1_767_225_600_000_000_000);

/// Virtual seconds a daemon stop may take before the run gives up on it (a stop with the
/// default 10 s stop timeout takes 10 s).
const STOP_LIMIT: Duration = Duration::from_secs(120);

pub(super) async fn run(
    scenario: &Scenario,
    seed: u64,
    live_restore: bool,
    view: &mut dyn View,
) -> Result<Report, RunError> {
    let sim = scenario
        .service
        .sim
        .as_ref()
        .ok_or_else(|| RunError::NotSimulable {
            scenario: scenario.name.clone(),
            path: scenario.path.clone(),
        })?;
    let mut model = ModelConfig::new(scenario.service.restart, EngineVersion::V20_10);
    model.daemon.live_restore = live_restore;
    model.container.stop_timeout_s = scenario.service.stop_timeout;
    model.container.workload.on_stop_signal = match sim.on_stop_signal {
        OnStopSignal::Ignore => SignalResponse::Ignore,
        OnStopSignal::Die => SignalResponse::Die,
        OnStopSignal::Exit => SignalResponse::Exit { code: 0 },
    };
    let config = SimConfig {
        model,
        service: ServiceBehaviour {
            // Bounded by the parser (a day at most), so the cast cannot saturate.
            runs_for: Nanos((sim.runs_for_secs * 1e9) as i64),
            exit_code: sim.exit_code,
            increments: 1,
        },
        latencies: Latencies::default(),
        seed,
    };
    // Derived from the seed alone, so the same seed gives the same report, names included.
    let run_id = format!("sim-seed-{seed}");
    let container = format!("halab-{run_id}-service");
    let mut rt = SimRuntime {
        sim: Simulator::new(config, &container, EPOCH, scenario.service.counter_initial),
    };
    rt.sim.limit_entries(MAX_SIM_ENTRIES);
    view.note(&format!(
        "simulating engine 20.10 in virtual time, seed {seed}"
    ));
    rt.read_counter();
    rt.sim.input(Input::Api(ApiCall::Start));
    let phases = play(&mut rt, scenario, &container, false, view).await;
    let restart_count = rt.finish().await;
    if rt.sim.over_limit() {
        return Err(RunError::SimulationTooLong {
            scenario: scenario.name.clone(),
            limit: MAX_SIM_ENTRIES,
            virtual_secs: rt.sim.now().millis_since(EPOCH) / 1000,
        });
    }
    let target = TargetInfo {
        kind: "sim",
        name: format!(
            "seed {seed}{}",
            if live_restore { ", live-restore" } else { "" }
        ),
        docker_host: String::new(),
        engine_version: format!("model of {}", EngineVersion::V20_10.name()),
    };
    let report = judge(
        scenario,
        run_id,
        target,
        &container,
        phases,
        rt.sim.into_history(),
        restart_count,
    );
    Ok(report)
}

struct SimRuntime {
    sim: Simulator,
}

impl SimRuntime {
    fn after(&self, duration: Duration) -> Nanos {
        self.sim.now().plus(duration)
    }
}

impl Runtime for SimRuntime {
    fn now(&self) -> Nanos {
        self.sim.now()
    }

    fn record(&mut self, what: Happening) {
        self.sim.record(what);
    }

    fn read_counter(&mut self) {
        let value = self.sim.counter();
        self.sim.record(Happening::Counter { value });
    }

    async fn wait_for(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&History) -> bool,
    ) -> bool {
        let limit = self.after(timeout);
        self.sim.run_until(limit, |s| done(s.history()))
    }

    async fn stop_daemon(&mut self, crash: bool) -> Result<(), String> {
        self.sim.input(Input::Daemon(if crash {
            DaemonInput::Crash
        } else {
            DaemonInput::Stop
        }));
        let limit = self.after(STOP_LIMIT);
        self.sim
            .run_until(limit, |s| s.state().daemon == DaemonPhase::Down);
        Ok(())
    }

    async fn start_daemon(&mut self) -> Result<Option<String>, String> {
        let latency = self.sim.draw(self.sim.latencies().daemon_start);
        let limit = self.sim.now().plus_nanos(latency.0);
        self.sim.run_until(limit, |_| false);
        self.sim.input(Input::Daemon(DaemonInput::Start));
        Ok(None)
    }

    async fn container_call(&mut self, call: ContainerCall) -> Result<(), String> {
        let input = match call {
            ContainerCall::Kill { signal } => Input::Api(ApiCall::Kill { signal }),
            ContainerCall::Stop => Input::Api(ApiCall::Stop { timeout_s: None }),
            ContainerCall::Start => Input::Api(ApiCall::Start),
            ContainerCall::HostSignal { signal } => Input::HostSignal { signal },
        };
        self.sim.input(input);
        if call == ContainerCall::Stop {
            // `docker stop` answers when the container has stopped: let virtual time run to it.
            let limit = self.after(STOP_LIMIT);
            self.sim.run_until(limit, |s| !s.model().stop_in_progress());
        }
        Ok(())
    }

    async fn finish(&mut self) -> Option<i64> {
        if self.sim.state().status == Status::Running {
            self.sim
                .input(Input::Api(ApiCall::Stop { timeout_s: Some(1) }));
            let limit = self.after(Duration::from_secs(10));
            self.sim
                .run_until(limit, |s| s.state().status != Status::Running);
        }
        self.read_counter();
        Some(i64::from(self.sim.state().restart_count))
    }

    fn with_history<T>(&self, read: impl FnOnce(&History) -> T) -> T {
        read(self.sim.history())
    }
}
