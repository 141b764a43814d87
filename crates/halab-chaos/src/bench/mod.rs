//! `halab bench recovery`: how halab's view of recovery compares with the daemon's own, and with
//! the seed's bash loop, measured in one run on one lab daemon that the benchmark starts.
//!
//! The run, in order (each crash hits a container that has run at least [`HOLD`], so the
//! engine's back-off is at its first step on every side):
//!
//! 1. a lab daemon named after the run, the lab image, N containers (`restart=always`,
//!    `sleep` for ever) labelled with the run, and halab's events observer;
//! 2. **(a)** halab crashes each container in turn (SIGKILL from the host) and waits for its
//!    restart: the daemon's die → start (event stamps) against die → start *as halab recorded
//!    it* (the start's `seen`);
//! 3. the bash loop crashes and polls them one after another (the baseline for (a) and (b));
//! 4. **(b)** halab crashes them all at once: containers back per second as halab records them,
//!    against the daemon's own restart rate and the loop's;
//! 5. **(c)** every event's detection latency (`seen - at`) over the whole run;
//! 6. **(d)** the benchmark's containers removed, a halab command (a chaos run, by default on
//!    this lab) runs as a child: its CPU over wall time and its peak RSS.
//!
//! Like a scenario run, everything is labelled and removed: the work directory with its
//! [`RunRecord`] comes first (so `halab gc` knows a killed benchmark's lab), and teardown runs
//! on success, error, Ctrl-C, SIGTERM, SIGHUP and panic.

mod baseline;
mod cost;
pub mod figures;
mod machine;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::FutureExt;
use halab_docker::containers::{self, ContainerSpec};
use halab_docker::image::LabImage;
use halab_docker::observe::Observer;
use halab_docker::{DockerError, Recorder, labels};
use halab_lab::{Lab, LabError, LabOptions};
use halab_model::{Nanos, RestartPolicy};

pub use cost::{Cost, expand as expand_command};
pub use figures::{Line, Outcome, Target};
pub use machine::Machine;

use crate::run_dir::{RunDir, RunRecord};
use crate::runner::names::RunNames;
use figures::{Cycle, cycle_after, mean, ms_between, percentile, rate_per_s, ratio};

/// How long a container runs before it is crashed: past the 10 s after which Docker resets a
/// container's restart back-off to its first step.
pub const HOLD: Duration = Duration::from_secs(11);
/// The default chaos command for (d).
pub const DEFAULT_COST_COMMAND: &str =
    "chaos run chaos/mixed-eight --duration {duration} --lab {lab}";
/// How many containers the benchmark may make.
pub const CONTAINERS: std::ops::RangeInclusive<usize> = 2..=64;
/// A crash whose restart halab has not recorded by then is an error.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an interrupted cost command may take to tidy up its run.
const COST_GRACE: Duration = Duration::from_secs(90);
/// The scenario label on the benchmark's containers.
const SCENARIO: &str = "bench-recovery";

#[derive(Debug, Clone)]
pub struct RecoveryOptions {
    /// Where the benchmark's lab keeps its state.
    pub state_root: PathBuf,
    /// The static busybox the lab image is built from (default /bin/busybox).
    pub busybox: Option<PathBuf>,
    /// How many containers to crash.
    pub containers: usize,
    /// (d), unless it is left out.
    pub cost: Option<CostOptions>,
}

#[derive(Debug, Clone)]
pub struct CostOptions {
    /// The halab executable to run.
    pub halab: PathBuf,
    /// Its arguments as one string of words; `{duration}` and `{lab}` are filled in.
    pub command: String,
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(
        "the benchmark's baseline needs `{program}` on PATH (Debian package {package}): apt-get install {package}"
    )]
    MissingProgram {
        program: &'static str,
        package: &'static str,
    },
    #[error("{0}")]
    BadOption(String),
    #[error("preparing {path}: {source}", path = .path.display())]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    #[error("the bash loop (baseline): {0}")]
    Baseline(String),
    #[error("the cost command: {0}")]
    Cost(String),
    #[error("interrupted: everything the benchmark created has been removed")]
    Interrupted,
}

