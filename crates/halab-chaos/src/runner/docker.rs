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
//! watching; waits end, operations that cannot be done end in `fail` or `info`, and the run
//! still ends with a report whose verdict says what the history cannot decide.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::FutureExt;
use halab_docker::containers::{self, BindMount, ContainerSpec, HealthProbe};
use halab_docker::image::LabImage;
use halab_docker::observe::{Link, Observer};
use halab_docker::{DaemonInfo, Docker, DockerError, Recorder, labels};
use halab_lab::{Lab, LabError, LabOptions};
use halab_model::{
    ApiCall, DaemonAction, DaemonOp, EngineVersion, Entry, Happening, History, Inspected, Nanos,
    Op, OpStep, ServiceOp, SignalResponse,
};

use super::engine::play;
use super::names::RunNames;
use super::{Played, RunError, RunOptions, Runtime, Started, Target, daemon_lost};
use crate::counter::{CounterFile, write_order};
use crate::program;
use crate::report::TargetInfo;
use crate::run_dir::{RunDir, RunRecord, removed_dir};
use crate::scenario::{LAB_IMAGE, Scenario};
use crate::view::View;

/// Runs `scenario` on the daemon `target` names, then tears down what the run created.
pub(super) async fn run(
    scenario: &Scenario,
    options: &RunOptions,
    target: &Target,
    view: &mut dyn View,
) -> Result<Played, RunError> {
    let lab_image = preflight(scenario, options, target)?;
    let names = RunNames::new();
    let mut resources = Resources::new(&names.run_id);
    let outcome = {
        let execution = std::panic::AssertUnwindSafe(execute(
            scenario,
            options,
            target,
            lab_image,
            &names,
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
            .filter(|p| p.touches_daemon())
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
    if scenario.services.iter().any(|s| s.image == LAB_IMAGE) {
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
    names: &RunNames,
    resources: &mut Resources,
    view: &mut dyn View,
) -> Result<Played, RunError> {
    let run_id = names.run_id.clone();
    let recorder = Recorder::new();
    // A daemon halab does not start is asked first: if it cannot be reached, nothing is made.
    let connected = match target {
        Target::Host { docker_host } => Some(halab_docker::connect(docker_host).await?),
        _ => None,
    };
    // Then, before anything else, the record that this is a live halab run (see the module's
    // doc).
    let lab_name = match target {
        Target::NewLab { .. } => Some(names.own_lab().to_owned()),
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
        let path = names.work_dir(&tmp);
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            RunError::WorkDirTaken { path }
        } else {
            RunError::WorkDir { path, source }
        }
    })?;
    let mut service_dirs = HashMap::new();
    let mut counters = Vec::new();
    for service in &scenario.services {
        let dir = work_dir
            .add_service_dir(&service.name)
            .map_err(|source| RunError::WorkDir {
                path: work_dir.service_dir(&service.name),
                source,
            })?;
        let counter = CounterFile::create(&dir, &service.counter_file, service.counter_initial)
            .map_err(|source| RunError::WorkDir {
                path: dir.clone(),
                source,
            })?;
        if service.counts() {
            counters.push((service.name.clone(), counter));
        }
        service_dirs.insert(service.name.clone(), dir);
    }
    resources.work_dir = Some(work_dir);

    let node = lab_name.clone().unwrap_or_else(|| "host".to_owned());
    let (kind, target_name) = match target {
        Target::NewLab { live_restore } => {
            view.note(&format!("starting lab daemon {run_id}"));
            let lab_options = LabOptions {
                live_restore: *live_restore || scenario.live_restore,
                labels: vec![(labels::RUN.to_owned(), run_id.clone())],
            };
            resources.owned_lab_root = Some(options.state_root.clone());
            // The lab's own start is the run's first operation: its start-up latency, with
            // nothing to restore, is what the oracle calibrates daemon starts with.
            let start = Op::Daemon(DaemonOp::Start);
            record_op(&recorder, &node, 0, OpStep::Invoke, &start);
            let lab = Lab::up(&options.state_root, names.own_lab(), &lab_options).await?;
            record_op(&recorder, &node, 0, OpStep::Ok { read: None }, &start);
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
    let live_restore = match &resources.lab {
        Some(lab) => lab.options().live_restore,
        None => false,
    };
    let (docker, daemon): (Docker, DaemonInfo) = match connected {
        Some(connected) => connected,
        None => halab_docker::connect(&docker_host).await?,
    };
    resources.docker = Some(docker.clone());

    let lab_tag = match &lab_image {
        Some(lab_image) => {
            view.note("making sure the daemon has the lab image (busybox, FROM scratch)");
            Some(lab_image.ensure(&docker).await?.to_owned())
        }
        None => None,
    };

    let observer = Observer::spawn(
        docker.clone(),
        &node,
        &run_id,
        recorder.clone(),
        halab_docker::now(),
    );
    let _samplers: Vec<AbortOnDrop> = counters
        .iter()
        .map(|(service, counter)| {
            AbortOnDrop(counter.sample_into(recorder.clone(), &node, service))
        })
        .collect();
    observer.wait_live(Duration::from_secs(10)).await;
    let _daemon = AbortOnDrop(watch_daemon(
        recorder.clone(),
        node.clone(),
        resources.lab.clone(),
        observer.link(),
    ));
    resources.observer = Some(observer);

    let mut containers_of = HashMap::new();
    for service in &scenario.services {
        let container = names.container(&service.name);
        let image = if service.image == LAB_IMAGE {
            lab_tag
                .clone()
                .expect("the lab image was built for a service that uses it")
        } else {
            service.image.clone()
        };
        let spec = ContainerSpec {
            name: container.clone(),
            image,
            cmd: vec!["sh".into(), "-c".into(), program::script(service)],
            restart: service.restart,
            // Both sides are checked: ours is the service's own directory, the target was
            // validated by the scenario parser (absolute, no `:`).
            bind_mounts: vec![BindMount {
                source: service_dirs[&service.name].display().to_string(),
                target: service.counter_dir.clone(),
            }],
            stop_timeout: service.stop_timeout,
            memory_mb: service.memory_mb,
            network_none: true,
            labels: [
                (labels::SCENARIO.to_owned(), scenario.name.clone()),
                (labels::SERVICE.to_owned(), service.name.clone()),
            ]
            .into(),
            health: service.healthcheck.as_ref().map(|h| HealthProbe {
                cmd: h.cmd.clone(),
                interval_ms: h.interval_ms,
                timeout_ms: h.timeout_ms,
                start_period_ms: h.start_period_ms,
                retries: h.retries,
            }),
        };
        containers::create(&docker, &run_id, &spec).await?;
        containers_of.insert(service.name.clone(), container);
    }

    // The probe: a container of halab's own, started every few seconds while the run plays, to
    // measure the daemon's start latency under the run's own load (see `oracle::Slack`).
    let probe = names.container("probe");
    let probe_spec = ContainerSpec {
        name: probe.clone(),
        image: lab_tag.clone().unwrap_or_else(|| {
            scenario
                .services
                .first()
                .map(|s| s.image.clone())
                .unwrap_or_default()
        }),
        cmd: vec!["sh".into(), "-c".into(), "exit 0".into()],
        restart: halab_model::RestartPolicy::No,
        bind_mounts: vec![],
        stop_timeout: Some(1),
        memory_mb: None,
        network_none: true,
        labels: [(labels::PROBE.to_owned(), "start-latency".to_owned())].into(),
        health: None,
    };
    containers::create(&docker, &run_id, &probe_spec).await?;
    let _probe = AbortOnDrop(probe_starts(
        docker.clone(),
        recorder.clone(),
        node.clone(),
        probe,
    ));

    let mut rt = DockerRuntime {
        node,
        recorder: &recorder,
        docker: docker.clone(),
        docker_host: docker_host.clone(),
        stale: false,
        lab: resources.lab.as_ref(),
        observer: resources.observer.as_ref().expect("observer started above"),
        containers: containers_of,
        service_dirs,
        counters: &counters,
        traps_term: scenario
            .services
            .iter()
            .filter(|s| s.script.is_none() && s.on_stop_signal != SignalResponse::Ignore)
            .map(|s| s.name.clone())
            .collect(),
        processes: Default::default(),
    };
    let target = TargetInfo {
        kind: kind.to_owned(),
        name: target_name,
        docker_host,
        engine_version: daemon.engine_version,
    };
    let engine = EngineVersion::for_release(&target.engine_version);
    view.started(&Started {
        run_id: run_id.clone(),
        target: target.clone(),
        engine,
        live_restore,
    });
    let phases = play(&mut rt, scenario, options.skip_daemon_phases, view).await;
    Ok(Played {
        run_id,
        engine,
        target,
        live_restore,
        phases,
        history: recorder.snapshot(),
    })
}

/// How often the probe container is started (see `oracle::Slack`): often enough to follow the
/// load, seldom enough not to add to it much.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Starts `probe` every [`PROBE_EVERY`] and records how long the daemon took (a `docker start`
/// returns once `containerStart` has logged `start`). A start that fails (the daemon down) is
/// no sample.
fn probe_starts(
    docker: Docker,
    recorder: Recorder,
    node: String,
    probe: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let began = std::time::Instant::now();
            if containers::start(&docker, &probe).await.is_ok() {
                recorder.harness(Happening::Probe {
                    node: node.clone(),
                    start_ms: began.elapsed().as_millis() as i64,
                });
            }
        }
    })
}

/// Records operation `id`'s `step` (for the operations the runtime does itself, at setup).
fn record_op(recorder: &Recorder, node: &str, id: u64, step: OpStep, op: &Op) {
    recorder.harness(Happening::Op {
        node: node.to_owned(),
        id,
        step,
        op: op.clone(),
    });
}

/// A real daemon, as the phase engine sees it.
struct DockerRuntime<'a> {
    node: String,
    recorder: &'a Recorder,
    /// The client of the daemon; a fresh one after each daemon operation (see
    /// [`halab_docker::fresh_client`]).
    docker: Docker,
    docker_host: String,
    /// Whether `docker` was made before the last daemon operation.
    stale: bool,
    lab: Option<&'a Lab>,
    observer: &'a Observer,
    /// Each service's container.
    containers: HashMap<String, String>,
    /// Each service's directory on the host.
    service_dirs: HashMap<String, PathBuf>,
    counters: &'a [(String, CounterFile)],
    /// The services whose program traps SIGTERM (halab's program, answering the stop signal):
    /// see [`DockerRuntime::until_trapped`].
    traps_term: Vec<String>,
    /// Each service's main process as the last inspection showed it: a crash from the host
    /// while the daemon is down signals it (see `containers::signal_from_host`).
    processes: std::sync::Mutex<HashMap<String, containers::HostProcess>>,
}

