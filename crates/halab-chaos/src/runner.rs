//! Running a scenario against a real daemon: set up, go through the phases, judge, tear down.
//!
//! Invariant: whatever happens after the first thing is created — a pass, a failed check, an
//! error, Ctrl-C or SIGTERM, a panic — [`Resources::teardown`] runs, and removes every container
//! labelled with the run, the lab daemon the run started, and the run's work directory.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::FutureExt;
use halab_docker::containers::{self, ContainerSpec};
use halab_docker::image::LabImage;
use halab_docker::observe::Observer;
use halab_docker::{DaemonInfo, Docker, Recorder, labels};
use halab_lab::{Lab, LabOptions, StopMode};
use halab_model::{ContainerAction, DaemonAction, Happening, History};

use crate::checks::{self, Subject, Verdict};
use crate::counter::CounterFile;
use crate::report::{PhaseReport, Report, TargetInfo, measure};
use crate::scenario::{LAB_IMAGE, Phase, PhaseAction, Scenario};
use crate::view::View;

/// Which daemon a run uses.
#[derive(Debug, Clone)]
pub enum Target {
    /// A lab daemon started for this run and removed after it (the default).
    NewLab { live_restore: bool },
    /// A lab started earlier with `halab lab up NAME`; halab may stop and start it.
    Lab { name: String },
    /// Any daemon by address (`--docker-host`): halab never stops it, so daemon phases are
    /// refused unless they are skipped.
    Host { docker_host: String },
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub target: Target,
    /// Leave out the phases that stop or start the daemon (and the checks that need them).
    pub skip_daemon_phases: bool,
    /// The static busybox the lab image is built from (default /bin/busybox).
    pub busybox: Option<PathBuf>,
    /// Where labs keep their state.
    pub state_root: PathBuf,
}

/// Why a run could not be carried out (as opposed to a run whose checks failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Docker(#[from] halab_docker::DockerError),
    #[error(transparent)]
    Lab(#[from] halab_lab::LabError),
    #[error(
        "scenario `{scenario}` has daemon phases ({phases}) but the target {host} is not a daemon halab owns, \
         and halab never stops a daemon it does not own.\n  \
         Run on a lab (the default, or --lab NAME), or leave them out with --skip-daemon-phases"
    )]
    DaemonPhasesRefused {
        scenario: String,
        phases: String,
        host: String,
    },
    #[error("preparing the work directory {path}: {source}", path = .path.display())]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the service container {container} was started but no `start` event arrived within {waited_secs} s"
    )]
    NeverStarted { container: String, waited_secs: u64 },
    #[error("interrupted: everything the run created has been removed")]
    Interrupted,
}

/// Runs `scenario` and returns its report. Errors are for runs that could not be carried out;
/// a run whose checks fail returns a report with [`Verdict::Fail`].
pub async fn run(
    scenario: &Scenario,
    options: &RunOptions,
    view: &mut dyn View,
) -> Result<Report, RunError> {
    let lab_image = preflight(scenario, options)?;
    let run_id = new_run_id();
    let mut resources = Resources::new(&run_id);
    let outcome = {
        let execution = std::panic::AssertUnwindSafe(execute(
            scenario,
            options,
            lab_image,
            &mut resources,
            view,
        ));
        tokio::select! {
            outcome = execution.catch_unwind() => Some(outcome),
            () = interrupted() => None,
        }
    };
    view.note("cleaning up");
    resources.teardown().await;
    match outcome {
        None => Err(RunError::Interrupted),
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        Some(Ok(result)) => result,
    }
}

/// Everything that can be refused before anything is created.
fn preflight(scenario: &Scenario, options: &RunOptions) -> Result<Option<LabImage>, RunError> {
    if let Target::Host { docker_host } = &options.target {
        let daemon_phases: Vec<&str> = scenario
            .phases
            .iter()
            .filter(|p| p.action.touches_daemon())
            .map(|p| p.name.as_str())
            .collect();
        if !daemon_phases.is_empty() && !options.skip_daemon_phases {
            return Err(RunError::DaemonPhasesRefused {
                scenario: scenario.name.clone(),
                phases: daemon_phases.join(", "),
                host: docker_host.clone(),
            });
        }
    } else {
        halab_lab::require_root()?;
    }
    if scenario.service.image == LAB_IMAGE {
        Ok(Some(LabImage::from_busybox(options.busybox.as_deref())?))
    } else {
        Ok(None)
    }
}