/// What the benchmark measured.
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    pub run_id: String,
    pub machine: Machine,
    pub engine_version: String,
    pub docker_cli: String,
    pub containers: usize,
    pub lines: Vec<Line>,
    pub notes: Vec<String>,
}

impl RecoveryReport {
    pub fn render(&self) -> String {
        let mut out = format!(
            "halab bench recovery — run {}, one lab daemon, {} containers (restart=always, crashed \
             after ≥ {} s each)\nmachine: {}\nengine:  Docker Engine {} (the lab daemon); baseline \
             client: {}\n\n",
            self.run_id,
            self.containers,
            HOLD.as_secs(),
            self.machine.describe(),
            self.engine_version,
            self.docker_cli,
        );
        out.push_str(&figures::render_lines(&self.lines));
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }

    /// Every target met.
    pub fn all_met(&self) -> bool {
        self.lines
            .iter()
            .all(|l| matches!(l.outcome(), Outcome::Pass | Outcome::Info))
    }
}

/// Runs the benchmark. `note` gets progress lines.
pub async fn recovery(
    options: &RecoveryOptions,
    note: &dyn Fn(&str),
) -> Result<RecoveryReport, BenchError> {
    let tools = preflight(options)?;
    let names = RunNames::new();
    let mut resources = Resources::new(&names.run_id, tools.bash.clone());
    let outcome = {
        let execution =
            std::panic::AssertUnwindSafe(execute(options, &tools, &names, &mut resources, note));
        tokio::select! {
            outcome = execution.catch_unwind() => Some(outcome),
            () = interrupted() => None,
        }
    };
    if resources.made_anything() {
        note("cleaning up");
    }
    resources.teardown().await;
    match outcome {
        None => Err(BenchError::Interrupted),
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        Some(Ok(result)) => result,
    }
}

/// What the benchmark needs from the host, found before anything is made.
struct Tools {
    image: LabImage,
    bash: PathBuf,
    docker_cli: String,
}

fn preflight(options: &RecoveryOptions) -> Result<Tools, BenchError> {
    if !CONTAINERS.contains(&options.containers) {
        return Err(BenchError::BadOption(format!(
            "--containers {} is out of range: {}..={}",
            options.containers,
            CONTAINERS.start(),
            CONTAINERS.end()
        )));
    }
    if let Some(cost) = &options.cost {
        if cost.duration.is_zero() {
            return Err(BenchError::BadOption(
                "--duration must be at least 1 s".into(),
            ));
        }
        if cost.command.split_whitespace().next().is_none() {
            return Err(BenchError::BadOption("--cost-command is empty".into()));
        }
    }
    halab_lab::require_root()?;
    let image = LabImage::from_busybox(options.busybox.as_deref())?;
    let bash = find_program("bash").ok_or(BenchError::MissingProgram {
        program: "bash",
        package: "bash",
    })?;
    let docker = find_program("docker").ok_or(BenchError::MissingProgram {
        program: "docker",
        package: "docker.io",
    })?;
    // `--version` asks no daemon anything.
    let docker_cli = std::process::Command::new(&docker)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("{} (version unknown)", docker.display()));
    Ok(Tools {
        image,
        bash,
        docker_cli,
    })
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// What the benchmark has made so far, so that teardown removes exactly that.
struct Resources {
    run_id: String,
    bash: PathBuf,
    owned_lab_root: Option<PathBuf>,
    lab: Option<Lab>,
    observer: Option<Observer>,
    cost_child: Option<cost::Running>,
    work_dir: Option<RunDir>,
}

impl Resources {
    fn new(run_id: &str, bash: PathBuf) -> Resources {
        Resources {
            run_id: run_id.to_owned(),
            bash,
            owned_lab_root: None,
            lab: None,
            observer: None,
            cost_child: None,
            work_dir: None,
        }
    }

    fn made_anything(&self) -> bool {
        self.owned_lab_root.is_some() || self.work_dir.is_some()
    }