impl DockerRuntime<'_> {
    fn lab(&self) -> &Lab {
        self.lab
            .expect("daemon operations run only on labs (checked in preflight)")
    }

    async fn daemon_op(&mut self, op: DaemonOp) -> OpStep {
        let step = self.lab_daemon_op(op).await;
        // The connections to the daemon that was there are dead, or soon will be.
        self.stale = true;
        step
    }

    /// The client for the next call: a fresh one after a daemon operation (see
    /// [`halab_docker::fresh_client`]). None can be made while the daemon's socket is gone:
    /// then no daemon listens.
    fn client(&mut self) -> Result<Docker, DockerError> {
        if self.stale {
            self.docker = halab_docker::fresh_client(&self.docker, &self.docker_host)?;
            self.stale = false;
        }
        Ok(self.docker.clone())
    }

    async fn lab_daemon_op(&mut self, op: DaemonOp) -> OpStep {
        let done = match op {
            DaemonOp::Stop | DaemonOp::Crash | DaemonOp::PowerLoss => {
                // While it is down, its containers' processes can only be found from what it
                // last said of them (no restart happens meanwhile).
                self.remember_processes().await;
                if op == DaemonOp::Stop {
                    let all: Vec<String> = self.containers.keys().cloned().collect();
                    self.until_trapped(None, &all).await;
                }
                let stopped = self.lab().perform(op).await;
                if stopped.is_ok() {
                    self.observer.wait_down(Duration::from_secs(5)).await;
                }
                stopped.map(|()| None)
            }
            DaemonOp::Start => match self.lab().start().await {
                Ok(()) => {
                    self.observer.daemon_is_back();
                    if self.observer.wait_live(Duration::from_secs(30)).await {
                        Ok(None)
                    } else {
                        Ok(Some(
                            "the events stream did not come back within 30 s".to_owned(),
                        ))
                    }
                }
                Err(e) => {
                    // A dockerd that exited before it answered (killed from outside, or failing
                    // by itself) is a daemon lost under the run, as much as one that dies later.
                    if let LabError::DockerdNotReady { pid, .. } = &e
                        && self.lab().dockerd().is_none()
                    {
                        self.recorder.harness(Happening::Daemon {
                            node: self.node.clone(),
                            action: DaemonAction::Lost { pid: Some(*pid) },
                        });
                    }
                    Err(e)
                }
            },
        };
        match done {
            Ok(None) => OpStep::Ok { read: None },
            Ok(Some(problem)) => OpStep::Info { error: problem },
            Err(e @ LabError::NotRunning { .. }) | Err(e @ LabError::AlreadyRunning { .. }) => {
                OpStep::Fail {
                    error: e.to_string(),
                }
            }
            Err(e) => OpStep::Info {
                error: error_chain(&e),
            },
        }
    }

    async fn service_op(&mut self, service: &str, op: ServiceOp) -> OpStep {
        // While the daemon's socket is gone no client can be made: no daemon listens, and a
        // call through the API is refused. What the harness does from the host goes on.
        let client = self.client();
        let Some(container) = self.containers.get(service) else {
            return OpStep::Fail {
                error: format!("no service {service}"),
            };
        };
        match op {
            ServiceOp::Inspect => match &client {
                Ok(docker) => self.inspect(docker, service, container).await,
                Err(e) => failed(e),
            },
            ServiceOp::Api(call) => match &client {
                Ok(docker) => {
                    if sends_sigterm(op) {
                        self.until_trapped(Some(docker), &[service.to_owned()])
                            .await;
                    }
                    api_call(docker, container, call).await
                }
                Err(e) => failed(e),
            },
            ServiceOp::Signal { signal } => {
                if sends_sigterm(op) {
                    self.until_trapped(client.as_ref().ok(), &[service.to_owned()])
                        .await;
                }
                self.signal(client.as_ref().ok(), service, container, signal)
                    .await
            }
            ServiceOp::Exit { code } => self.told(service, &code.to_string()).await,
            ServiceOp::Oom => self.told(service, "oom").await,
            ServiceOp::BindSource { present } => self.bind_source(service, present),
        }
    }

    /// `docker inspect`, its answer read into the history (a container that is gone reads
    /// `removed`).
    async fn inspect(&self, docker: &Docker, service: &str, container: &str) -> OpStep {
        match containers::inspect(docker, container).await {
            Ok(inspected) => {
                self.remember_process(service, &inspected);
                let state = inspected.state.unwrap_or_default();
                OpStep::Ok {
                    read: Some(Inspected {
                        status: state.status.map_or("?".to_owned(), |s| s.to_string()),
                        exit_code: state.exit_code.unwrap_or(-1),
                        restart_count: inspected.restart_count.unwrap_or(-1),
                        health: state.health.and_then(|h| h.status).map(|s| s.to_string()),
                    }),
                }
            }
            Err(DockerError::Api {
                source:
                    bollard::errors::Error::DockerResponseServerError {
                        status_code: 404, ..
                    },
                ..
            }) => OpStep::Ok {
                read: Some(Inspected {
                    status: "removed".into(),
                    exit_code: -1,
                    restart_count: -1,
                    health: None,
                }),
            },
            Err(e) => failed(&e),
        }
    }

    /// A signal to the service's process from the host (found through `docker` if there is a
    /// daemon to ask); a SIGKILL is done once the process is gone.
    async fn signal(
        &self,
        docker: Option<&Docker>,
        service: &str,
        container: &str,
        signal: i32,
    ) -> OpStep {
        let known = self.known_process(service);
        match containers::signal_from_host(docker, container, signal, known.as_ref()).await {
            Ok(()) if signal == halab_model::signal::SIGKILL => {
                self.until_gone(service, known, OpStep::Ok { read: None })
                    .await
            }
            Ok(()) => OpStep::Ok { read: None },
            Err(e) => failed(&e),
        }
    }

    /// An order to the service's program (an exit code, or `oom`), done once the process that
    /// ran has ended.
    async fn told(&self, service: &str, order: &str) -> OpStep {
        let known = self.known_process(service);
        let told = self.tell(service, order);
        self.until_gone(service, known, told).await
    }

    /// Before SIGTERM is sent to `services` (by `docker stop`, `docker restart`, a kill with
    /// TERM, or the daemon's stop): waits until the process of each that runs and traps it has
    /// run its `trap`, at most [`TRAP_WAIT`] in all.
    ///
    /// Why: the daemon logs `start` when the task starts, before the container's shell has read
    /// its first line. A SIGTERM in between reaches a PID 1 with no handler, which the kernel
    /// drops — on a loaded machine a stop right after a start then waited out the stop timeout
    /// and killed the process (exit 137, not the program's answer). The model's program answers
    /// from its start; the harness makes that true before it sends the signal. The process is
    /// the one `docker` reports now, or the one last seen.
    async fn until_trapped(&self, docker: Option<&Docker>, services: &[String]) {
        let deadline = tokio::time::Instant::now() + TRAP_WAIT;
        for service in services.iter().filter(|s| self.traps_term.contains(s)) {
            if let (Some(docker), Some(container)) = (docker, self.containers.get(service))
                && let Ok(inspected) = containers::inspect(docker, container).await
            {
                self.remember_process(service, &inspected);
            }
            let Some(process) = self.known_process(service).filter(|p| !p.paused) else {
                continue;
            };
            while process.still_in_container()
                && !process.catches(halab_model::signal::SIGTERM)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(TRAP_POLL).await;
            }
        }
    }

    /// Inspects every service for its process (read-only: nothing the history needs).
    async fn remember_processes(&mut self) {
        let Ok(docker) = self.client() else {
            return;
        };
        for (service, container) in &self.containers {
            if let Ok(inspected) = containers::inspect(&docker, container).await {
                self.remember_process(service, &inspected);
            }
        }
    }

    fn known_process(&self, service: &str) -> Option<containers::HostProcess> {
        self.processes
            .lock()
            .ok()
            .and_then(|p| p.get(service).cloned())
    }

    fn remember_process(
        &self,
        service: &str,
        inspected: &bollard::models::ContainerInspectResponse,
    ) {
        if let Ok(mut processes) = self.processes.lock() {
            match containers::HostProcess::of(inspected) {
                Some(process) => processes.insert(service.to_owned(), process),
                None => processes.remove(service),
            };
        }
    }

    /// `done`, once the service's process last seen (if it still runs in its container) has
    /// ended: an exit, an OOM or a SIGKILL is done when the process is gone — which the daemon
    /// may not see (it may be down, with nothing to wait on in its events), and what follows
    /// must not race with it. A process that outlives [`PROCESS_END`] makes the outcome unknown.
    async fn until_gone(
        &self,
        service: &str,
        known: Option<containers::HostProcess>,
        done: OpStep,
    ) -> OpStep {
        let Some(process) = known
            .filter(|p| !p.paused)
            .filter(containers::HostProcess::still_in_container)
        else {
            return done;
        };
        let Some(identity) = u32::try_from(process.pid)
            .ok()
            .and_then(halab_lab::ProcessId::of)
        else {
            return done;
        };
        if !matches!(done, OpStep::Ok { .. }) {
            return done;
        }
        match tokio::time::timeout(PROCESS_END, identity.exited()).await {
            Ok(_) => done,
            Err(_) => OpStep::Info {
                error: format!(
                    "{service}'s process {} was still running {} s later",
                    process.pid,
                    PROCESS_END.as_secs()
                ),
            },
        }
    }

    /// Takes the service's directory, its bind mount's source, away — renamed aside within the
    /// run's directory, so that what the service wrote is kept — or puts it back. A running
    /// container keeps the directory it mounted (the rename moves no inode); its next start
    /// finds the source gone. Done already is done.
    fn bind_source(&self, service: &str, present: bool) -> OpStep {
        let dir = &self.service_dirs[service];
        let aside = removed_dir(dir);
        let (from, to) = if present {
            (&aside, dir)
        } else {
            (dir, &aside)
        };
        if to.exists() && !from.exists() {
            return OpStep::Ok { read: None };
        }
        match std::fs::rename(from, to) {
            Ok(()) => OpStep::Ok { read: None },
            Err(e) => OpStep::Fail {
                error: format!("renaming {} to {}: {e}", from.display(), to.display()),
            },
        }
    }

    /// Writes an order for a program waiting to be told (see [`program::ORDER_FILE`]): into
    /// its directory where it is now (aside while its bind source is removed: the container
    /// still has it mounted).
    fn tell(&self, service: &str, order: &str) -> OpStep {
        let dir = &self.service_dirs[service];
        let aside = removed_dir(dir);
        let now = if !dir.exists() && aside.exists() {
            &aside
        } else {
            dir
        };
        match write_order(now, order) {
            Ok(()) => OpStep::Ok { read: None },
            Err(e) => OpStep::Fail {
                error: format!("writing the order for {service}: {e}"),
            },
        }
    }
}