/// What a run has created so far, so that teardown removes exactly that.
struct Resources {
    run_id: String,
    lab: Option<Lab>,
    /// Whether the lab was started by this run (and so is removed with it).
    owns_lab: bool,
    docker: Option<Docker>,
    observer: Option<Observer>,
    work_dir: Option<PathBuf>,
}

impl Resources {
    fn new(run_id: &str) -> Resources {
        Resources {
            run_id: run_id.to_owned(),
            lab: None,
            owns_lab: false,
            docker: None,
            observer: None,
            work_dir: None,
        }
    }

    async fn teardown(mut self) {
        if let Some(observer) = self.observer.take() {
            observer.stop();
        }
        if self.owns_lab {
            // A lab started for the run goes away whole, with its containers.
            if let Some(lab) = self.lab.take() {
                let name = lab.name().to_owned();
                if let Err(e) = lab.down().await {
                    tracing::warn!(error = %e, "could not remove lab {name}; `halab gc` will");
                }
            }
        } else if let Some(docker) = &self.docker {
            if let Some(lab) = self.lab.as_ref().filter(|lab| !lab.status().running) {
                // A lab the user started, left down by a daemon phase: start it again, so that
                // our containers can be removed and the lab is found as it was.
                if let Err(e) = lab.start().await {
                    tracing::warn!(error = %e, "could not start lab {} again", lab.name());
                }
            }
            if let Err(e) = containers::remove_run(docker, &self.run_id).await {
                tracing::warn!(error = %e, "could not remove the run's containers; `halab gc` will");
            }
        }
        if let Some(dir) = self.work_dir.take()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(error = %e, dir = %dir.display(), "could not remove the work directory");
        }
    }
}

