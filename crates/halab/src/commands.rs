//! What each command does: resolve its input, call the library, print.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use halab_chaos::{RunOptions, RuntimeChoice, Target, Verdict, scenario};
use halab_docker::connect::resolve_host;
use halab_docker::image::LabImage;
use halab_docker::{containers, labels};
use halab_lab::{Lab, LabOptions, StopMode};

use crate::cli::{
    Cli, Command, GcArgs, ImageCommand, LabCommand, ModelCommand, RunArgs, RuntimeArg,
    ScenarioCommand, ScenariosDir, TargetArgs,
};
use crate::exit;

pub async fn dispatch(cli: Cli) -> Result<u8> {
    let state_root = cli
        .state_dir
        .clone()
        .unwrap_or_else(halab_lab::default_state_root);
    match cli.command {
        Command::Scenario(ScenarioCommand::Run(args)) => run_scenario(args, state_root).await,
        Command::Scenario(ScenarioCommand::List(dir)) => list_scenarios(&dir),
        Command::Image(ImageCommand::Build { target, busybox }) => {
            build_image(&target, busybox.as_deref(), &state_root).await
        }
        Command::Lab(lab) => lab_command(lab, &state_root).await,
        Command::Gc(args) => gc(&args, &state_root).await,
        Command::Model(ModelCommand::Table { engine }) => {
            print!("{}", halab_model::transition_table(engine.into()));
            Ok(exit::PASS)
        }
    }
}

/// The scenarios directory: as given, else ./scenarios, else the repository halab was built from.
fn scenarios_dir(dir: &ScenariosDir) -> PathBuf {
    if let Some(dir) = &dir.scenarios {
        return dir.clone();
    }
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

async fn run_scenario(args: RunArgs, state_root: PathBuf) -> Result<u8> {
    let dir = scenarios_dir(&args.dir);
    let path = scenario::locate(&args.scenario, &dir)?;
    let sets = scenario::parse_sets(&args.sets)?;
    let scenario = scenario::load(&path, &sets)?;
    let runtime = match (args.runtime, &args.target.docker_host, &args.target.lab) {
        (RuntimeArg::Sim, None, None) => RuntimeChoice::Sim {
            seed: args.seed,
            live_restore: args.live_restore,
        },
        (RuntimeArg::Sim, _, _) => {
            bail!("--runtime sim simulates its own daemon: it takes no --docker-host or --lab")
        }
        (RuntimeArg::Docker, Some(host), _) => RuntimeChoice::Docker(Target::Host {
            docker_host: host.clone(),
        }),
        (RuntimeArg::Docker, None, Some(name)) => {
            RuntimeChoice::Docker(Target::Lab { name: name.clone() })
        }
        (RuntimeArg::Docker, None, None) => RuntimeChoice::Docker(Target::NewLab {
            live_restore: args.live_restore,
        }),
    };
    let options = RunOptions {
        runtime,
        skip_daemon_phases: args.skip_daemon_phases,
        busybox: args.busybox.clone(),
        state_root,
    };
    let mut view = halab_chaos::view::for_stderr();
    let report = halab_chaos::run(&scenario, &options, view.as_mut()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary());
    }
    Ok(if report.verdict == Verdict::Fail {
        exit::FAIL
    } else {
        exit::PASS
    })
}

fn list_scenarios(dir: &ScenariosDir) -> Result<u8> {
    let dir = scenarios_dir(dir);
    let found = scenario::list(&dir);
    if found.is_empty() {
        bail!("no scenarios (*.toml) in {}", dir.display());
    }
    for (name, path) in found {
        match scenario::load(&path, &[]) {
            Ok(s) => println!("{name:<24} {}", s.summary),
            Err(e) => println!("{name:<24} (invalid: {e})"),
        }
    }
    Ok(exit::PASS)
}

/// The daemon address for a command that takes --docker-host / --lab.
fn target_host(target: &TargetArgs, state_root: &Path) -> Result<String> {
    Ok(match (&target.docker_host, &target.lab) {
        (Some(host), _) => host.clone(),
        (None, Some(name)) => Lab::open(state_root, name)?.docker_host(),
        (None, None) => resolve_host(None),
    })
}

async fn build_image(target: &TargetArgs, busybox: Option<&Path>, state_root: &Path) -> Result<u8> {
    let image = LabImage::from_busybox(busybox)?;
    let host = target_host(target, state_root)?;
    let (docker, _) = halab_docker::connect(&host).await?;
    let tag = image.ensure(&docker).await?;
    println!("{tag}");
    Ok(exit::PASS)
}