/// How long the harness waits, before it sends SIGTERM, for the programs that trap it to have
/// run their `trap` (see [`DockerRuntime::until_trapped`]): a bound, met in milliseconds.
const TRAP_WAIT: Duration = Duration::from_secs(5);
/// How often a process's signal handlers are read meanwhile.
const TRAP_POLL: Duration = Duration::from_millis(10);

/// Whether `op` sends SIGTERM to the service's process.
fn sends_sigterm(op: ServiceOp) -> bool {
    use halab_model::signal::SIGTERM;
    matches!(
        op,
        ServiceOp::Api(ApiCall::Stop { .. } | ApiCall::Restart { .. })
            | ServiceOp::Api(ApiCall::Kill { signal: SIGTERM })
            | ServiceOp::Signal { signal: SIGTERM }
    )
}

/// How long a program may take to carry out an order (an OOM allocates until the kernel kills
/// it), or a process to go after SIGKILL, before the outcome is unknown.
const PROCESS_END: Duration = Duration::from_secs(15);

/// A call to the daemon's API about `container`.
async fn api_call(docker: &Docker, container: &str, call: ApiCall) -> OpStep {
    let timeout = |t: Option<i64>| t.map(|t| t as i32);
    let done = match call {
        ApiCall::Start => containers::start(docker, container).await,
        ApiCall::Stop { timeout_s } => {
            containers::stop(docker, container, timeout(timeout_s)).await
        }
        ApiCall::Kill { signal } => containers::kill(docker, container, signal).await,
        ApiCall::Restart { timeout_s } => {
            containers::restart(docker, container, timeout(timeout_s)).await
        }
        ApiCall::Pause => containers::pause(docker, container).await,
        ApiCall::Unpause => containers::unpause(docker, container).await,
        ApiCall::RemoveForce => containers::remove_force(docker, container).await,
        ApiCall::UpdateRestartPolicy { policy } => {
            containers::update_restart_policy(docker, container, policy).await
        }
    };
    match done {
        Ok(()) => OpStep::Ok { read: None },
        Err(e) => failed(&e),
    }
}