async fn execute(
    scenario: &Scenario,
    options: &RunOptions,
    lab_image: Option<LabImage>,
    resources: &mut Resources,
    view: &mut dyn View,
) -> Result<Report, RunError> {
    let run_id = resources.run_id.clone();
    let recorder = Recorder::new();
    let (kind, target_name) = match &options.target {
        Target::NewLab { live_restore } => {
            view.note(&format!("starting lab daemon {run_id}"));
            let lab_options = LabOptions {
                live_restore: *live_restore,
                labels: vec![(labels::RUN.to_owned(), run_id.clone())],
            };
            resources.owns_lab = true;
            let lab = Lab::up(&options.state_root, &run_id, &lab_options).await?;
            resources.lab = Some(lab);
            ("lab", run_id.clone())
        }
        Target::Lab { name } => {
            resources.lab = Some(Lab::open(&options.state_root, name)?);
            ("lab", name.clone())
        }
        Target::Host { docker_host } => ("host", docker_host.clone()),
    };
    let docker_host = match (&resources.lab, &options.target) {
        (Some(lab), _) => lab.docker_host(),
        (None, Target::Host { docker_host }) => docker_host.clone(),
        (None, _) => unreachable!("every lab target opened a lab"),
    };
    let (docker, daemon): (Docker, DaemonInfo) = halab_docker::connect(&docker_host).await?;
    resources.docker = Some(docker.clone());

    let image = match &lab_image {
        Some(lab_image) => {
            view.note("making sure the daemon has the lab image (busybox, FROM scratch)");
            lab_image.ensure(&docker).await?.to_owned()
        }
        None => scenario.service.image.clone(),
    };

    let work_dir = std::env::temp_dir().join(format!("halab-{run_id}"));
    resources.work_dir = Some(work_dir.clone());
    let counter = CounterFile::create(
        &work_dir,
        &scenario.service.counter_file,
        scenario.service.counter_initial,
    )
    .map_err(|source| RunError::WorkDir {
        path: work_dir.clone(),
        source,
    })?;

    let container = format!("halab-{run_id}-service");
    let started = halab_docker::now();
    let observer = Observer::spawn(docker.clone(), &run_id, recorder.clone(), started);
    let sampler = counter.sample_into(recorder.clone());
    let _sampler = AbortOnDrop(sampler);
    let status = view.watch(recorder.clone(), docker.clone(), container.clone());
    let _status = AbortOnDrop(status);
    observer.wait_live(Duration::from_secs(10)).await;
    resources.observer = Some(observer);

    let spec = ContainerSpec {
        name: container.clone(),
        image,
        cmd: vec!["sh".into(), "-c".into(), scenario.service.script.clone()],
        restart: scenario.service.restart,
        binds: vec![format!(
            "{}:{}",
            work_dir.display(),
            scenario.service.counter_dir
        )],
        stop_timeout: scenario.service.stop_timeout,
        labels: [
            (labels::SCENARIO.to_owned(), scenario.name.clone()),
            (labels::ROLE.to_owned(), "service".to_owned()),
        ]
        .into(),
    };
    containers::create_and_start(&docker, &run_id, &spec).await?;
    let first_start = Duration::from_secs(30);
    if !recorder
        .wait_until(first_start, |h| count_starts(h, &container) >= 1)
        .await
    {
        return Err(RunError::NeverStarted {
            container,
            waited_secs: first_start.as_secs(),
        });
    }

    let mut phase_reports = Vec::new();
    for (i, phase) in scenario.phases.iter().enumerate() {
        let skipped = options.skip_daemon_phases && phase.action.touches_daemon();
        view.phase(i, scenario.phases.len(), &phase.name, skipped);
        if skipped {
            phase_reports.push(PhaseReport {
                name: phase.name.clone(),
                action: phase.action,
                skipped: true,
                duration_ms: 0,
                problem: None,
            });
            continue;
        }
        let began = recorder.harness(Happening::Phase {
            name: phase.name.clone(),
        });
        let ctx = PhaseContext {
            recorder: &recorder,
            lab: resources.lab.as_ref(),
            observer: resources.observer.as_ref().expect("observer started above"),
            container: &container,
            counter: &counter,
            counter_initial: scenario.service.counter_initial,
        };
        let problem = ctx.run(phase).await?;
        if let Some(problem) = &problem {
            view.note(&format!("phase {}: {problem}", phase.name));
        }
        phase_reports.push(PhaseReport {
            name: phase.name.clone(),
            action: phase.action,
            skipped: false,
            duration_ms: halab_docker::now().millis_since(began),
            problem,
        });
    }

    // Stop the service through the API so the count is final, then read the counter once more.
    // `sh` as PID 1 ignores SIGTERM, so a start just before the stop still gets the full stop
    // timeout to write its increment.
    let running = recorder.with(|h| last_action(h, &container)) == Some(ContainerAction::Start);
    if running {
        containers::stop(&docker, &container, 1).await?;
        recorder
            .wait_until(Duration::from_secs(10), |h| {
                matches!(
                    last_action(h, &container),
                    Some(ContainerAction::Die { .. } | ContainerAction::Stop)
                )
            })
            .await;
    }
    let restart_count = containers::inspect(&docker, &container)
        .await
        .ok()
        .and_then(|c| c.restart_count);
    counter.read_into(&recorder);

    let history = recorder.snapshot();
    let phase_names: Vec<String> = scenario.phases.iter().map(|p| p.name.clone()).collect();
    let subject = Subject {
        history: &history,
        container: &container,
        counter_initial: scenario.service.counter_initial,
        phases: &phase_names,
    };
    let mut results = checks::run_checks(&scenario.checks, &subject);
    let problems: Vec<String> = phase_reports
        .iter()
        .filter_map(|p| Some(format!("{}: {}", p.name, p.problem.as_ref()?)))
        .collect();
    results.push(checks::phases_completed(&problems));
    let verdict = if results.iter().any(|r| r.verdict == Verdict::Fail) {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    let first_daemon_phase = scenario
        .phases
        .iter()
        .find(|p| p.action.touches_daemon())
        .map(|p| p.name.as_str());
    let (mut counts, timings) = measure(&history, &container, first_daemon_phase);
    counts.restart_count = restart_count;
    Ok(Report {
        scenario: scenario.name.clone(),
        scenario_path: scenario.path.display().to_string(),
        run_id,
        target: TargetInfo {
            kind,
            name: target_name,
            docker_host,
            engine_version: daemon.engine_version,
        },
        params: scenario.params.clone(),
        verdict,
        checks: results,
        phases: phase_reports,
        counts,
        timings,
        history,
    })
}

/// What a phase works with.
struct PhaseContext<'a> {
    recorder: &'a Recorder,
    lab: Option<&'a Lab>,
    observer: &'a Observer,
    container: &'a str,
    counter: &'a CounterFile,
    counter_initial: u64,
}