    async fn teardown(mut self) {
        if let Some(observer) = self.observer.take() {
            observer.stop();
        }
        // First the cost command, so that it removes its own run (its directory, its
        // containers) while the lab still answers.
        if let Some(child) = self.cost_child.take() {
            child.terminate(&self.bash, COST_GRACE).await;
        }
        if let Some(root) = &self.owned_lab_root {
            let lab = self
                .lab
                .take()
                .or_else(|| Lab::open(root, &self.run_id).ok());
            if let Some(lab) = lab
                && let Err(e) = lab.down().await
            {
                tracing::warn!(error = %e, "could not remove lab {}; `halab gc` will", self.run_id);
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

/// One container of the benchmark: its name and the service label its events are recorded by.
struct Subject {
    container: String,
    service: String,
}

async fn execute(
    options: &RecoveryOptions,
    tools: &Tools,
    names: &RunNames,
    resources: &mut Resources,
    note: &dyn Fn(&str),
) -> Result<RecoveryReport, BenchError> {
    let run_id = names.run_id.clone();
    let lab_name = names.own_lab().to_owned();
    let tmp = std::env::temp_dir();
    let record = RunRecord::new(
        &run_id,
        Some(lab_name.clone()),
        Some(options.state_root.clone()),
    );
    let work_dir = RunDir::create(&tmp, &record).map_err(|source| BenchError::WorkDir {
        path: names.work_dir(&tmp),
        source,
    })?;
    let work_path = work_dir.path().to_path_buf();
    resources.work_dir = Some(work_dir);

    note(&format!("starting lab daemon {lab_name}"));
    resources.owned_lab_root = Some(options.state_root.clone());
    let lab = Lab::up(
        &options.state_root,
        &lab_name,
        &LabOptions {
            live_restore: false,
            labels: vec![(labels::RUN.to_owned(), run_id.clone())],
        },
    )
    .await?;
    let docker_host = lab.docker_host();
    resources.lab = Some(lab);
    let (docker, daemon) = halab_docker::connect(&docker_host).await?;
    note("building the lab image (busybox, FROM scratch)");
    let image = tools.image.ensure(&docker).await?.to_owned();

    let recorder = Recorder::new();
    let observer = Observer::spawn(
        docker.clone(),
        &lab_name,
        &run_id,
        recorder.clone(),
        halab_docker::now(),
    );
    let live = observer.wait_live(Duration::from_secs(10)).await;
    resources.observer = Some(observer);
    if !live {
        return Err(BenchError::Timeout {
            what: "the lab's events stream".into(),
            secs: 10,
        });
    }

    let subjects: Vec<Subject> = (0..options.containers)
        .map(|i| {
            let service = format!("c{i:02}");
            Subject {
                container: names.container(&service),
                service,
            }
        })
        .collect();
    note(&format!(
        "starting {} containers (restart=always, sleep)",
        subjects.len()
    ));
    for subject in &subjects {
        let spec = ContainerSpec {
            name: subject.container.clone(),
            image: image.clone(),
            cmd: vec!["sleep".into(), "999999999".into()],
            restart: RestartPolicy::Always,
            bind_mounts: vec![],
            stop_timeout: Some(1),
            memory_mb: None,
            network_none: true,
            labels: [
                (labels::SCENARIO.to_owned(), SCENARIO.to_owned()),
                (labels::SERVICE.to_owned(), subject.service.clone()),
            ]
            .into(),
            health: None,
        };
        containers::create_and_start(&docker, &run_id, &spec).await?;
    }
    let all_started = recorder
        .wait_until(CYCLE_TIMEOUT, |h| {
            subjects
                .iter()
                .all(|s| figures::last_start(h.entries(), &s.service).is_some())
        })
        .await;
    if !all_started {
        return Err(BenchError::Timeout {
            what: "every container's first start".into(),
            secs: CYCLE_TIMEOUT.as_secs(),
        });
    }

    // (a): one crash at a time, halab's way.
    hold(&recorder, &subjects, note).await;
    let mut phases = vec![("start-up", Nanos(i64::MIN))];
    phases.push(("one at a time", halab_docker::now()));
    note("(a) crashing each container in turn (halab: SIGKILL from the host)");
    let mut single = Vec::new();
    for subject in &subjects {
        let before = halab_docker::now();
        containers::signal_from_host(Some(&docker), &subject.container, 9, None).await?;
        single.push(wait_cycle(&recorder, subject, before).await?);
    }

    // The baseline: the bash loop, one container after another.
    hold(&recorder, &subjects, note).await;
    phases.push(("under the bash loop", halab_docker::now()));
    note("baseline: the bash loop crashes and polls each container in turn");
    let names_only: Vec<String> = subjects.iter().map(|s| s.container.clone()).collect();
    let looped = baseline::run(
        &tools.bash,
        &docker_host,
        &names_only,
        CYCLE_TIMEOUT * subjects.len() as u32,
    )
    .await?;
    let mut looped_daemon = Vec::new();
    for (subject, cycle) in subjects.iter().zip(&looped) {
        looped_daemon.push(wait_cycle(&recorder, subject, cycle.kill).await?);
    }

    // (b): all at once, halab's way.
    hold(&recorder, &subjects, note).await;
    phases.push(("all at once", halab_docker::now()));
    note("(b) crashing every container at once (halab)");
    let kill_at = halab_docker::now();
    let kills = futures_util::future::join_all(
        subjects
            .iter()
            .map(|s| containers::signal_from_host(Some(&docker), &s.container, 9, None)),
    )
    .await;
    for killed in kills {
        killed?;
    }
    let mut burst = Vec::new();
    for subject in &subjects {
        burst.push(wait_cycle(&recorder, subject, kill_at).await?);
    }

    if let Some(observer) = resources.observer.take() {
        observer.stop();
    }
    let history = recorder.snapshot();
    let latencies = figures::detection_latencies_ms(history.entries());
    // With -v: which events were late, to tell the daemon's delay from halab's.
    for entry in history.entries() {
        if let Some(seen) = entry.seen
            && ms_between(entry.at, seen) >= LATENCY_P99_MS
        {
            tracing::info!(latency_ms = ms_between(entry.at, seen), what = ?entry.what, "a late event");
        }
    }
    // (d) runs on a quiet lab: the benchmark's own containers go first.
    containers::remove_run(&docker, &run_id).await?;

    let mut lines = Vec::new();
    let mut notes = Vec::new();
    lines.extend(single_crash_lines(&single, &looped, &looped_daemon));
    lines.extend(burst_lines(&burst, kill_at, &looped));
    lines.push(latency_line(&latencies));
    notes.push(latency_by_phase(history.entries(), &phases));

    if let Some(cost_options) = &options.cost {
        let args = cost::expand(&cost_options.command, cost_options.duration, &lab_name);
        if !cost_options.command.contains("{lab}") {
            notes.push(
                "the cost command has no {lab}: it starts its own lab daemon, whose start-up and \
                 teardown count towards its cost"
                    .into(),
            );
        }
        note(&format!(
            "(d) running `halab {}` ({} s) and measuring its CPU and memory",
            args.join(" "),
            cost_options.duration.as_secs()
        ));
        resources.cost_child = Some(cost::spawn(
            &cost_options.halab,
            args,
            &options.state_root,
            work_path.join("cost-command.log"),
        )?);
        let measured = cost::measure(&mut resources.cost_child).await?;
        lines.extend(cost_lines(&measured, &mut notes));
    }

    Ok(RecoveryReport {
        run_id,
        machine: Machine::this(),
        engine_version: daemon.engine_version,
        docker_cli: tools.docker_cli.clone(),
        containers: subjects.len(),
        lines,
        notes,
    })
}

/// Waits until every container has run for at least [`HOLD`] since its last start.
async fn hold(recorder: &Recorder, subjects: &[Subject], note: &dyn Fn(&str)) {
    let latest = recorder.with(|h| {
        subjects
            .iter()
            .filter_map(|s| figures::last_start(h.entries(), &s.service))
            .max()
    });
    let Some(latest) = latest else { return };
    let wait_ms = ms_between(halab_docker::now(), latest.plus(HOLD));
    if wait_ms > 0.0 {
        note(&format!(
            "letting every container run ≥ {} s (back-off at its first step): {:.1} s",
            HOLD.as_secs(),
            wait_ms / 1000.0
        ));
        tokio::time::sleep(Duration::from_secs_f64(wait_ms / 1000.0)).await;
    }
}

/// The crash of `subject` after `after`, once halab has recorded its restart.
async fn wait_cycle(
    recorder: &Recorder,
    subject: &Subject,
    after: Nanos,
) -> Result<Cycle, BenchError> {
    let done = recorder
        .wait_until(CYCLE_TIMEOUT, |h| {
            cycle_after(h.entries(), &subject.service, after).is_some()
        })
        .await;
    recorder
        .with(|h| cycle_after(h.entries(), &subject.service, after))
        .filter(|_| done)
        .ok_or_else(|| BenchError::Timeout {
            what: format!("{} to die and start again", subject.container),
            secs: CYCLE_TIMEOUT.as_secs(),
        })
}

fn single_crash_lines(
    single: &[Cycle],
    looped: &[baseline::LoopCycle],
    looped_daemon: &[Cycle],
) -> Vec<Line> {
    let daemon: Vec<f64> = single.iter().map(Cycle::daemon_ms).collect();
    let halab: Vec<f64> = single.iter().filter_map(Cycle::halab_ms).collect();
    let bash: Vec<f64> = looped.iter().map(baseline::LoopCycle::ms).collect();
    let bash_daemon: Vec<f64> = looped_daemon.iter().map(Cycle::daemon_ms).collect();
    let polls: Vec<f64> = looped
        .iter()
        .map(|c| c.ms() / f64::from(c.polls.max(1)))
        .collect();
    let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} ms"));
    vec![
        Line {
            label: "(a) crash → running, halab/daemon".into(),
            figure: format!(
                "halab {} / daemon {} (mean of {})",
                ms(mean(&halab)),
                ms(mean(&daemon)),
                single.len()
            ),
            target_text: "within 5 %: ≤ 1.05".into(),
            target: Target::AtMost(1.05),
            ratio: ratio(mean(&halab), mean(&daemon)),
        },
        Line {
            label: "(a) crash → running, bash loop/daemon".into(),
            figure: format!(
                "loop {} / daemon {} (± one poll ≈ {})",
                ms(mean(&bash)),
                ms(mean(&bash_daemon)),
                ms(mean(&polls))
            ),
            target_text: "(issue: about 1.13)".into(),
            target: Target::Info,
            ratio: ratio(mean(&bash), mean(&bash_daemon)),
        },
    ]
}

fn burst_lines(burst: &[Cycle], kill_at: Nanos, looped: &[baseline::LoopCycle]) -> Vec<Line> {
    let first_die = burst.iter().map(|c| c.die_at).min();
    let last_start = burst.iter().map(|c| c.start_at).max();
    let last_seen = burst.iter().filter_map(|c| c.start_seen).max();
    let span = |from: Option<Nanos>, to: Option<Nanos>| match (from, to) {
        (Some(from), Some(to)) => rate_per_s(burst.len(), ms_between(from, to)),
        _ => None,
    };
    let daemon_rate = span(first_die, last_start);
    let halab_rate = span(first_die, last_seen);
    // Against the loop, both from the first kill: the loop cannot see the daemon's die.
    let halab_from_kill = span(Some(kill_at), last_seen);
    let loop_rate = match (
        looped.iter().map(|c| c.kill).min(),
        looped.iter().map(|c| c.seen).max(),
    ) {
        (Some(from), Some(to)) => rate_per_s(looped.len(), ms_between(from, to)),
        _ => None,
    };
    let per_s = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2}/s"));
    vec![
        Line {
            label: "(b) all crashed at once, halab/daemon".into(),
            figure: format!(
                "halab {} / daemon {} ({} back)",
                per_s(halab_rate),
                per_s(daemon_rate),
                burst.len()
            ),
            target_text: "≥ 0.90".into(),
            target: Target::AtLeast(0.9),
            ratio: ratio(halab_rate, daemon_rate),
        },
        Line {
            label: "(b) all crashed at once, halab/bash loop".into(),
            figure: format!(
                "halab {} from its kill / loop {} (sequential)",
                per_s(halab_from_kill),
                per_s(loop_rate)
            ),
            target_text: "≥ 1.5".into(),
            target: Target::AtLeast(1.5),
            ratio: ratio(halab_from_kill, loop_rate),
        },
    ]
}

/// The p99 limit of (c), in milliseconds.
const LATENCY_P99_MS: f64 = 5.0;

fn latency_line(latencies: &[f64]) -> Line {
    let p50 = percentile(latencies, 50.0);
    let p99 = percentile(latencies, 99.0);
    let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2} ms"));
    Line {
        label: "(c) detection latency (seen − at)".into(),
        figure: format!(
            "p50 {}, p99 {} ({} events)",
            ms(p50),
            ms(p99),
            latencies.len()
        ),
        target_text: format!("p99 < {LATENCY_P99_MS} ms"),
        target: Target::Below(1.0),
        ratio: p99.map(|p| p / LATENCY_P99_MS),
    }
}

/// Where the slow events of (c) were: the p99 of each part of the run.
fn latency_by_phase(entries: &[halab_model::Entry], phases: &[(&str, Nanos)]) -> String {
    let parts: Vec<String> = phases
        .iter()
        .enumerate()
        .map(|(i, (name, from))| {
            let to = phases.get(i + 1).map_or(Nanos(i64::MAX), |(_, at)| *at);
            let within = figures::detection_latencies_ms_within(entries, *from, to);
            match percentile(&within, 99.0) {
                Some(p99) => format!("{name} {p99:.2} ms ({})", within.len()),
                None => format!("{name} n/a"),
            }
        })
        .collect();
    format!("(c) p99 by part of the run (events): {}", parts.join(", "))
}

/// The limits of (d).
const CPU_PERCENT: f64 = 5.0;
const RSS_MIB: f64 = 50.0;

fn cost_lines(cost: &Cost, notes: &mut Vec<String>) -> Vec<Line> {
    let command = format!("`halab {}`", cost.args.join(" "));
    // 0 pass, 1 a check failed, 3 undecided: each a run that did its work. Anything else (2 bad
    // input, a signal) means it did not run, and its cost says nothing.
    let ran = matches!(cost.status, Some(0 | 1 | 3));
    if !ran {
        notes.push(format!(
            "{command} did not run (exit status {}, after {:.1} s), so (d) is not measured; its \
             last output:\n    {}",
            cost.status
                .map_or("none: killed by a signal".to_owned(), |s| s.to_string()),
            cost.wall.as_secs_f64(),
            cost.log_tail.replace('\n', "\n    ")
        ));
    }
    if !cost.children_cpu.is_zero() {
        notes.push(format!(
            "{command}'s children (a dockerd it started and reaped, say) used {:.2} s of CPU, \
             not counted as its cost",
            cost.children_cpu.as_secs_f64()
        ));
    }
    let cpu = cost.cpu_percent().filter(|_| ran);
    let rss = cost.peak_rss_mib().filter(|_| ran);
    vec![
        Line {
            label: "(d) CPU of the chaos command".into(),
            figure: format!(
                "{} of one core ({:.2} s CPU over {:.1} s)",
                cpu.map_or("n/a".to_owned(), |c| format!("{c:.2} %")),
                cost.own_cpu.as_secs_f64(),
                cost.wall.as_secs_f64()
            ),
            target_text: format!("< {CPU_PERCENT} % of a core"),
            target: Target::Below(1.0),
            ratio: cpu.map(|c| c / CPU_PERCENT),
        },
        Line {
            label: "(d) peak RSS of the chaos command".into(),
            figure: format!(
                "{} (VmHWM)",
                rss.map_or("n/a".to_owned(), |r| format!("{r:.1} MiB"))
            ),
            target_text: format!("< {RSS_MIB} MiB"),
            target: Target::Below(1.0),
            ratio: rss.map(|r| r / RSS_MIB),
        },
    ]
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP: each ends the benchmark with everything removed.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("could not install the SIGTERM and SIGHUP handlers");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}