async fn lab_command(command: LabCommand, state_root: &Path) -> Result<u8> {
    match command {
        LabCommand::Up {
            name,
            live_restore,
            busybox,
        } => {
            let image = LabImage::from_busybox(busybox.as_deref())?;
            let lab = Lab::up(
                state_root,
                &name,
                &LabOptions {
                    live_restore,
                    labels: vec![],
                },
            )
            .await?;
            let loaded = async {
                let (docker, info) = halab_docker::connect(&lab.docker_host()).await?;
                let tag = image.ensure(&docker).await?.to_owned();
                anyhow::Ok((info, tag))
            }
            .await;
            match loaded {
                Ok((info, tag)) => {
                    println!(
                        "lab {name} is up: engine {}, image {tag}",
                        info.engine_version
                    );
                    println!("  export DOCKER_HOST={}", lab.docker_host());
                    Ok(exit::PASS)
                }
                Err(e) => {
                    // Leave nothing half-made behind.
                    let _ = lab.down().await;
                    Err(e.context(format!(
                        "lab {name} started but the lab image could not be loaded; removed it"
                    )))
                }
            }
        }
        LabCommand::Down { names, all } => {
            let names = if all {
                Lab::list(state_root)?.into_iter().map(|s| s.name).collect()
            } else {
                names
            };
            for name in names {
                Lab::open(state_root, &name)?.down().await?;
                println!("lab {name} removed");
            }
            Ok(exit::PASS)
        }
        LabCommand::Status { name } => {
            let labs = Lab::list(state_root)?;
            let labs: Vec<_> = labs
                .into_iter()
                .filter(|l| name.as_ref().is_none_or(|n| *n == l.name))
                .collect();
            if let (Some(name), true) = (&name, labs.is_empty()) {
                Lab::open(state_root, name)?; // says which labs exist
            }
            if labs.is_empty() {
                println!("no labs under {}", state_root.display());
            }
            for lab in labs {
                let state = match lab.pid {
                    Some(pid) if lab.running => format!("running (dockerd pid {pid})"),
                    _ => "down".to_owned(),
                };
                let restore = if lab.live_restore {
                    ", live-restore"
                } else {
                    ""
                };
                println!("{:<24} {state}{restore}  {}", lab.name, lab.docker_host);
            }
            Ok(exit::PASS)
        }
        LabCommand::Restart { name, crash } => {
            let lab = Lab::open(state_root, &name)?;
            let started = std::time::Instant::now();
            lab.restart(if crash {
                StopMode::Crash
            } else {
                StopMode::Graceful
            })
            .await?;
            let how = if crash {
                "killed (SIGKILL)"
            } else {
                "stopped (SIGTERM)"
            };
            println!(
                "lab {name}: dockerd {how} and started again in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(exit::PASS)
        }
    }
}

async fn gc(args: &GcArgs, state_root: &Path) -> Result<u8> {
    let mut failures = Vec::new();
    let host = resolve_host(args.docker_host.as_deref());
    let filter = match &args.run {
        Some(run) => labels::run_filter(run),
        None => labels::RUN.to_owned(),
    };
    match halab_docker::connect(&host).await {
        Ok((docker, _)) => {
            let removed = containers::remove_labelled(&docker, &filter).await?;
            println!(
                "removed {} container(s) labelled {filter} on {host}",
                removed.len()
            );
        }
        Err(e) => failures.push(format!("containers: {e}")),
    }
    let labs = match &args.run {
        Some(run) => match Lab::open(state_root, run) {
            Ok(lab) => lab.down().await.map(|()| vec![run.clone()]),
            Err(_) => Ok(vec![]),
        },
        None => halab_lab::gc(state_root).await,
    };
    match labs {
        Ok(labs) => println!("removed {} lab(s){}", labs.len(), list_suffix(&labs)),
        Err(e) => failures.push(format!("labs: {e}")),
    }
    let prefix = match &args.run {
        Some(run) => format!("halab-{run}"),
        None => "halab-".to_owned(),
    };
    let mut dirs = 0;
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let leftover = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
            && entry.path().is_dir();
        if leftover {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
            dirs += 1;
        }
    }
    println!("removed {dirs} work director(ies)");
    if failures.is_empty() {
        Ok(exit::PASS)
    } else {
        bail!("gc did not finish:\n  {}", failures.join("\n  "))
    }
}

fn list_suffix(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    }
}