/// How long the service may take, after a start, to write its increment before a daemon fault:
/// a fault in between would leave a start with no increment, which is the harness's timing and
/// not the daemon's doing.
const SETTLE: Duration = Duration::from_secs(5);

impl PhaseContext<'_> {
    /// Runs one phase. `Ok(Some(problem))` is a phase that did not get what it waited for.
    async fn run(&self, phase: &Phase) -> Result<Option<String>, RunError> {
        let starts_before = self.starts();
        match phase.action {
            PhaseAction::Watch => {}
            PhaseAction::DaemonStop | PhaseAction::DaemonCrash => {
                let crash = phase.action == PhaseAction::DaemonCrash;
                self.settle().await;
                let lab = self
                    .lab
                    .expect("daemon phases run only on labs (checked in preflight)");
                self.recorder.harness(Happening::Daemon {
                    action: DaemonAction::StopRequested { crash },
                });
                lab.stop(if crash {
                    StopMode::Crash
                } else {
                    StopMode::Graceful
                })
                .await?;
                self.recorder.harness(Happening::Daemon {
                    action: DaemonAction::Stopped,
                });
                self.counter.read_into(self.recorder);
                self.observer.wait_down(Duration::from_secs(5)).await;
            }
            PhaseAction::DaemonStart => {
                let lab = self
                    .lab
                    .expect("daemon phases run only on labs (checked in preflight)");
                self.counter.read_into(self.recorder);
                self.recorder.harness(Happening::Daemon {
                    action: DaemonAction::StartRequested,
                });
                lab.start().await?;
                self.recorder.harness(Happening::Daemon {
                    action: DaemonAction::Ready,
                });
                self.observer.daemon_is_back();
                if !self.observer.wait_live(Duration::from_secs(30)).await {
                    return Ok(Some(
                        "the events stream did not come back within 30 s".into(),
                    ));
                }
            }
        }
        let mut problem = None;
        if let Some(wanted) = phase.until_starts {
            let timeout = Duration::from_secs_f64(phase.timeout_secs);
            let reached = self
                .recorder
                .wait_until(timeout, |h| {
                    count_starts(h, self.container) >= starts_before + wanted
                })
                .await;
            if !reached {
                problem = Some(format!(
                    "waited {:.0} s for {wanted} starts, saw {}",
                    phase.timeout_secs,
                    self.starts() - starts_before
                ));
            }
        }
        if phase.hold_secs > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(phase.hold_secs)).await;
        }
        Ok(problem)
    }

    fn starts(&self) -> u64 {
        self.recorder.with(|h| count_starts(h, self.container))
    }

    /// Waits until every start so far has written its increment (see [`SETTLE`]).
    async fn settle(&self) {
        let initial = self.counter_initial;
        let container = self.container;
        self.recorder
            .wait_until(SETTLE, |h| {
                let starts = count_starts(h, container);
                h.counter_readings()
                    .last()
                    .is_some_and(|(_, v)| v.saturating_sub(initial) >= starts)
            })
            .await;
    }
}

fn count_starts(history: &History, container: &str) -> u64 {
    history.starts(container).count() as u64
}

fn last_action(history: &History, container: &str) -> Option<ContainerAction> {
    history
        .container_actions(container)
        .last()
        .map(|(_, a)| a.clone())
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

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Aborts a background task when the run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
