//! A lane: one long-lived daemon of one configuration on which cases are played one after
//! another, each with fresh services — a lab daemon halab starts (and removes at the end,
//! however the suite ends), or the simulator.

use std::path::Path;

use halab_docker::labels;
use halab_lab::{Lab, LabOptions};
use halab_model::{EngineVersion, Reference};

use super::{Options, Runtime};
use crate::report::Report;
use crate::run_dir::{RunDir, RunRecord};
use crate::runner::names::new_run_id;
use crate::runner::{RunError, RunOptions, RuntimeChoice, Target};
use crate::scenario::Scenario;
use crate::view::View;

/// How a lane's daemon is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneConfig {
    pub live_restore: bool,
}

impl LaneConfig {
    /// The lane's name in reports and in the names of its regression files.
    pub fn name(self) -> &'static str {
        if self.live_restore {
            "live-restore"
        } else {
            "restart"
        }
    }
}

/// One lane, ready to play cases.
pub struct Lane {
    pub index: usize,
    pub config: LaneConfig,
    lab: Option<OwnedLab>,
}

/// A lab the suite started for a lane, and the record that it is halab's (for `halab gc`,
/// should the suite be killed).
struct OwnedLab {
    lab: Lab,
    record: RunDir,
}

impl Lane {
    /// Starts the lane's daemon (a lab, for a real suite). Whatever it made is removed again if
    /// it fails half-way.
    pub async fn start(
        index: usize,
        config: LaneConfig,
        options: &Options,
    ) -> Result<Lane, RunError> {
        if options.runtime == Runtime::Sim {
            return Ok(Lane {
                index,
                config,
                lab: None,
            });
        }
        halab_lab::require_root()?;
        let id = new_run_id();
        let record = RunRecord::new(&id, Some(id.clone()), Some(options.state_root.clone()));
        let tmp = std::env::temp_dir();
        let record = RunDir::create(&tmp, &record).map_err(|source| RunError::WorkDir {
            path: RunDir::path_for(&tmp, &id),
            source,
        })?;
        let lab_options = LabOptions {
            live_restore: config.live_restore,
            labels: vec![(labels::RUN.to_owned(), id.clone())],
        };
        match Lab::up(&options.state_root, &id, &lab_options).await {
            Ok(lab) => Ok(Lane {
                index,
                config,
                lab: Some(OwnedLab { lab, record }),
            }),
            Err(e) => {
                let _ = record.remove();
                Err(e.into())
            }
        }
    }

    /// The lab's name, for a real lane.
    pub fn lab_name(&self) -> Option<&str> {
        self.lab.as_ref().map(|l| l.lab.name())
    }

    /// Plays `scenario` (a compiled case) on the lane's daemon, judged by `reference`.
    pub async fn play(
        &self,
        scenario: &Scenario,
        reference: Reference,
        options: &Options,
        view: &mut dyn View,
    ) -> Result<Report, RunError> {
        let runtime = match &self.lab {
            Some(owned) => RuntimeChoice::Docker(Target::Lab {
                name: owned.lab.name().to_owned(),
            }),
            None => RuntimeChoice::Sim {
                seed: 0,
                live_restore: self.config.live_restore,
                engine: EngineVersion::V20_10,
            },
        };
        crate::run(
            scenario,
            &RunOptions {
                runtime,
                skip_daemon_phases: false,
                busybox: options.busybox.clone(),
                state_root: options.state_root.clone(),
                reference,
                min_late_ms: 0,
            },
            view,
        )
        .await
    }

    /// Removes the lane's lab and its record.
    pub async fn teardown(self) {
        if let Some(OwnedLab { lab, record }) = self.lab {
            let name = lab.name().to_owned();
            if let Err(e) = lab.down().await {
                tracing::warn!(error = %e, "could not remove lab {name}; `halab gc` will");
            }
            let path = record.path().to_path_buf();
            if let Err(e) = record.remove() {
                tracing::warn!(error = %e, dir = %path.display(), "could not remove the lane's record");
            }
        }
    }
}

/// The simulator's options for playing a case beside a lane, judged by `reference` with at least
/// `min_late_ms` of late slack.
pub(crate) fn sim_options(
    live_restore: bool,
    reference: Reference,
    min_late_ms: i64,
    state_root: &Path,
) -> RunOptions {
    RunOptions {
        runtime: RuntimeChoice::Sim {
            seed: 0,
            live_restore,
            engine: EngineVersion::V20_10,
        },
        skip_daemon_phases: false,
        busybox: None,
        state_root: state_root.to_path_buf(),
        reference,
        min_late_ms,
    }
}
