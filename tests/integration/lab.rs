//! `halab lab …` and `halab gc` against real lab daemons.

use crate::support::*;

fn docker_on(host: &str, args: &[&str]) -> Outcome {
    run({
        let mut cmd = std::process::Command::new("docker");
        cmd.arg("-H").arg(host).args(args);
        cmd
    })
}

/// up → a restart-always container → restart --crash → the container is back → down leaves
/// nothing.
#[test]
fn a_lab_survives_a_crash_and_goes_away_without_a_trace() {
    require_root();
    let state = StateDir::new();
    let name = format!("t{}", std::process::id());

    let up = run(halab(&state, &["lab", "up", &name]));
    assert_eq!(up.code, 0, "{up}");
    let host = up
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("export DOCKER_HOST="))
        .unwrap_or_else(|| panic!("no DOCKER_HOST in {up}"))
        .to_owned();
    let tag = run(halab(&state, &["image", "build", "--lab", &name]));
    assert_eq!(tag.code, 0, "{tag}");
    let tag = tag.stdout.trim().to_owned();

    let started = docker_on(
        &host,
        &[
            "run",
            "-d",
            "--name",
            "svc",
            "--restart=always",
            &tag,
            "sleep",
            "1000",
        ],
    );
    assert_eq!(started.code, 0, "{started}");

    let crashed = run(halab(&state, &["lab", "restart", &name, "--crash"]));
    assert_eq!(crashed.code, 0, "{crashed}");
    assert!(crashed.stdout.contains("killed (SIGKILL)"), "{crashed}");
    let status = run(halab(&state, &["lab", "status", &name]));
    assert!(status.stdout.contains("running"), "{status}");
    let state_of = docker_on(&host, &["inspect", "-f", "{{.State.Status}}", "svc"]);
    assert_eq!(state_of.stdout.trim(), "running", "{state_of}");

    let down = run(halab(&state, &["lab", "down", &name]));
    assert_eq!(down.code, 0, "{down}");
    assert!(!netns_exists(&name));
    assert!(state.labs().is_empty());
    assert!(processes_mentioning(&state.0.display().to_string()).is_empty());
}

/// A run whose halab process is killed outright (no clean-up) leaves its lab and work dir;
/// `halab gc --run ID` removes them.
#[test]
fn gc_removes_what_a_killed_run_left() {
    require_root();
    let state = StateDir::new();
    let (mut child, _stderr) = spawn_until_service_started(
        &state,
        &["scenario", "run", "restart-always", "--set", "sleep=1"],
    );
    child.kill().unwrap(); // SIGKILL: no teardown
    child.wait().unwrap();

    let labs = state.labs();
    assert_eq!(labs.len(), 1, "the killed run's lab is left: {labs:?}");
    let run_id = &labs[0];
    assert!(std::path::Path::new(&format!("/tmp/halab-{run_id}")).exists());

    let gc = run(halab(&state, &["gc", "--run", run_id]));
    assert_eq!(gc.code, 0, "{gc}");
    assert!(gc.stdout.contains("removed 1 lab(s)"), "{gc}");
    assert!(state.labs().is_empty());
    assert!(!netns_exists(run_id));
    assert!(!std::path::Path::new(&format!("/tmp/halab-{run_id}")).exists());
    assert!(processes_mentioning(&state.0.display().to_string()).is_empty());
}

#[test]
fn lab_commands_refuse_bad_names_and_unknown_labs() {
    let state = StateDir::new();
    let bad = run(halab(&state, &["lab", "up", "Bad_Name"]));
    assert_eq!(bad.code, 2, "{bad}");
    let unknown = run(halab(&state, &["lab", "down", "nosuchlab"]));
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("nosuchlab"), "{unknown}");
}
