//! Health checks: the daemon's probe of a running container, and what it does with the result.
//!
//! Mirrors moby 20.10's `daemon/health.go`. Each start resets the container's health to
//! `starting` and opens a monitor (`initHealthMonitor`); the monitor probes the container one
//! interval after it opened, then one interval after each probe ended (`monitor`: its timer is
//! reset at the top of every loop); a success makes the container `healthy`, a failure adds to
//! its failing streak, and a streak of `retries` makes it `unhealthy` — except that a failure
//! within the start period of a container still `starting` is not counted
//! (`handleProbeResult`). A change of status, and only a change, logs `health_status: …`. The
//! monitor stops when the container exits or is paused (`stopHealthchecks`,
//! `updateHealthMonitor`), which sets the status to `unhealthy` without an event
//! (`Health.CloseMonitorChannel`, "for compatibility reasons").
//!
//! Nothing here reaches the restart manager: 20.10 never restarts a container for being
//! unhealthy, whatever its restart policy (moby issue #28400). Only an exit is restarted.
//!
//! The model's probe answers at once, as the service's `passes` says; a daemon's takes the
//! time of an `exec` in the container, so each of its probes comes a little later than the
//! model's, more with each probe (the oracle allows for it). The model times only the probes
//! that can change what it shows (`State.Health.Status`; the failing streak is not shown): it
//! skips the failing ones within the start period, and once the container is `healthy` with a
//! probe that passes, or `unhealthy` with one that fails, it stops timing them — the daemon
//! goes on probing, to the same result. So a start costs the simulator at most `retries` + 1
//! probes, whatever the interval.
//!
//! This is 20.10's monitor, for every [`crate::EngineVersion`]. Later engines (API 1.44, Docker
//! 25 on) probe every `StartInterval` (5 s by default) while a container is `starting` within
//! its start period, and `restore` opens the monitor of a container it keeps running; the model
//! does neither yet. Without a start period, and without a daemon restart, they agree.

use serde::{Deserialize, Serialize};

use crate::container::ContainerModel;
use crate::history::{ContainerAction, Nanos};
use crate::output::Output;

/// `defaultProbeInterval`: between two probes, and before the first.
pub const DEFAULT_INTERVAL_MS: u64 = 30_000;
/// `defaultProbeTimeout`: how long a probe may take before it counts as failed.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// `defaultStartPeriod`: none.
pub const DEFAULT_START_PERIOD_MS: u64 = 0;
/// `defaultProbeRetries`: the failing streak that makes a container unhealthy.
pub const DEFAULT_RETRIES: u32 = 3;

/// `Config.Healthcheck`, as the model takes it, with Docker's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Between two probes (from the end of one to the start of the next), and from the start
    /// to the first.
    pub interval_ms: u64,
    /// Failures this soon after the start do not count while the container is `starting`.
    pub start_period_ms: u64,
    /// The failing streak that makes the container unhealthy (`Retries`; 0 means
    /// [`DEFAULT_RETRIES`], as in `handleProbeResult`).
    pub retries: u32,
    /// Whether the probe command succeeds (exits 0): a fact about the workload, as how the
    /// process answers a signal is (see [`crate::Workload`]). The daemon runs the command; the
    /// model is told its outcome.
    pub passes: bool,
}

impl HealthCheck {
    /// Mirrors the `retries <= 0` default of `handleProbeResult`.
    fn effective_retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// Mirrors `timeoutWithDefault(Interval, defaultProbeInterval)`: 0 is the default.
    fn interval_ns(&self) -> i64 {
        let ms = if self.interval_ms == 0 {
            DEFAULT_INTERVAL_MS
        } else {
            self.interval_ms
        };
        i64::try_from(ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000)
    }

    fn start_period_ns(&self) -> i64 {
        i64::try_from(self.start_period_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000)
    }
}

