//! Running the `halab` binary and looking for what it may have left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository's scenarios.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// A short, unique state directory (unix socket paths are limited to 108 bytes).
pub struct StateDir(pub PathBuf);

impl StateDir {
    pub fn new() -> StateDir {
        let dir = PathBuf::from(format!("/tmp/hl-{:08x}", rand_u32()));
        std::fs::create_dir_all(&dir).expect("creating a state dir");
        StateDir(dir)
    }

    /// Labs still registered under this state dir.
    pub fn labs(&self) -> Vec<String> {
        std::fs::read_dir(self.0.join("labs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        // A failed test may leave a lab running: take its labs down before removing the
        // directory that names them, or their daemons would be orphaned.
        if !self.labs().is_empty() {
            let _ = Command::new(env!("CARGO_BIN_EXE_halab"))
                .args(["lab", "down", "--all"])
                .env("HALAB_STATE_DIR", &self.0)
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

/// `halab ARGS` with its own state dir and the repository's scenarios.
pub fn halab(state: &StateDir, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_halab"));
    cmd.args(args)
        .env("HALAB_STATE_DIR", &state.0)
        .env("HALAB_SCENARIOS", scenarios_dir())
        .env_remove("DOCKER_HOST")
        .env_remove("HALAB_LOG");
    cmd
}

/// What a finished `halab` said.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Outcome {
    fn from(o: Output) -> Outcome {
        Outcome {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn run(mut cmd: Command) -> Outcome {
    cmd.output().expect("running halab").into()
}

/// Where the machine's own daemon listens.
pub const MACHINE_DAEMON: &str = "unix:///var/run/docker.sock";

/// The flags that put a run on the machine's daemon, which halab never stops.
pub const ON_MACHINE_DAEMON: [&str; 3] = ["--skip-daemon-phases", "--docker-host", MACHINE_DAEMON];

/// The seed, `--set sleep=1 --json`, on the machine's daemon without its daemon phases.
pub fn seed_on_machine_daemon(state: &StateDir) -> Outcome {
    let args = [
        &[
            "scenario",
            "run",
            "restart-always",
            "--set",
            "sleep=1",
            "--json",
        ][..],
        &ON_MACHINE_DAEMON,
    ]
    .concat();
    run(halab(state, &args))
}

/// A `halab` running in the background, its stderr read line by line as a terminal would
/// (or its output would have nowhere to go), its stdout kept for the end.
pub struct Live {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stderr line seen so far.
    pub seen: Vec<String>,
    stdout: std::thread::JoinHandle<String>,
}

impl Live {
    /// Starts `cmd` (from [`halab`]) in the background.
    pub fn spawn(mut cmd: Command) -> Live {
        use std::io::{BufRead, Read};
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawning halab");
        let stderr = child.stderr.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        Live {
            child,
            lines,
            seen: Vec::new(),
            stdout,
        }
    }

    /// Waits for a stderr line containing `needle`; panics (after killing halab) if it does
    /// not come within `timeout` or halab ends first.
    pub fn wait_for(&mut self, needle: &str, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "no line with {needle:?} within {timeout:?}:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Waits for halab to end (at most `timeout`, then it is killed and the test fails).
    pub fn finish(mut self, timeout: std::time::Duration) -> Outcome {
        let deadline = std::time::Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for halab") {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "halab did not end within {timeout:?}:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        self.seen.extend(self.lines.iter());
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.seen.join("\n"),
        }
    }
}

/// Starts `halab ARGS` in the background and returns once its service has started.
pub fn spawn_until_service_started(state: &StateDir, args: &[&str]) -> Live {
    let mut live = Live::spawn(halab(state, args));
    live.wait_for("critical start", std::time::Duration::from_secs(120));
    live
}

/// Sends `signal` (`INT`, `KILL`, …) to `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill -{signal} {pid}");
}

/// The machine's daemon must be there: tests fail, never skip, without it.
pub fn require_machine_daemon() {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "these tests need the machine's Docker daemon (`docker info` failed)"
    );
}

pub fn require_root() {
    assert!(
        nix_is_root(),
        "these tests start lab daemons and need root; run the suite as root (CI does)"
    );
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Containers on the machine's daemon labelled with this run (or any run, for `None`).
pub fn labelled_containers(run_id: Option<&str>) -> Vec<String> {
    let filter = match run_id {
        Some(id) => format!("label=halab.run={id}"),
        None => "label=halab.run".to_owned(),
    };
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &filter])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Network namespaces named halab-<name>.
pub fn netns_exists(name: &str) -> bool {
    Path::new("/var/run/netns")
        .join(format!("halab-{name}"))
        .exists()
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// The check named `name` of `subject` (a service, `daemon` or `run`) in a JSON report.
pub fn check<'a>(report: &'a Value, subject: &str, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["name"] == name && c["subject"] == subject)
        })
        .unwrap_or_else(|| panic!("no check {name} of {subject} in {}", report["checks"]))
}

/// Writes a variant of the seed scenario with its script replaced.
pub fn seed_with_script(dir: &Path, file: &str, script: &str) -> PathBuf {
    let seed = std::fs::read_to_string(scenarios_dir().join("restart-always.toml")).unwrap();
    let original = seed
        .lines()
        .find(|l| l.starts_with("script = "))
        .expect("the seed has a script line");
    let variant = seed.replace(original, &format!("script = {script:?}"));
    assert_ne!(variant, seed);
    let path = dir.join(file);
    std::fs::write(&path, variant).unwrap();
    path
}

/// The names of the scenario files in `dir` (their stems), sorted.
pub fn scenario_stems(dir: &Path) -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    stems.sort();
    stems
}

/// One test per case in each runtime: `mod on_a_lab` (root, a lab daemon) and
/// `mod in_the_simulator`, each test calling `check(CASE, RUNTIME)` of the module it is in.
macro_rules! on_a_lab_and_in_the_simulator {
    ($check:ident; $($test:ident => $case:literal),* $(,)?) => {
        mod on_a_lab {
            $(
                #[test]
                fn $test() {
                    $crate::support::require_root();
                    super::$check($case, "docker");
                }
            )*
        }
        mod in_the_simulator {
            $(
                #[test]
                fn $test() {
                    super::$check($case, "sim");
                }
            )*
        }
    };
}

/// `docker -H HOST ARGS`: the docker CLI on a lab's socket.
pub fn docker_on(host: &str, args: &[&str]) -> Outcome {
    Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .output()
        .expect("these tests need the docker CLI (`docker` is not on PATH)")
        .into()
}

/// `halab lab up NAME` and the lab image built in it: the lab's address and the image's tag.
pub fn lab_with_image(state: &StateDir, name: &str) -> (String, String) {
    let up = run(halab(state, &["lab", "up", name]));
    assert_eq!(up.code, 0, "{up}");
    let host = up
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("export DOCKER_HOST="))
        .unwrap_or_else(|| panic!("no DOCKER_HOST in {up}"))
        .to_owned();
    let tag = run(halab(state, &["image", "build", "--lab", name]));
    assert_eq!(tag.code, 0, "{tag}");
    (host, tag.stdout.trim().to_owned())
}
