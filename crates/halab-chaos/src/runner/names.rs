//! The names a run gives what it makes, in one place: its id, its lab, its containers, its
//! directory.

use std::path::{Path, PathBuf};

use crate::run_dir::RunDir;

/// A run's names.
#[derive(Debug, Clone)]
pub struct RunNames {
    pub run_id: String,
}

impl RunNames {
    /// A real run: a new id.
    pub fn new() -> RunNames {
        RunNames {
            run_id: new_run_id(),
        }
    }

    /// A simulated run: named after its seed alone, so the same seed gives the same report,
    /// names included.
    pub fn for_seed(seed: u64) -> RunNames {
        RunNames {
            run_id: format!("sim-seed-{seed}"),
        }
    }

    /// The lab a run starts for itself is named after the run.
    pub fn own_lab(&self) -> &str {
        &self.run_id
    }

    /// The container of `service`.
    pub fn container(&self, service: &str) -> String {
        format!("halab-{}-{service}", self.run_id)
    }

    /// The run's own directory under `tmp`.
    pub fn work_dir(&self, tmp: &Path) -> PathBuf {
        RunDir::path_for(tmp, &self.run_id)
    }
}

impl Default for RunNames {
    fn default() -> Self {
        RunNames::new()
    }
}

/// A run id: UTC time to the second, then 4 random hex digits (`20261126-174859-a3f1`). Short
/// enough to name a lab (socket paths are limited to 108 bytes).
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        rand::random::<u16>()
    )
}
