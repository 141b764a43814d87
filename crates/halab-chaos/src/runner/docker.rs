//! Runs on a real daemon: a lab started for the run, a named lab, or any daemon by address.
//!
//! Invariant: whatever happens after the first thing is created — a pass, a failed check, an
//! error, Ctrl-C, SIGTERM or SIGHUP, a panic — [`Resources::teardown`] runs, and removes every
//! container labelled with the run, the lab daemon the run started, and the run's work
//! directory. The work directory, with the record that the run is halab's and which process
//! owns it, is the first thing made, so that `halab gc` can tell a killed run's leftovers from
//! a live run (which it leaves alone).
//!
//! The daemon may go away under a run without halab asking (killed from outside, crashed by
//! itself): [`watch_daemon`] notices at once, records it as [`DaemonAction::Lost`], and keeps
//! watching; waits end, operations that cannot be done become the phase's problem, and the run
//! still ends with a report whose verdict says what the history cannot decide.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::FutureExt;
use halab_docker::containers::{self, ContainerSpec};
use halab_docker::image::LabImage;
use halab_docker::observe::{Link, Observer};
use halab_docker::{DaemonInfo, Docker, Recorder, labels};
use halab_lab::{Lab, LabOptions, StopMode};
use halab_model::{ContainerAction, DaemonAction, Happening, History, Nanos};

use super::{
    ContainerCall, RunError, RunOptions, Runtime, Target, count_starts, daemon_lost, judge,
    new_run_id, play,
};
use crate::counter::CounterFile;
use crate::report::{Report, TargetInfo};
use crate::run_dir::{RunDir, RunRecord};
use crate::scenario::{LAB_IMAGE, Scenario};
use crate::view::View;

/// Runs `scenario` on the daemon `target` names, then tears down what the run created.
pub(super) async fn run(
    scenario: &Scenario,
    options: &RunOptions,
    target: &Target,
    view: &mut dyn View,
) -> Result<Report, RunError> {
    let lab_image = preflight(scenario, options, target)?;
    let run_id = new_run_id();
    let mut resources = Resources::new(&run_id);
    let outcome = {
        let execution = std::panic::AssertUnwindSafe(execute(
            scenario,
            options,
            target,
            lab_image,
            &mut resources,
            view,
        ));
        tokio::select! {
            outcome = execution.catch_unwind() => Some(outcome),
            () = interrupted() => None,
        }
    };
    if resources.made_anything() {
        view.note("cleaning up");
    }
    resources.teardown().await;
    match outcome {
        None => Err(RunError::Interrupted),
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        Some(Ok(result)) => result,
    }
}

