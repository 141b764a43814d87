//! The command-line interface, as clap parses it. The reference page in the book is generated
//! from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// halab: container high availability, taught and proven on a real Docker daemon.
///
/// Exit status: 0 pass, 1 a check failed, 2 bad input or environment (nothing left behind),
/// 130 interrupted (everything removed).
#[derive(Debug, Parser)]
#[command(name = "halab", version, max_term_width = 100)]
pub struct Cli {
    /// Where lab daemons keep their state.
    #[arg(long, global = true, env = "HALAB_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// More logging (-v info, -vv debug); HALAB_LOG takes a tracing filter instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run and list scenarios.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// Build halab's images (no registry is used).
    #[command(subcommand)]
    Image(ImageCommand),
    /// Start, stop and inspect lab daemons: dockerds halab owns and may crash.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Remove everything halab left behind: labelled containers, lab daemons, work directories.
    Gc(GcArgs),
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Run a scenario by name (from the scenarios directory) or by path.
    Run(RunArgs),
    /// List the scenarios in the scenarios directory.
    List(ScenariosDir),
}

#[derive(Debug, Args)]
pub struct ScenariosDir {
    /// The directory scenario names are looked up in [default: ./scenarios, else the one halab was built with].
    #[arg(long, env = "HALAB_SCENARIOS", value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A scenario name (see `halab scenario list`) or a path to a .toml file.
    pub scenario: String,

    /// Override a scenario parameter, e.g. --set sleep=1 (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,

    /// Print the result as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Start the run's lab daemon with --live-restore.
    #[arg(long, conflicts_with_all = ["docker_host", "lab"])]
    pub live_restore: bool,

    /// Leave out the phases that stop or start the daemon (required with --docker-host).
    #[arg(long)]
    pub skip_daemon_phases: bool,

    /// The static busybox the lab image is built from.
    #[arg(long, value_name = "PATH")]
    pub busybox: Option<PathBuf>,

    #[command(flatten)]
    pub dir: ScenariosDir,
}

/// Which daemon to use. Default: a lab daemon started for the run and removed after it.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Use the daemon at this address (unix:///path or tcp://host:port). halab never stops it.
    #[arg(long, value_name = "ADDRESS", conflicts_with = "lab")]
    pub docker_host: Option<String>,

    /// Use a lab started with `halab lab up NAME` (halab may stop and start it).
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the lab image (busybox, FROM scratch) on a daemon, unless it is there already.
    Build {
        #[command(flatten)]
        target: TargetArgs,
        /// The static busybox to build from.
        #[arg(long, value_name = "PATH")]
        busybox: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start a lab daemon in its own network namespace and load the lab image into it.
    Up {
        name: String,
        /// Start dockerd with --live-restore (containers keep running while it is down).
        #[arg(long)]
        live_restore: bool,
        /// The static busybox to build the lab image from.
        #[arg(long, value_name = "PATH")]
        busybox: Option<PathBuf>,
    },
    /// Remove labs: their processes (also after a crash), mounts, namespace and state.
    Down {
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
        /// Every lab under the state directory.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Show labs and whether their daemon runs.
    Status { name: Option<String> },
    /// Stop a lab's daemon (SIGTERM, or SIGKILL with --crash) and start it again.
    Restart {
        name: String,
        /// Kill dockerd with SIGKILL instead of stopping it.
        #[arg(long)]
        crash: bool,
    },
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only what this run left behind.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// The daemon to remove labelled containers from [default: DOCKER_HOST, else the machine's].
    #[arg(long, value_name = "ADDRESS")]
    pub docker_host: Option<String>,
}
