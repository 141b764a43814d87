//! Helpers for this crate's unit tests.

use std::path::PathBuf;

/// A fresh, empty directory for one test, unique to this process.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("halab-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The simulator (seed 0, engine 20.10) as a run's options.
pub(crate) fn sim_options() -> crate::RunOptions {
    crate::RunOptions {
        runtime: crate::RuntimeChoice::Sim {
            seed: 0,
            live_restore: false,
            engine: halab_model::EngineVersion::V20_10,
        },
        skip_daemon_phases: false,
        busybox: None,
        state_root: PathBuf::from("/nonexistent"),
        reference: halab_model::Reference::Engine,
        min_late_ms: 0,
    }
}

/// Plays `scenario` in the simulator with `view`.
pub(crate) fn play_in_sim(
    scenario: &crate::Scenario,
    view: &mut dyn crate::view::View,
) -> crate::Report {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(crate::run(scenario, &sim_options(), view))
        .expect("the simulated run")
}

/// The shipped scenario `scenarios/NAME.toml`, played in the simulator (seed 0, 20.10).
pub(crate) fn simulated(name: &str) -> (crate::Scenario, crate::Report) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.toml"));
    let source = std::fs::read_to_string(&path).unwrap();
    let scenario = crate::scenario::parse(&path, &source, &[]).expect("parses");
    let report = play_in_sim(&scenario, &mut crate::view::Silent);
    (scenario, report)
}