/// `State.Health.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthStatus {
    /// Since the last start, no probe has succeeded and the failing streak is short of
    /// `retries`.
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    /// As inspect and the events stream spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// The status `text` names, if it names one.
    pub fn parse(text: &str) -> Option<HealthStatus> {
        match text {
            "starting" => Some(HealthStatus::Starting),
            "healthy" => Some(HealthStatus::Healthy),
            "unhealthy" => Some(HealthStatus::Unhealthy),
            _ => None,
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `State.Health` as the daemon persists it (`config.v2.json`): absent until the first start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct HealthState {
    pub(crate) status: HealthStatus,
    pub(crate) failing_streak: u32,
}

/// The monitor goroutine, memory only: it dies with the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Monitor {
    /// When its timer next fires; `None` once no probe can change what the model shows.
    pub(crate) next_probe: Option<Nanos>,
}

impl ContainerModel {
    /// The container has just started: its health is `starting`, its streak 0, and a monitor
    /// runs. Without a health check, nothing.
    ///
    /// Mirrors `daemon.(*Daemon).initHealthMonitor`, which `containerStart` calls after
    /// `SetRunning`: `stopHealthchecks` first ("in case we're auto-restarting"), then the
    /// status set to `starting` without an event, then `updateHealthMonitor`.
    pub(crate) fn init_health_monitor(&mut self, now: Nanos) {
        if self.config.container.health.is_none() {
            return;
        }
        self.stop_healthchecks();
        self.disk.health = Some(HealthState {
            status: HealthStatus::Starting,
            failing_streak: 0,
        });
        self.update_health_monitor(now);
    }

    /// Runs a monitor if the container is running and not paused, else stops it.
    ///
    /// Mirrors `daemon.(*Daemon).updateHealthMonitor`, called on `pause`, `unpause` and `oom`
    /// (`ProcessEvent`, `containerPause`, `containerUnpause`). A container that never started
    /// has no `State.Health`, and nothing happens. A monitor already running goes on
    /// (`OpenMonitorChannel` returns nil); a new one's first probe is an interval away.
    pub(crate) fn update_health_monitor(&mut self, now: Nanos) {
        let Some(check) = self.config.container.health else {
            return;
        };
        if self.disk.health.is_none() {
            return;
        }
        if self.disk.running && !self.disk.paused {
            if self.mem.health_monitor.is_none() {
                self.mem.health_monitor = Some(Monitor {
                    next_probe: Some(now.plus_nanos(check.interval_ns())),
                });
            }
        } else {
            self.stop_healthchecks();
        }
    }

    /// Stops the monitor, if one runs: the status becomes `unhealthy`, and no event is logged.
    ///
    /// Mirrors `daemon.(*Daemon).stopHealthchecks` → `Health.CloseMonitorChannel`, called by
    /// `handleContainerExit` for every exit. After a daemon's death there is no monitor to
    /// close, and the persisted status stays what it was.
    pub(crate) fn stop_healthchecks(&mut self) {
        if self.mem.health_monitor.take().is_some()
            && let Some(health) = self.disk.health.as_mut()
        {
            health.status = HealthStatus::Unhealthy;
        }
    }

    /// When the monitor's next probe runs, if one is due.
    pub(crate) fn next_probe_at(&self) -> Option<Nanos> {
        self.mem.health_monitor.and_then(|m| m.next_probe)
    }

    /// The monitor's timer fires at `at`: the probe runs, answers at once, and its result is
    /// handled; the timer is set again an interval later.
    ///
    /// Mirrors the loop of `monitor` and `handleProbeResult`: a success zeroes the streak and
    /// sets `healthy`; a failure counts unless the container is `starting` and the probe began
    /// within the start period of `StartedAt`, and a streak of `retries` sets `unhealthy`. A
    /// status that changed logs `health_status: STATUS`. The restart manager is not told.
    pub(crate) fn health_probe(&mut self, at: Nanos, out: &mut Vec<Output>) {
        let (Some(check), Some(mut health)) = (self.config.container.health, self.disk.health)
        else {
            self.mem.health_monitor = None;
            return;
        };
        let before = health.status;
        if check.passes {
            health.failing_streak = 0;
            health.status = HealthStatus::Healthy;
        } else {
            let in_start_period = health.status == HealthStatus::Starting
                && self.in_start_period(at, check.start_period_ns());
            if !in_start_period {
                health.failing_streak = health.failing_streak.saturating_add(1);
                if health.failing_streak >= check.effective_retries() {
                    health.status = HealthStatus::Unhealthy;
                }
            }
        }
        self.disk.health = Some(health);
        if health.status != before {
            out.push(Output::Event(ContainerAction::HealthStatus {
                status: health.status,
            }));
        }
        let settled = match health.status {
            HealthStatus::Healthy => check.passes,
            HealthStatus::Unhealthy => !check.passes,
            HealthStatus::Starting => false,
        };
        let interval = check.interval_ns();
        let mut next = at.plus_nanos(interval);
        // Failing probes within the start period change nothing: the next one that can is the
        // first, on the monitor's grid, at or after the start period's end.
        if !check.passes && health.status == HealthStatus::Starting {
            let period_ends = self
                .disk
                .started_at
                .map_or(at, |s| s.plus_nanos(check.start_period_ns()));
            let short_ns = period_ends.0.saturating_sub(next.0);
            if short_ns > 0 {
                let intervals = short_ns.saturating_add(interval - 1) / interval;
                next = next.plus_nanos(intervals.saturating_mul(interval));
            }
        }
        self.mem.health_monitor = Some(Monitor {
            next_probe: (!settled).then_some(next),
        });
    }

    /// Whether a probe begun at `at` is within `start_period_ns` of `StartedAt`.
    fn in_start_period(&self, at: Nanos, start_period_ns: i64) -> bool {
        self.disk
            .started_at
            .is_some_and(|started| at.0.saturating_sub(started.0) < start_period_ns)
    }

    /// `StartedAt` moved from `from` to `to` (see [`crate::DaemonModel::observed_start`]): a
    /// monitor that has not probed yet opened at the start, so its first probe moves with it.
    pub(crate) fn health_follows_start(&mut self, from: Nanos, to: Nanos) {
        let Some(check) = self.config.container.health else {
            return;
        };
        if let Some(monitor) = self.mem.health_monitor.as_mut()
            && monitor.next_probe == Some(from.plus_nanos(check.interval_ns()))
        {
            monitor.next_probe = Some(to.plus_nanos(check.interval_ns()));
        }
    }

    /// What inspect shows of `State.Health.Status`: `None` without a health check, or before
    /// the first start.
    pub(crate) fn health_status(&self) -> Option<HealthStatus> {
        self.config.container.health?;
        self.disk.health.map(|h| h.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiCall, ContainerModel, EngineVersion, ModelConfig, RestartPolicy, ServiceOp};
    use crate::{DaemonOp, Status};

    fn model(policy: RestartPolicy, check: HealthCheck) -> ContainerModel {
        let mut config = ModelConfig::new(policy, EngineVersion::V20_10);
        config.container.health = Some(check);
        ContainerModel::with_config(config)
    }

    fn check(passes: bool) -> HealthCheck {
        HealthCheck {
            interval_ms: 1_000,
            start_period_ms: 0,
            retries: 2,
            passes,
        }
    }

    fn ms(n: i64) -> Nanos {
        Nanos::from_millis(n)
    }

    /// Lets time pass to `until`, deadline by deadline, and returns the health events with
    /// their times in ms.
    fn run_to(m: &mut ContainerModel, until: i64) -> Vec<(i64, HealthStatus)> {
        let mut seen = Vec::new();
        while let Some(at) = m.next_deadline().filter(|at| *at <= ms(until)) {
            for output in m.advance(at) {
                if let Output::Event(ContainerAction::HealthStatus { status }) = output {
                    seen.push((at.0 / 1_000_000, status));
                }
            }
        }
        m.advance(ms(until));
        seen
    }

    fn start(m: &mut ContainerModel, at: i64) {
        m.apply(ServiceOp::Api(ApiCall::Start), ms(at));
    }

    #[test]
    fn no_health_before_the_first_start_and_starting_after_it() {
        let mut m = model(RestartPolicy::Always, check(false));
        assert_eq!(m.state().health, None, "State.Health is nil until a start");
        start(&mut m, 0);
        assert_eq!(m.state().health, Some(HealthStatus::Starting));
        let without = ContainerModel::new(RestartPolicy::Always, EngineVersion::V20_10);
        assert_eq!(without.state().health, None);
        assert_eq!(without.next_deadline(), None, "no check, no probe");
    }

    #[test]
    fn a_failing_streak_of_retries_makes_it_unhealthy_and_it_is_never_restarted() {
        let mut m = model(RestartPolicy::Always, check(false));
        start(&mut m, 0);
        // Probes at 1 s (streak 1) and 2 s (streak 2 = retries): one event, at 2 s.
        let seen = run_to(&mut m, 60_000);
        assert_eq!(seen, [(2_000, HealthStatus::Unhealthy)]);
        let state = m.state();
        assert_eq!(state.status, Status::Running, "unhealthy, and running");
        assert_eq!(
            state.restart_count, 0,
            "the restart manager never hears of it"
        );
        assert_eq!(state.health, Some(HealthStatus::Unhealthy));
        assert_eq!(
            m.next_deadline(),
            None,
            "no probe can change anything any more: the model stops timing them"
        );
    }

    #[test]
    fn a_passing_probe_makes_it_healthy_one_interval_after_the_start() {
        let mut m = model(RestartPolicy::Always, check(true));
        start(&mut m, 500);
        assert_eq!(run_to(&mut m, 10_000), [(1_500, HealthStatus::Healthy)]);
        assert_eq!(m.state().health, Some(HealthStatus::Healthy));
    }

    #[test]
    fn the_streak_counts_from_the_start_period_and_retries_zero_means_three() {
        for (health_check, unhealthy_at, why) in [
            (
                HealthCheck {
                    start_period_ms: 2_500,
                    ..check(false)
                },
                4_000,
                "probes at 1 s and 2 s are within the start period; 3 s and 4 s count",
            ),
            (
                HealthCheck {
                    start_period_ms: 3_000,
                    ..check(false)
                },
                4_000,
                "a probe at the start period's very end counts (`timeSinceStart < startPeriod`)",
            ),
            (
                HealthCheck {
                    retries: 0,
                    ..check(false)
                },
                3_000,
                "`retries <= 0` is Docker's default of 3",
            ),
        ] {
            let mut m = model(RestartPolicy::No, health_check);
            start(&mut m, 0);
            let seen = run_to(&mut m, 10_000);
            assert_eq!(seen, [(unhealthy_at, HealthStatus::Unhealthy)], "{why}");
        }
    }

    #[test]
    fn an_exit_stops_the_monitor_and_reads_unhealthy_without_an_event() {
        let mut m = model(RestartPolicy::No, check(true));
        start(&mut m, 0);
        run_to(&mut m, 5_000);
        let out = m.apply(ServiceOp::Exit { code: 0 }, ms(5_000));
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::Event(ContainerAction::HealthStatus { .. }))),
            "CloseMonitorChannel logs nothing"
        );
        assert_eq!(m.state().status, Status::Exited);
        assert_eq!(m.state().health, Some(HealthStatus::Unhealthy));
        assert_eq!(m.next_deadline(), None, "no probe of a stopped container");
    }

    #[test]
    fn each_start_resets_the_status_and_the_streak() {
        let mut m = model(RestartPolicy::Always, check(false));
        start(&mut m, 0);
        run_to(&mut m, 1_500); // streak 1
        // An exit: `always` restarts it after 100 ms, with a fresh monitor and streak.
        m.apply(ServiceOp::Exit { code: 1 }, ms(1_500));
        assert_eq!(m.state().health, Some(HealthStatus::Unhealthy));
        let seen = run_to(&mut m, 1_600);
        assert!(seen.is_empty());
        assert_eq!(m.state().restart_count, 1);
        assert_eq!(m.state().health, Some(HealthStatus::Starting));
        // Had the streak survived, one failure (at 2.6 s) would have made it unhealthy.
        assert_eq!(run_to(&mut m, 10_000), [(3_600, HealthStatus::Unhealthy)]);
    }

    #[test]
    fn a_pause_stops_the_probes_and_an_unpause_starts_them_again() {
        let mut m = model(RestartPolicy::Always, check(true));
        start(&mut m, 0);
        run_to(&mut m, 3_000);
        m.apply(ServiceOp::Api(ApiCall::Pause), ms(3_000));
        assert_eq!(m.state().health, Some(HealthStatus::Unhealthy));
        assert_eq!(m.next_deadline(), None);
        m.apply(ServiceOp::Api(ApiCall::Unpause), ms(4_000));
        // The next probe, an interval after the unpause, passes: healthy again, with an event.
        assert_eq!(run_to(&mut m, 10_000), [(5_000, HealthStatus::Healthy)]);
    }

    #[test]
    fn a_daemon_restart_starts_a_fresh_monitor_with_the_container() {
        let mut m = model(RestartPolicy::Always, check(false));
        start(&mut m, 0);
        run_to(&mut m, 5_000);
        m.apply_daemon(DaemonOp::Stop, ms(5_000));
        // The daemon's shutdown stops the container (the default workload dies of SIGTERM).
        run_to(&mut m, 20_000);
        m.apply_daemon(DaemonOp::Start, ms(20_000));
        run_to(&mut m, 20_000);
        assert_eq!(m.state().status, Status::Running);
        assert_eq!(m.state().health, Some(HealthStatus::Starting));
        assert_eq!(run_to(&mut m, 30_000), [(22_000, HealthStatus::Unhealthy)]);
    }
}
