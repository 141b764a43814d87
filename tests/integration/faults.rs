//! The lab daemon killed under a run, from outside (SIGKILL), at four moments: during a watch,
//! just before an API call, while the run starts the daemon, and after the daemon came back.
//! Each time the run notices at once, records the loss in its history (with dockerd's pid),
//! goes on, and ends with a report whose verdict is `unknown` (exit status 3): never an empty
//! result, never a wait through a whole timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// The pid of the live dockerd of the run's lab (the one lab under `state`), once there is one
/// (after a crash the pid file names the dead one until the next dockerd writes it).
fn live_lab_dockerd(state: &StateDir) -> u32 {
    let labs = state.labs();
    assert_eq!(labs.len(), 1, "one lab: {labs:?}");
    let pidfile = state.0.join("labs").join(&labs[0]).join("docker.pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        let is_dockerd = |pid: u32| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("dockerd") && !stat.contains(") Z ")
        };
        if let Some(pid) = pid.filter(|&pid| is_dockerd(pid)) {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no live dockerd in {}",
            pidfile.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the dockerd of the run's lab with SIGKILL, as someone outside halab would; its pid.
fn kill_lab_dockerd(state: &StateDir) -> u32 {
    let pid = live_lab_dockerd(state);
    send_signal(pid, "KILL");
    pid
}

/// The `lost` entries of a report's history: their pids.
fn losses(report: &Value) -> Vec<Option<u64>> {
    report["history"]
        .as_array()
        .expect("a history")
        .iter()
        .filter(|e| e["kind"] == "daemon")
        .filter_map(|e| e["action"].get("lost"))
        .map(|lost| lost["pid"].as_u64())
        .collect()
}

/// The run ended with a report that records the loss of `pid`, an `unknown` verdict, the
/// `daemon-not-lost` check undecided, and exit status 3; and nothing of it is left.
fn assert_loss_reported(out: &Outcome, pid: u32, state: &StateDir) -> Value {
    assert_eq!(out.code, 3, "{out}");
    let report = out.json();
    assert_eq!(report["verdict"], "unknown", "{}", report["checks"]);
    assert_eq!(
        losses(&report),
        [Some(u64::from(pid))],
        "the history records the loss of dockerd {pid}"
    );
    let check = check(&report, "daemon", "daemon-not-lost");
    assert_eq!(check["verdict"], "unknown", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("pid {pid}")),
        "{check}"
    );
    for c in report["checks"].as_array().unwrap() {
        assert_ne!(c["verdict"], "fail", "a loss never fails a check: {c}");
    }
    assert!(state.labs().is_empty(), "labs left: {:?}", state.labs());
    report
}

/// A scenario file written for one test.
fn scenario_file(state: &StateDir, name: &str, text: &str) -> String {
    let path = state.0.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Runs `halab scenario run ARGS --json`, kills the lab's dockerd once stderr has shown each of
/// `markers` in turn,
/// and checks the report the run still gives (see [`assert_loss_reported`]); the run must end
/// within a minute of the kill, however long its phases would have waited.
fn killed_at(state: &StateDir, args: &[&str], markers: &[&str]) -> Value {
    let args = [&["scenario", "run"][..], args, &["--json"]].concat();
    let mut live = Live::spawn(halab(state, &args));
    for marker in markers {
        live.wait_for(marker, Duration::from_secs(180));
    }
    let pid = kill_lab_dockerd(state);
    let killed_at = Instant::now();
    let out = live.finish(Duration::from_secs(120));
    assert!(
        killed_at.elapsed() < Duration::from_secs(60),
        "the run waited out its timeouts: {:?}",
        killed_at.elapsed()
    );
    assert_loss_reported(&out, pid, state)
}

/// The problem a phase of the report records, or "".
fn problem(report: &Value, phase: usize) -> String {
    report["phases"][phase]["problem"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The seed with `sleep=1`, watching for many restarts: killed during the watch, the run must
/// not wait out the phase's 300 s. The daemon-down phase finds nothing to stop (a problem, not
/// an error); the daemon-up phase starts the lab again and the service comes back.
#[test]
fn killed_during_a_watch() {
    require_root();
    let state = StateDir::new();
    let args = [
        "restart-always",
        "--set",
        "sleep=1",
        "--set",
        "restarts=200",
    ];
    let report = killed_at(&state, &args, &["critical start"]);
    assert!(problem(&report, 0).contains("lost"), "{}", report["phases"]);
    assert!(
        problem(&report, 1).contains("daemon-stop"),
        "{}",
        report["phases"]
    );
    assert_eq!(
        problem(&report, 2),
        "",
        "the daemon-up phase started the lab and saw the service again: {}",
        report["phases"]
    );
}

/// Killed just before the run's `docker kill`: the call fails, the phase says why, and the
/// report still comes.
#[test]
fn killed_before_an_api_call() {
    require_root();
    let state = StateDir::new();
    let seed = std::fs::read_to_string(scenarios_dir().join("kill-vs-crash.toml")).unwrap();
    let head = &seed[..seed.find("[[phases]]").unwrap()];
    let text = format!(
        "{head}[[phases]]\nname = \"running\"\ndo = [{{ op = \"wait\", for = 4 }}]\n\n\
         [[phases]]\nname = \"docker-kill\"\ndo = [\"docker-kill\", {{ op = \"wait\", for = 1 }}]\n"
    );
    let file = scenario_file(&state, "api.toml", &text);
    let report = killed_at(&state, &[&file], &["phase 1/2: running"]);
    let problem = problem(&report, 1);
    assert!(
        problem.contains("docker kill") || problem.contains("lost"),
        "{}",
        report["phases"]
    );
}

/// Killed while the run itself starts the daemon again (its restore under way): the start
/// fails, and the dockerd that died before answering is recorded as lost.
#[test]
fn killed_while_the_run_starts_the_daemon() {
    require_root();
    let state = StateDir::new();
    let report = killed_at(&state, &["daemon-crash"], &["phase 3/3: daemon-back"]);
    assert!(
        problem(&report, 2).contains("daemon-start"),
        "{}",
        report["phases"]
    );
}

/// Killed after the run's own daemon start brought the daemon back: the last phase's wait ends
/// at once, the final stop is not attempted, and `RestartCount` is unknown — but the report
/// says what happened. (The daemon-up phase waits for two starts, 5 s apart: the kill comes
/// between them.)
#[test]
fn killed_after_the_daemon_came_back() {
    require_root();
    let state = StateDir::new();
    let args = [
        "restart-always",
        "--set",
        "sleep=5",
        "--set",
        "restarts=1",
        "--set",
        "down=1",
    ];
    let report = killed_at(
        &state,
        &args,
        &["phase 3/3: daemon-up", "daemon: answering"],
    );
    assert_eq!(report["services"]["critical"]["restart_count"], Value::Null);
    assert!(problem(&report, 2).contains("lost"), "{}", report["phases"]);
    let run_dir = format!("/tmp/halab-{}", report["run_id"].as_str().unwrap());
    assert!(!Path::new(&run_dir).exists());
}