/// How a refused or broken API call ended: refused by the daemon (or no daemon listening) is
/// `fail`, nothing happened; anything else (a connection dropped mid-call) is `info`.
fn failed(e: &DockerError) -> OpStep {
    let error = error_chain(e);
    let refused = matches!(
        e,
        DockerError::Api {
            source: bollard::errors::Error::DockerResponseServerError { .. },
            ..
        } | DockerError::NotRunning { .. }
    ) || crate::oracle::answers::no_daemon_listening(&error);
    if refused {
        OpStep::Fail { error }
    } else {
        OpStep::Info { error }
    }
}

impl Runtime for DockerRuntime<'_> {
    fn node(&self) -> &str {
        &self.node
    }

    fn now(&self) -> Nanos {
        halab_docker::now()
    }

    fn record(&mut self, what: Happening) {
        self.recorder.harness(what);
    }

    fn read_counters(&mut self) {
        for (service, counter) in self.counters {
            counter.read_into(self.recorder, &self.node, service);
        }
    }

    async fn perform(&mut self, op: &Op) -> OpStep {
        match op {
            Op::Daemon(op) => self.daemon_op(*op).await,
            Op::Service { service, op } => self.service_op(service, *op).await,
            Op::Wait(_) => OpStep::Ok { read: None },
        }
    }

    async fn wait_for(
        &mut self,
        timeout: Duration,
        done: &mut dyn FnMut(&History) -> bool,
        shown: &mut usize,
        arrived: &mut dyn FnMut(&[Entry]),
    ) -> bool {
        let mut changes = self.recorder.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.mark_unchanged();
            let fresh = self.recorder.arrivals_since(*shown);
            *shown += fresh.len();
            if !fresh.is_empty() {
                arrived(&fresh);
            }
            if self.recorder.with(&mut *done) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return self.recorder.with(&mut *done),
            }
        }
    }

    fn with_history<T>(&self, read: impl FnOnce(&History) -> T) -> T {
        self.recorder.with(read)
    }

    fn arrivals_since(&self, seen: usize) -> Vec<Entry> {
        self.recorder.arrivals_since(seen)
    }
}

