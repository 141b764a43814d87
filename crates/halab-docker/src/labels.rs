//! The labels halab puts on what it creates.

/// Every container, volume and network a run creates: `halab.run=<run id>`.
pub const RUN: &str = "halab.run";
/// The scenario a container belongs to.
pub const SCENARIO: &str = "halab.scenario";
/// The scenario service a container is: how its events are recorded.
pub const SERVICE: &str = "halab.service";
/// A container halab starts only to measure the daemon's start latency: its events are not
/// recorded.
pub const PROBE: &str = "halab.probe";
/// Images halab builds: `halab.image=lab`.
pub const IMAGE: &str = "halab.image";

/// The events/list filter value that selects one run's objects.
pub fn run_filter(run_id: &str) -> String {
    format!("{RUN}={run_id}")
}