/// Everything that can be refused before anything is created.
fn preflight(
    scenario: &Scenario,
    options: &RunOptions,
    target: &Target,
) -> Result<Option<LabImage>, RunError> {
    if let Target::Host { docker_host } = target {
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
    /// The state root of the lab this run starts (named after the run), once it begins to start
    /// it: teardown removes that lab even when `up` was interrupted half-way.
    owned_lab_root: Option<PathBuf>,
    docker: Option<Docker>,
    observer: Option<Observer>,
    work_dir: Option<RunDir>,
}

impl Resources {
    fn new(run_id: &str) -> Resources {
        Resources {
            run_id: run_id.to_owned(),
            lab: None,
            owned_lab_root: None,
            docker: None,
            observer: None,
            work_dir: None,
        }
    }

    /// Whether the run got as far as making something on the machine.
    fn made_anything(&self) -> bool {
        self.owned_lab_root.is_some() || self.work_dir.is_some()
    }

    async fn teardown(mut self) {
        if let Some(observer) = self.observer.take() {
            observer.stop();
        }
        if let Some(root) = &self.owned_lab_root {
            // A lab started for the run goes away whole, with its containers. Interrupted in
            // `up`, the handle never arrived: open the lab by name (its metadata comes first).
            // (When `up` failed by itself it has removed what it made, and there is nothing to open.)
            let lab = self
                .lab
                .take()
                .or_else(|| Lab::open(root, &self.run_id).ok());
            if let Some(lab) = lab
                && let Err(e) = lab.down().await
            {
                tracing::warn!(error = %e, "could not remove lab {}; `halab gc` will", self.run_id);
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
        if let Some(dir) = self.work_dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.remove() {
                tracing::warn!(error = %e, dir = %path.display(), "could not remove the work directory; `halab gc` will");
            }
        }
    }
}

async fn execute(
    scenario: &Scenario,
    options: &RunOptions,
    target: &Target,
    lab_image: Option<LabImage>,
    resources: &mut Resources,
    view: &mut dyn View,
) -> Result<Report, RunError> {
    let run_id = resources.run_id.clone();
    let recorder = Recorder::new();
    // A daemon halab does not start is asked first: if it cannot be reached, nothing is made.
    let mut connected = match target {
        Target::Host { docker_host } => Some(halab_docker::connect(docker_host).await?),
        _ => None,
    };
    // Then, before anything else, the record that this is a live halab run (see the module's
    // doc).
    let lab_name = match target {
        Target::NewLab { .. } => Some(run_id.clone()),
        Target::Lab { name } => Some(name.clone()),
        Target::Host { .. } => None,
    };
    let record = RunRecord::new(
        &run_id,
        lab_name.clone(),
        lab_name.as_ref().map(|_| options.state_root.clone()),
    );
    let tmp = std::env::temp_dir();
    let work_dir = RunDir::create(&tmp, &record).map_err(|source| {
        let path = RunDir::path_for(&tmp, &run_id);
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            RunError::WorkDirTaken { path }
        } else {
            RunError::WorkDir { path, source }
        }
    })?;
    let counter_dir = work_dir.counter_dir();
    resources.work_dir = Some(work_dir);
    let counter = CounterFile::create(
        &counter_dir,
        &scenario.service.counter_file,
        scenario.service.counter_initial,
    )
    .map_err(|source| RunError::WorkDir {
        path: counter_dir.clone(),
        source,
    })?;

    let (kind, target_name) = match target {
        Target::NewLab { live_restore } => {
            view.note(&format!("starting lab daemon {run_id}"));
            let lab_options = LabOptions {
                live_restore: *live_restore || scenario.live_restore,
                labels: vec![(labels::RUN.to_owned(), run_id.clone())],
            };
            resources.owned_lab_root = Some(options.state_root.clone());
            let lab = Lab::up(&options.state_root, &run_id, &lab_options).await?;
            resources.lab = Some(lab);
            ("lab", run_id.clone())
        }
        Target::Lab { name } => {
            let lab = Lab::open(&options.state_root, name)?;
            if scenario.live_restore && !lab.options().live_restore {
                return Err(RunError::LiveRestoreMissing {
                    scenario: scenario.name.clone(),
                    lab: name.clone(),
                });
            }
            resources.lab = Some(lab);
            ("lab", name.clone())
        }
        Target::Host { docker_host } => ("host", docker_host.clone()),
    };
    let docker_host = match (&resources.lab, target) {
        (Some(lab), _) => lab.docker_host(),
        (None, Target::Host { docker_host }) => docker_host.clone(),
        (None, _) => unreachable!("every lab target opened a lab"),
    };
    let (docker, daemon): (Docker, DaemonInfo) = match connected.take() {
        Some(connected) => connected,
        None => halab_docker::connect(&docker_host).await?,
    };
    resources.docker = Some(docker.clone());

    let image = match &lab_image {
        Some(lab_image) => {
            view.note("making sure the daemon has the lab image (busybox, FROM scratch)");
            lab_image.ensure(&docker).await?.to_owned()
        }
        None => scenario.service.image.clone(),
    };

    let container = format!("halab-{run_id}-service");
    let observer = Observer::spawn(
        docker.clone(),
        &run_id,
        recorder.clone(),
        halab_docker::now(),
    );
    let _sampler = AbortOnDrop(counter.sample_into(recorder.clone()));
    let _status = AbortOnDrop(view.watch(recorder.clone(), docker.clone(), container.clone()));
    observer.wait_live(Duration::from_secs(10)).await;
    let _daemon = AbortOnDrop(watch_daemon(
        recorder.clone(),
        resources.lab.clone(),
        observer.link(),
    ));
    resources.observer = Some(observer);

    let spec = ContainerSpec {
        name: container.clone(),
        image,
        cmd: vec!["sh".into(), "-c".into(), scenario.service.script.clone()],
        restart: scenario.service.restart,
        // Both sides are checked: ours is the run's own directory, the target was validated
        // by the scenario parser (absolute, no `:`), so the bind has exactly two fields.
        binds: vec![format!(
            "{}:{}",
            counter_dir.display(),
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

    let mut rt = DockerRuntime {
        recorder: &recorder,
        docker: &docker,
        lab: resources.lab.as_ref(),
        observer: resources.observer.as_ref().expect("observer started above"),
        container: &container,
        counter: &counter,
        stop_timeout: scenario.service.stop_timeout.map_or(10, |t| t as i32),
    };
    let phases = play(
        &mut rt,
        scenario,
        &container,
        options.skip_daemon_phases,
        view,
    )
    .await;
    let restart_count = rt.finish().await;
    let target = TargetInfo {
        kind,
        name: target_name,
        docker_host,
        engine_version: daemon.engine_version,
    };
    Ok(judge(
        scenario,
        run_id,
        target,
        &container,
        phases,
        recorder.snapshot(),
        restart_count,
    ))
}

/// A real daemon, as the phase engine sees it.
struct DockerRuntime<'a> {
    recorder: &'a Recorder,
    docker: &'a Docker,
    lab: Option<&'a Lab>,
    observer: &'a Observer,
    container: &'a str,
    counter: &'a CounterFile,
    /// Seconds `docker stop` waits: the container's own, else the engine's default (10).
    stop_timeout: i32,
}

impl DockerRuntime<'_> {
    fn lab(&self) -> &Lab {
        self.lab
            .expect("daemon phases run only on labs (checked in preflight)")
    }
}

impl Runtime for DockerRuntime<'_> {
    fn now(&self) -> Nanos {
        halab_docker::now()
    }

    fn record(&mut self, what: Happening) {
        self.recorder.harness(what);
    }

    fn read_counter(&mut self) {
        self.counter.read_into(self.recorder);
    }

    async fn wait_for(&mut self, timeout: Duration, done: impl FnMut(&History) -> bool) -> bool {
        self.recorder.wait_until(timeout, done).await
    }

    async fn stop_daemon(&mut self, crash: bool) -> Result<(), String> {
        self.lab()
            .stop(if crash {
                StopMode::Crash
            } else {
                StopMode::Graceful
            })
            .await
            .map_err(|e| e.to_string())?;
        self.observer.wait_down(Duration::from_secs(5)).await;
        Ok(())
    }

    async fn start_daemon(&mut self) -> Result<Option<String>, String> {
        if let Err(e) = self.lab().start().await {
            // A dockerd that exited before it answered (killed from outside, or failing by
            // itself) is a daemon lost under the run, as much as one that dies later.
            if let halab_lab::LabError::DockerdNotReady { pid, .. } = &e
                && self.lab().dockerd().is_none()
            {
                self.recorder.harness(Happening::Daemon {
                    action: DaemonAction::Lost { pid: Some(*pid) },
                });
            }
            return Err(e.to_string());
        }
        self.observer.daemon_is_back();
        if !self.observer.wait_live(Duration::from_secs(30)).await {
            return Ok(Some(
                "the events stream did not come back within 30 s".into(),
            ));
        }
        Ok(None)
    }

    async fn container_call(&mut self, call: ContainerCall) -> Result<(), String> {
        let (docker, container) = (self.docker, self.container);
        let done = match call {
            ContainerCall::Kill { signal } => containers::kill(docker, container, signal).await,
            ContainerCall::Stop => containers::stop(docker, container, self.stop_timeout).await,
            ContainerCall::Start => containers::start(docker, container).await,
            ContainerCall::HostSignal { signal } => {
                containers::signal_from_host(docker, container, signal).await
            }
        };
        done.map_err(|e| error_chain(&e))
    }

    /// Stops the service through the API, then reads the counter once more. `sh` as PID 1
    /// ignores SIGTERM, so a start just before the stop still gets the full stop timeout to
    /// write its increment. With the daemon gone there is nothing to stop or ask.
    async fn finish(&mut self) -> Option<i64> {
        let container = self.container;
        if self.recorder.with(daemon_lost) {
            self.counter.read_into(self.recorder);
            return None;
        }
        let running =
            self.recorder.with(|h| last_action(h, container)) == Some(ContainerAction::Start);
        if running {
            if let Err(e) = containers::stop(self.docker, container, 1).await {
                tracing::warn!(error = %e, "could not stop the service at the end of the run");
            }
            self.recorder
                .wait_until(Duration::from_secs(10), |h| {
                    matches!(
                        last_action(h, container),
                        Some(ContainerAction::Die { .. } | ContainerAction::Stop)
                    )
                })
                .await;
        }
        let restart_count = containers::inspect(self.docker, container)
            .await
            .ok()
            .and_then(|c| c.restart_count);
        self.counter.read_into(self.recorder);
        restart_count
    }

    fn with_history<T>(&self, read: impl FnOnce(&History) -> T) -> T {
        self.recorder.with(read)
    }
}

fn last_action(history: &History, container: &str) -> Option<ContainerAction> {
    history
        .container_actions(container)
        .last()
        .map(|(_, a)| a.clone())
}

/// An error and its causes on one line: what a phase reports when an operation fails.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Watches for the daemon going away without the harness asking, and records it: for a lab,
/// the exit of its dockerd process (seen through a pidfd, at once, with its pid); for another
/// daemon, the end of its events stream. An exit the harness asked for (its last daemon
/// action is a stop request, or the stop) is not a loss. When a lost daemon answers again (the
/// observer follows it once more) without the harness having started it, that is recorded as
/// the daemon being ready again.
fn watch_daemon(
    recorder: Recorder,
    lab: Option<Lab>,
    mut link: tokio::sync::watch::Receiver<Link>,
) -> tokio::task::JoinHandle<()> {
    let planned = |h: &History| {
        matches!(
            h.last_daemon_action(),
            Some((
                _,
                DaemonAction::StopRequested { .. } | DaemonAction::Stopped
            ))
        )
    };
    tokio::spawn(async move {
        loop {
            if link.wait_for(|l| *l == Link::Live).await.is_err() {
                return;
            }
            if recorder.with(daemon_lost) {
                recorder.harness(Happening::Daemon {
                    action: DaemonAction::Ready,
                });
            }
            let pid = match &lab {
                Some(lab) => match lab.dockerd() {
                    Some(dockerd) => {
                        if let Err(e) = dockerd.exited().await {
                            tracing::warn!(error = %e, "cannot watch the lab's dockerd");
                            return;
                        }
                        Some(dockerd.pid)
                    }
                    // Followed, yet no dockerd: it is exiting right now. Look again shortly.
                    None => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                None => {
                    if link.wait_for(|l| *l == Link::Down).await.is_err() {
                        return;
                    }
                    None
                }
            };
            if !recorder.with(planned) {
                tracing::warn!(?pid, "the daemon went away without halab stopping it");
                recorder.harness(Happening::Daemon {
                    action: DaemonAction::Lost { pid },
                });
            }
            // Wait for the observer to notice, so the next round waits for the daemon's return.
            if link.wait_for(|l| *l == Link::Down).await.is_err() {
                return;
            }
        }
    })
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP (the terminal closing): each ends the run the same
/// way, with everything it made removed.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        // Without handlers the default actions stay: the run cannot tidy up, but it still runs.
        tracing::warn!("could not install the SIGTERM and SIGHUP handlers");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}

/// Aborts a background task when the run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
