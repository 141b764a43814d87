//! `halab lab …` and `halab gc` against real lab daemons.

use crate::support::*;

/// up → a restart-always container → restart --crash → the container is back → down leaves
/// nothing.
#[test]
fn a_lab_survives_a_crash_and_goes_away_without_a_trace() {
    require_root();
    let state = StateDir::new();
    let name = format!("t{}", std::process::id());

    let (host, tag) = lab_with_image(&state, &name);

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
    let mut live = spawn_until_service_started(
        &state,
        &["scenario", "run", "restart-always", "--set", "sleep=1"],
    );
    live.child.kill().unwrap(); // SIGKILL: no teardown
    live.child.wait().unwrap();

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
}

/// `lab down` is idempotent, like `rm -f`: a lab that is not there (any more) is down already.
#[test]
fn lab_down_twice_is_not_an_error() {
    require_root();
    let state = StateDir::new();
    let name = format!("d{}", std::process::id());
    let up = run(halab(&state, &["lab", "up", &name]));
    assert_eq!(up.code, 0, "{up}");
    let first = run(halab(&state, &["lab", "down", &name]));
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stdout.contains("removed"), "{first}");
    let second = run(halab(&state, &["lab", "down", &name]));
    assert_eq!(second.code, 0, "{second}");
    assert!(second.stdout.contains("nothing to remove"), "{second}");
    assert!(!netns_exists(&name));
    let unknown = run(halab(&state, &["lab", "down", "nosuchlab"]));
    assert_eq!(unknown.code, 0, "{unknown}");
    assert!(unknown.stdout.contains("nosuchlab: nothing"), "{unknown}");
}

/// `gc` goes by the records runs keep, never by names: a user's directories that merely look
/// like halab's are left alone, and so is a live run (listed), until `--force`; the forced
/// run notices at once that its lab is gone and ends undecided rather than waiting.
#[test]
fn gc_spares_look_alikes_and_live_runs() {
    require_root();
    let state = StateDir::new();
    let tmp = state.0.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    for (dir, file) in [
        ("halab-notes", "important.txt"),
        ("halab-lab-backups", "db.sql"),
        ("halab-20260101-000000-abcd", "not-a-run.txt"),
    ] {
        std::fs::create_dir_all(tmp.join(dir)).unwrap();
        std::fs::write(tmp.join(dir).join(file), "keep me\n").unwrap();
    }
    let in_tmp = |args: &[&str]| {
        let mut cmd = halab(&state, args);
        cmd.env("TMPDIR", &tmp);
        cmd
    };
    let mut live = Live::spawn(in_tmp(&[
        "scenario",
        "run",
        "restart-always",
        "--set",
        "sleep=1",
        "--set",
        "restarts=100",
        "--json",
    ]));
    live.wait_for("critical start", std::time::Duration::from_secs(120));
    let run_id = state.labs().pop().expect("the run's lab");
    // The run's own daemon, so that gc touches no other test's containers.
    let host = format!("unix://{}/labs/{run_id}/docker.sock", state.0.display());

    let gc = run(in_tmp(&["gc", "--docker-host", &host]));
    assert_eq!(gc.code, 0, "{gc}");
    assert!(
        gc.stdout
            .contains(&format!("left alone: run {run_id} is live")),
        "{gc}"
    );
    assert!(gc.stdout.contains("removed 0 lab(s)"), "{gc}");
    assert_eq!(
        state.labs(),
        std::slice::from_ref(&run_id),
        "the live run's lab is there"
    );
    assert!(tmp.join(format!("halab-{run_id}/run.json")).exists());

    let forced = run(in_tmp(&["gc", "--force", "--docker-host", &host]));
    assert_eq!(forced.code, 0, "{forced}");
    assert!(forced.stdout.contains("removed 1 lab(s)"), "{forced}");
    let out = live.finish(std::time::Duration::from_secs(90));
    assert_eq!(out.code, 3, "the run says its daemon was lost: {out}");
    assert_eq!(out.json()["verdict"], "unknown");

    for (dir, file) in [
        ("halab-notes", "important.txt"),
        ("halab-lab-backups", "db.sql"),
        ("halab-20260101-000000-abcd", "not-a-run.txt"),
    ] {
        assert_eq!(
            std::fs::read_to_string(tmp.join(dir).join(file)).unwrap(),
            "keep me\n",
            "{dir}/{file}"
        );
    }
    assert!(state.labs().is_empty());
    assert!(!netns_exists(&run_id));
    assert!(!tmp.join(format!("halab-{run_id}")).exists());
}
