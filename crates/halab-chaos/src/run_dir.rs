//! A run's own directory on the host, and the record that says it is halab's.
//!
//! `$TMPDIR/halab-<run id>/` is made fresh for every run on a real daemon (it must not exist:
//! `mkdir`, never "create or reuse", so a directory or symlink someone planted there is never
//! taken over) and holds:
//! - `run.json`, the [`RunRecord`]: that this is a halab run, its id, the halab process that owns
//!   it (pid and start time), and the lab it started or uses;
//! - `services/NAME/`, one directory per service, bind-mounted into its container: its counter,
//!   and the orders halab gives its program.
//!
//! The record sits outside `services/`, so no container can forge or remove it. `halab gc`
//! goes by records, never by names: it removes a directory only when its record says it is a
//! halab run's and the process that owns the run has ended, and it leaves a live run alone.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use halab_lab::ProcessId;
use serde::{Deserialize, Serialize};

/// What every record says first, so that a `run.json` of something else is never taken for one.
const MARKER: &str = "halab-run";
/// Bumped when the record's meaning changes incompatibly.
const VERSION: u32 = 1;
const RECORD: &str = "run.json";
const SERVICES_DIR: &str = "services";
/// Every run directory is named `halab-<run id>`; the name alone proves nothing.
pub const PREFIX: &str = "halab-";
/// A record is a few hundred bytes; anything much larger is not one.
const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// Who a run directory belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub marker: String,
    pub version: u32,
    pub run_id: String,
    /// The halab process that runs it: while it lives, the run is live.
    pub owner: ProcessId,
    /// The lab the run uses (the one it starts is named after the run), and its state root.
    pub lab: Option<String>,
    pub state_root: Option<PathBuf>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: time::OffsetDateTime,
}

impl RunRecord {
    /// A record of a run owned by this process.
    pub fn new(run_id: &str, lab: Option<String>, state_root: Option<PathBuf>) -> RunRecord {
        RunRecord {
            marker: MARKER.to_owned(),
            version: VERSION,
            run_id: run_id.to_owned(),
            owner: ProcessId::current().unwrap_or(ProcessId {
                pid: std::process::id(),
                start_time: 0,
            }),
            lab,
            state_root,
            created: time::OffsetDateTime::now_utc(),
        }
    }

    /// Whether the process that owns the run still runs.
    pub fn is_live(&self) -> bool {
        self.owner.is_running()
    }
}

/// A run's directory, made by [`RunDir::create`].
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The directory a run with this id has under `tmp`.
    pub fn path_for(tmp: &Path, run_id: &str) -> PathBuf {
        tmp.join(format!("{PREFIX}{run_id}"))
    }

    /// Makes `tmp/halab-<run id>/` with its record and an empty `services/`. Fails if the path
    /// exists in any form.
    pub fn create(tmp: &Path, record: &RunRecord) -> std::io::Result<RunDir> {
        let path = RunDir::path_for(tmp, &record.run_id);
        std::fs::DirBuilder::new().mode(0o755).create(&path)?;
        let dir = RunDir { path };
        let text = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o644)
            .open(dir.path.join(RECORD))?;
        std::io::Write::write_all(&mut file, &text)?;
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(dir.path.join(SERVICES_DIR))?;
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory of `service`, bind-mounted into its container.
    pub fn service_dir(&self, service: &str) -> PathBuf {
        self.path.join(SERVICES_DIR).join(service)
    }

    /// Makes `service`'s directory, empty and world-writable (so a program that does not run as
    /// root can still count). `service` is a checked service name (one path component).
    pub fn add_service_dir(&self, service: &str) -> std::io::Result<PathBuf> {
        let dir = self.service_dir(service);
        std::fs::DirBuilder::new().mode(0o777).create(&dir)?;
        // The umask may have taken bits away.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        Ok(dir)
    }

    /// Removes the directory and everything in it (symlinks are removed, never followed).
    pub fn remove(self) -> std::io::Result<()> {
        remove_tree(&self.path)
    }
}

/// Where a service's directory is while its bind source is removed (`remove-bind-source`):
/// renamed aside in the run's own `services/`, under a name no service can have (a service's
/// name starts with a letter or a digit), so what the service wrote is kept.
pub fn removed_dir(service_dir: &Path) -> PathBuf {
    let name = service_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    service_dir.with_file_name(format!(".{name}.removed"))
}

fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A run directory found under `tmp`, with its record.
#[derive(Debug)]
pub struct FoundRun {
    pub path: PathBuf,
    pub record: RunRecord,
}

impl FoundRun {
    /// Removes the run's directory.
    pub fn remove(&self) -> std::io::Result<()> {
        remove_tree(&self.path)
    }
}

/// Every halab run directory under `tmp`: a real directory (not a symlink) named
/// `halab-<id>`, holding a regular `run.json` whose record says it is halab's run `<id>`. A
/// look-alike (`halab-notes/`, a directory without a record, a record of another run) is not one.
pub fn find_all(tmp: &Path) -> Vec<FoundRun> {
    let mut found: Vec<FoundRun> = std::fs::read_dir(tmp)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let run_id = name.strip_prefix(PREFIX)?;
            // `file_type` does not follow symlinks.
            if !entry.file_type().ok()?.is_dir() {
                return None;
            }
            let record = read_record(&entry.path().join(RECORD))?;
            (record.marker == MARKER && record.run_id == run_id).then(|| FoundRun {
                path: entry.path(),
                record,
            })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn read_record(path: &Path) -> Option<RunRecord> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = Vec::new();
    file.take(MAX_RECORD_BYTES).read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::scratch;

    #[test]
    fn a_run_dir_is_made_fresh_and_found_by_its_record() {
        let tmp = scratch("rundir");
        let record = RunRecord::new("20260101-000000-abcd", None, None);
        let dir = RunDir::create(&tmp, &record).unwrap();
        let web = dir.add_service_dir("web").unwrap();
        assert!(web.is_dir());
        assert!(dir.add_service_dir("web").is_err(), "never reused");
        let mode = std::fs::metadata(&web).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o777);
        assert!(RunDir::create(&tmp, &record).is_err(), "never reused");
        let found = find_all(&tmp);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].record, record);
        assert!(found[0].record.is_live(), "this process owns it");
        dir.remove().unwrap();
        assert!(find_all(&tmp).is_empty());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn look_alikes_are_not_runs() {
        let tmp = scratch("lookalike");
        std::fs::create_dir_all(tmp.join("halab-notes")).unwrap();
        std::fs::write(tmp.join("halab-notes/important.txt"), "keep").unwrap();
        std::fs::create_dir_all(tmp.join("halab-lab-backups")).unwrap();
        // A record naming another run, and a record that is a symlink.
        let other = RunRecord::new("other", None, None);
        std::fs::create_dir_all(tmp.join("halab-x")).unwrap();
        std::fs::write(
            tmp.join("halab-x/run.json"),
            serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        let real = scratch("lookalike-target");
        let target = RunRecord::new("y", None, None);
        std::fs::write(real.join("run.json"), serde_json::to_vec(&target).unwrap()).unwrap();
        std::fs::create_dir_all(tmp.join("halab-y")).unwrap();
        std::os::unix::fs::symlink(real.join("run.json"), tmp.join("halab-y/run.json")).unwrap();
        std::os::unix::fs::symlink(&real, tmp.join("halab-z")).unwrap();
        assert!(find_all(&tmp).is_empty());
        std::fs::remove_dir_all(&tmp).unwrap();
        std::fs::remove_dir_all(&real).unwrap();
    }
}
