//! A container that is not halab's is never touched. On a lab started with `halab lab up`, a
//! container of nobody's (no run's label, the lab image running `sleep`, `--restart=always`) sits
//! beside fault-heavy runs: the chaos suite's container faults (crashes from the host, `docker
//! kill`, stop, restart, pause, `rm -f`) through `--lab` and through `--docker-host` on the
//! lab's socket, then `halab gc` on that daemon (see [`gc_beside`]). Its Id, StartedAt, RestartCount and process
//! stay the same, and the daemon's event stream — followed from before the first run — holds
//! no event of it at all while halab's own containers have many. Then a run with a daemon
//! fault (dockerd killed with SIGKILL: a lab halab owns): the daemon's restore stops and
//! restarts every container, the foreign one too, legitimately — so only its identity is
//! checked, and that it runs again.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::chaos_suite::assert_passed;
use crate::support::*;

const FOREIGN: &str = "not-halabs";

/// What must not change of the foreign container.
#[derive(Debug, PartialEq)]
struct Identity {
    id: String,
    started_at: String,
    restart_count: u64,
    pid: u64,
    status: String,
    labels: Value,
}

fn identity(host: &str) -> Identity {
    let out = docker_on(host, &["inspect", FOREIGN]);
    assert_eq!(out.code, 0, "the foreign container is gone: {out}");
    let inspect: Value = serde_json::from_str(&out.stdout).expect("inspect JSON");
    let c = &inspect[0];
    Identity {
        id: c["Id"].as_str().unwrap().to_owned(),
        started_at: c["State"]["StartedAt"].as_str().unwrap().to_owned(),
        restart_count: c["RestartCount"].as_u64().unwrap(),
        pid: c["State"]["Pid"].as_u64().unwrap(),
        status: c["State"]["Status"].as_str().unwrap().to_owned(),
        labels: c["Config"]["Labels"].clone(),
    }
}

