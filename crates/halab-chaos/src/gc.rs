//! `halab gc`: removes what runs left behind — and only that.
//!
//! What is halab's is known by records, never guessed from names: a work directory is a run's
//! when its `run.json` says so ([`crate::run_dir`]), a container when it carries the run label, a
//! lab when it lives under the state root. A run whose owning process still runs is *live*: its
//! containers, its lab and its directory are left alone (and listed), unless `force` is given.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use halab_docker::{containers, labels};
use halab_lab::Lab;

use crate::run_dir::{self, FoundRun};

#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Only what this run left.
    pub run: Option<String>,
    /// The daemon whose labelled containers are removed.
    pub docker_host: String,
    pub state_root: PathBuf,
    /// Where run directories are looked for (`$TMPDIR`).
    pub tmp: PathBuf,
    /// Remove live runs' things too.
    pub force: bool,
}

/// What `gc` did, and what it could not do.
#[derive(Debug, Default)]
pub struct GcReport {
    pub containers: Vec<String>,
    pub labs: Vec<String>,
    pub work_dirs: Vec<PathBuf>,
    /// Live runs left alone: (run id, owning pid).
    pub spared: Vec<(String, u32)>,
    pub failures: Vec<String>,
}

pub async fn gc(options: &GcOptions) -> GcReport {
    let mut report = GcReport::default();
    let runs: Vec<FoundRun> = run_dir::find_all(&options.tmp)
        .into_iter()
        .filter(|r| options.run.as_ref().is_none_or(|id| *id == r.record.run_id))
        .collect();
    let (live, ended): (Vec<&FoundRun>, Vec<&FoundRun>) = runs
        .iter()
        .partition(|r| !options.force && r.record.is_live());
    let spare_runs: BTreeSet<String> = live.iter().map(|r| r.record.run_id.clone()).collect();
    let spare_labs: BTreeSet<String> = live
        .iter()
        .filter(|r| {
            r.record
                .state_root
                .as_deref()
                .is_some_and(|root| same_dir(root, &options.state_root))
        })
        .filter_map(|r| r.record.lab.clone())
        .collect();
    report.spared = live
        .iter()
        .map(|r| (r.record.run_id.clone(), r.record.owner.pid))
        .collect();

    let filter = match &options.run {
        Some(run) => labels::run_filter(run),
        None => labels::RUN.to_owned(),
    };
    match halab_docker::connect(&options.docker_host).await {
        Ok((docker, _)) => match containers::remove_labelled(&docker, &filter, &spare_runs).await {
            Ok(removed) => report.containers = removed,
            Err(e) => report.failures.push(format!("containers: {e}")),
        },
        Err(e) => report.failures.push(format!("containers: {e}")),
    }

    let labs = match &options.run {
        Some(run) if spare_labs.contains(run) => Ok(vec![]),
        Some(run) => Lab::down_by_name(&options.state_root, run)
            .await
            .map(|removed| if removed { vec![run.clone()] } else { vec![] }),
        None => halab_lab::gc_sparing(&options.state_root, &spare_labs).await,
    };
    match labs {
        Ok(labs) => report.labs = labs,
        Err(e) => report.failures.push(format!("labs: {e}")),
    }

    for run in ended {
        match run.remove() {
            Ok(()) => report.work_dirs.push(run.path.clone()),
            Err(e) => report
                .failures
                .push(format!("removing {}: {e}", run.path.display())),
        }
    }
    report
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    resolve(a) == resolve(b)
}
