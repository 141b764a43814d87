//! Bad input: each gives one clear error, exit status 2, and leaves nothing behind.

use crate::support::*;

fn assert_refused(out: &Outcome, needles: &[&str]) {
    assert_eq!(out.code, 2, "{out}");
    for needle in needles {
        assert!(
            out.stderr.contains(needle),
            "stderr should mention {needle:?}:\n{out}"
        );
    }
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout for an error:\n{out}"
    );
}

#[test]
fn an_unknown_scenario_lists_the_known_ones() {
    let state = StateDir::new();
    let out = run(halab(&state, &["scenario", "run", "restart-alwys"]));
    assert_refused(
        &out,
        &["no scenario named `restart-alwys`", "restart-always"],
    );
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let state = StateDir::new();
    let path = state.0.join("broken.toml");
    std::fs::write(&path, "name = \"broken\"\n[service\nrestart = \"always\"\n").unwrap();
    let out = run(halab(&state, &["scenario", "run", path.to_str().unwrap()]));
    assert_refused(&out, &[&format!("{}:2:", path.display())]);
}

#[test]
fn a_bad_field_value_names_the_field() {
    let state = StateDir::new();
    let path = seed_with_script(&state.0, "policy.toml", "sleep 1");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("restart = \"always\"", "restart = \"alwayz\"");
    std::fs::write(&path, text).unwrap();
    let out = run(halab(&state, &["scenario", "run", path.to_str().unwrap()]));
    assert_refused(
        &out,
        &[
            "policy.toml:",
            "field `service.restart`",
            "`alwayz` is not a restart policy",
        ],
    );
}

#[test]
fn an_unknown_set_key_lists_the_parameters() {
    let state = StateDir::new();
    let out = run(halab(
        &state,
        &["scenario", "run", "restart-always", "--set", "slep=1"],
    ));
    assert_refused(&out, &["no parameter `slep`", "sleep", "restarts"]);
    let out = run(halab(
        &state,
        &["scenario", "run", "restart-always", "--set", "sleep=soon"],
    ));
    assert_refused(&out, &["parameter `sleep` takes a whole number"]);
}

#[test]
fn an_unreachable_daemon_says_where_it_looked() {
    let state = StateDir::new();
    let out = run(halab(
        &state,
        &[
            "scenario",
            "run",
            "restart-always",
            "--skip-daemon-phases",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
        ],
    ));
    assert_refused(
        &out,
        &[
            "cannot reach a Docker daemon at unix:///nonexistent/docker.sock",
            "--docker-host",
        ],
    );
}

#[test]
fn a_lab_without_root_is_refused_before_anything_is_made() {
    let state = StateDir::new();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        env!("CARGO_BIN_EXE_halab"),
    ])
    .args(["scenario", "run", "restart-always"])
    .env("HALAB_STATE_DIR", &state.0)
    .env("HALAB_SCENARIOS", scenarios_dir());
    let out = run(cmd);
    assert_refused(&out, &["need root"]);
    assert!(state.labs().is_empty());
}

#[test]
fn a_missing_busybox_names_the_package() {
    require_machine_daemon();
    let state = StateDir::new();
    let args = [
        &[
            "scenario",
            "run",
            "restart-always",
            "--busybox",
            "/nonexistent/busybox",
        ][..],
        &ON_MACHINE_DAEMON,
    ]
    .concat();
    let out = run(halab(&state, &args));
    assert_refused(
        &out,
        &["/nonexistent/busybox", "apt-get install busybox-static"],
    );
}