/// `docker events` on the lab from `since`, every container's, collected line by line.
struct Events {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Events {
    fn follow(host: &str, since: u64) -> Events {
        let mut child = Command::new("docker")
            .args(["-H", host, "events", "--filter", "type=container"])
            .args(["--since", &since.to_string(), "--format", "{{json .}}"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker events");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(event);
                }
            }
        });
        Events { child, lines }
    }

    /// Ends the stream (the `docker events` this test started) and returns what it saw.
    fn stop(mut self) -> Vec<Value> {
        // Let the last events of the runs arrive.
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `halab scenario run SCENARIO --json TARGET…`: it passed.
fn run_passes(state: &StateDir, scenario: &str, target: &[&str]) -> Value {
    let args = [&["scenario", "run", scenario, "--json"][..], target].concat();
    let out = run(halab(state, &args));
    let report = out.json();
    assert_passed(scenario, &target.join(" "), &report, &out);
    report
}

/// `halab gc` on the lab's daemon: each run's leftovers by its record (`--run`), then a sweep of
/// every run-labelled container on that daemon. The sweep runs with a state root of its own:
/// under the lab's own root, a plain `halab gc` takes down every lab no live run holds — the
/// `halab lab up` lab too, and every container in it with its daemon.
fn gc_beside(state: &StateDir, host: &str, runs: &[&Value]) {
    for report in runs {
        let run_id = report["run_id"].as_str().expect("a run id");
        let gc = run(halab(
            state,
            &["gc", "--run", run_id, "--docker-host", host],
        ));
        assert_eq!(gc.code, 0, "{gc}");
    }
    let elsewhere = StateDir::new();
    let gc = run(halab(&elsewhere, &["gc", "--docker-host", host]));
    assert_eq!(gc.code, 0, "{gc}");
    assert!(gc.stdout.contains("removed 0 lab(s)"), "{gc}");
}

#[test]
fn a_container_that_is_not_halabs_is_never_touched() {
    require_root();
    let state = StateDir::new();
    let lab = format!("f{:x}", std::process::id());
    let (host, tag) = lab_with_image(&state, &lab);

    // Nobody's container: no label, restart=always, a short stop timeout (so that the daemon
    // fault's restore, which stops it, does not hold up the run's own judgement).
    let created = docker_on(
        &host,
        &[
            "run",
            "-d",
            "--name",
            FOREIGN,
            "--restart=always",
            "--stop-timeout",
            "1",
            &tag,
            "sleep",
            "86400",
        ],
    );
    assert_eq!(created.code, 0, "{created}");
    let before = identity(&host);
    assert_eq!(before.status, "running", "{before:?}");
    // The lab image's own label (`halab.image`) comes with it; no run's label does.
    assert!(
        before
            .labels
            .as_object()
            .is_none_or(|l| !l.contains_key("halab.run")),
        "{before:?}"
    );

    // Container faults only, through --lab and through --docker-host, then gc on that daemon.
    // Followed from a second back (so that nothing is missed while `docker events` connects),
    // counted from now (the container's own create and start came just before).
    let from_ns = now_ns();
    let events = Events::follow(&host, unix_now().saturating_sub(1));
    let started = Instant::now();
    let via_lab = run_passes(&state, "chaos/container-faults", &["--lab", &lab]);
    let via_host = run_passes(&state, "chaos/container-faults", &["--docker-host", &host]);
    gc_beside(&state, &host, &[&via_lab, &via_host]);
    let seen = events.stop();
    println!(
        "two container-fault runs and gc beside the foreign container: {:.1} s, {} container events",
        started.elapsed().as_secs_f64(),
        seen.len()
    );

    let after = identity(&host);
    assert_eq!(
        after, before,
        "the foreign container changed under container faults and gc"
    );
    let theirs: Vec<&Value> = seen
        .iter()
        .filter(|e| e["id"] == before.id.as_str() || e["Actor"]["ID"] == before.id.as_str())
        .filter(|e| {
            e["timeNano"]
                .as_u64()
                .is_none_or(|t| u128::from(t) >= from_ns)
        })
        .collect();
    assert!(
        theirs.is_empty(),
        "the foreign container had events during halab's runs: {theirs:?}"
    );
    // The stream did follow the runs: it saw each run's services come and go.
    for report in [&via_lab, &via_host] {
        let run_id = report["run_id"].as_str().expect("a run id");
        let of_run = seen
            .iter()
            .filter(|e| e["Actor"]["Attributes"]["halab.run"] == run_id)
            .count();
        assert!(
            of_run >= 20,
            "the event stream saw {of_run} events of run {run_id}: it was not following"
        );
    }

    // A daemon fault: the lab's dockerd killed (SIGKILL) and started by the run. The restore
    // stops every container it finds and `always` starts it again: the foreign one is still
    // the same container, and runs.
    let crashed = run_passes(&state, "chaos/daemon-crash", &["--lab", &lab]);
    gc_beside(&state, &host, &[&crashed]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let restored = loop {
        let now = identity(&host);
        if now.status == "running" || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(restored.id, before.id, "{restored:?}");
    assert_eq!(restored.labels, before.labels, "{restored:?}");
    assert_eq!(
        restored.status, "running",
        "restart=always brings it back after the daemon's restore: {restored:?}"
    );
    let names = docker_on(&host, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(
        names.stdout.split_whitespace().collect::<Vec<_>>(),
        [FOREIGN],
        "only the foreign container is left on the lab: {names}"
    );

    // Ours to remove: the container this test made, then the lab.
    let removed = docker_on(&host, &["rm", "-f", FOREIGN]);
    assert_eq!(removed.code, 0, "{removed}");
    let down = run(halab(&state, &["lab", "down", &lab]));
    assert_eq!(down.code, 0, "{down}");
    assert!(state.labs().is_empty());
    assert!(!netns_exists(&lab));
}