/// Watches for the daemon going away without the harness asking, and records it: for a lab,
/// the exit of its dockerd process (seen through a pidfd, at once, with its pid); for another
/// daemon, the end of its events stream. An exit the harness asked for is not a loss: see
/// [`exit_planned`]. When a lost daemon answers again (the observer follows it once more)
/// without the harness having started it, that is recorded as the daemon being ready again.
fn watch_daemon(
    recorder: Recorder,
    node: String,
    lab: Option<Lab>,
    mut link: tokio::sync::watch::Receiver<Link>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            // Counted before the daemon is seen answering: a stop the harness invokes as soon
            // as it answers is after this count, however late this task runs.
            let endings_before = recorder.with(ending_invokes);
            if link.wait_for(|l| *l == Link::Live).await.is_err() {
                return;
            }
            if recorder.with(daemon_lost) {
                recorder.harness(Happening::Daemon {
                    node: node.clone(),
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
                    // Followed a moment ago, and no dockerd now: it exited before we could watch
                    // it (a kill that came first). Its pid is the one its pid file still names.
                    None => lab.last_dockerd_pid(),
                },
                None => {
                    if link.wait_for(|l| *l == Link::Down).await.is_err() {
                        return;
                    }
                    None
                }
            };
            if !recorder.with(|h| exit_planned(h, endings_before)) {
                tracing::warn!(?pid, "the daemon went away without halab stopping it");
                recorder.harness(Happening::Daemon {
                    node: node.clone(),
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

/// How many daemon stops, crashes and power losses the harness has invoked.
fn ending_invokes(history: &History) -> usize {
    history
        .entries()
        .iter()
        .filter(|e| {
            matches!(&e.what, Happening::Op { op: Op::Daemon(op), step: OpStep::Invoke, .. }
                if op.ends_daemon())
        })
        .count()
}

/// Whether the daemon's exit, seen now, is one the harness asked for: a stop (or crash, or
/// power loss) was invoked since the watch of this daemon began (`endings_before` of them
/// then), or one was invoked before and the daemon has not answered since. What the harness
/// did after it — the next phase's start, under load before the watcher even woke — does not
/// make the exit unplanned.
fn exit_planned(history: &History, endings_before: usize) -> bool {
    if ending_invokes(history) > endings_before {
        return true;
    }
    for entry in history.entries().iter().rev() {
        match &entry.what {
            Happening::Op {
                op: Op::Daemon(op),
                step,
                ..
            } => {
                if op.ends_daemon() && matches!(step, OpStep::Invoke) {
                    return true;
                }
                if !op.ends_daemon() && matches!(step, OpStep::Ok { .. }) {
                    return false;
                }
            }
            Happening::Daemon {
                action: DaemonAction::Ready,
                ..
            } => return false,
            _ => {}
        }
    }
    false
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::build::Build;

    /// The race CI hit under load: dockerd killed by the harness, its exit seen by the watcher
    /// only after the next phase had invoked (or even finished) the daemon's start.
    #[test]
    fn an_exit_the_harness_asked_for_stays_planned_whatever_follows() {
        let crashed = || Build::new().daemon(10, 20, DaemonOp::Crash);
        let starting = crashed().op(30, OpStep::Invoke, Op::Daemon(DaemonOp::Start));
        assert!(exit_planned(&crashed().0, 0));
        assert!(exit_planned(&starting.0, 0));
        assert!(
            exit_planned(&starting.0, 1),
            "invoked before the count, not answered since"
        );
        let started = crashed().daemon(30, 40, DaemonOp::Start);
        assert!(exit_planned(&started.0, 0), "counted since the watch began");
    }

    #[test]
    fn an_exit_nobody_asked_for_is_a_loss() {
        assert!(!exit_planned(&Build::new().0, 0));
        let up_again = Build::new()
            .daemon(10, 20, DaemonOp::Stop)
            .daemon(30, 40, DaemonOp::Start);
        assert!(
            !exit_planned(&up_again.0, 1),
            "the stop was before this daemon answered"
        );
        let came_back = Build::new().daemon(10, 20, DaemonOp::Crash).at(
            30,
            Happening::Daemon {
                node: "lab".into(),
                action: DaemonAction::Ready,
            },
        );
        assert!(!exit_planned(&came_back.0, 1));
    }
}
