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
        &[
            "no scenario named `restart-alwys`",
            "(did you mean `restart-always`?)",
            "kill-vs-crash",
        ],
    );
    let out = run(halab(&state, &["scenario", "run", "differential/apu"]));
    assert_refused(&out, &["(did you mean `differential/api`?)"]);
    let out = run(halab(&state, &["scenario", "run", "nothing-like-it"]));
    assert_refused(&out, &["no scenario named `nothing-like-it`"]);
    assert!(!out.stderr.contains("did you mean"), "{out}");
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
            "field `services.critical.restart`",
            "`alwayz` is not a restart policy",
        ],
    );
}

/// A file in halab's first format (one `[service]`, phases doing `"watch"`) is told what
/// changed, at the line of its old table, before anything runs.
#[test]
fn a_file_in_the_old_format_is_told_what_changed() {
    let state = StateDir::new();
    let path = state.0.join("old.toml");
    std::fs::write(
        &path,
        "name = \"old\"\nsummary = \"the first format\"\n\n[service]\nrestart = \"always\"\nscript = \"sleep 1\"\n\n[[phases]]\nname = \"watch\"\ndo = \"watch\"\nhold = 3\n",
    )
    .unwrap();
    let out = run(halab(&state, &["scenario", "run", path.to_str().unwrap()]));
    assert_refused(
        &out,
        &[
            &format!("{}:4:1:", path.display()),
            "first scenario format",
            "[services.NAME]",
            "Scenario files",
        ],
    );
    assert!(state.labs().is_empty());
}

/// Two phases with one name: refused at the second, with its line and column.
#[test]
fn a_duplicate_phase_name_is_refused_where_it_is() {
    let state = StateDir::new();
    let seed = std::fs::read_to_string(scenarios_dir().join("restart-always.toml")).unwrap();
    let text = seed.replace("name = \"daemon-up\"", "name = \"daemon-down\"");
    assert_ne!(text, seed);
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("name = \"daemon-down\""))
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap();
    let path = state.0.join("twice.toml");
    std::fs::write(&path, text).unwrap();
    let out = run(halab(&state, &["scenario", "run", path.to_str().unwrap()]));
    assert_refused(
        &out,
        &[&format!("{}:{line}:", path.display()), "daemon-down"],
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

#[test]
fn a_value_out_of_range_from_a_flag_names_the_flag() {
    let state = StateDir::new();
    let out = run(halab(
        &state,
        &[
            "scenario",
            "run",
            "restart-always",
            "--set",
            "sleep=8000000000",
        ],
    ));
    assert_refused(
        &out,
        &[
            "restart-always.toml:",
            "field `services.critical.program.runs[0].after`",
            "given as --set sleep=8000000000",
        ],
    );
    assert!(state.labs().is_empty());
}

/// A control character a file or a flag brings in is shown escaped, never obeyed: an OSC
/// sequence would set the terminal's title, a CSI one clear the screen.
#[test]
fn escape_sequences_in_input_never_reach_the_terminal() {
    let state = StateDir::new();
    let osc = "\u{1b}]0;owned\u{7}";
    let out = run(halab(
        &state,
        &[
            "scenario",
            "run",
            "restart-always",
            "--set",
            &format!("sleep={osc}"),
        ],
    ));
    assert_eq!(out.code, 2, "{out}");
    assert!(!out.stderr.contains('\u{1b}'), "{out:?}", out = out.stderr);
    assert!(out.stderr.contains("\\u{1b}]0;owned"), "{}", out.stderr);
    let path = state.0.join("title.toml");
    std::fs::write(&path, "name = \"x\u{1b}[2J\"\n").unwrap();
    let out = run(halab(&state, &["scenario", "run", path.to_str().unwrap()]));
    assert_eq!(out.code, 2, "{out}");
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
}

#[test]
fn a_fifo_or_a_device_is_not_read_as_a_scenario() {
    let state = StateDir::new();
    let fifo = state.0.join("pipe.toml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for path in [fifo.to_str().unwrap(), "/dev/zero"] {
        let began = std::time::Instant::now();
        let out = run(halab(&state, &["scenario", "run", path]));
        assert_refused(&out, &[path, "not a regular file"]);
        assert!(
            began.elapsed() < std::time::Duration::from_secs(10),
            "{path} hung"
        );
    }
}

/// A scenario asking the simulator for endless restarts over years of virtual time stops at
/// the simulator's bound, says so, and exits 2 — in seconds, with bounded memory.
#[test]
fn the_simulator_bounds_its_work() {
    let state = StateDir::new();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fuzz/corpus/sim-budget.toml");
    let began = std::time::Instant::now();
    let out = run(halab(
        &state,
        &[
            "scenario",
            "run",
            corpus.to_str().unwrap(),
            "--runtime",
            "sim",
        ],
    ));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("asks the simulator for more"), "{out}");
    assert!(began.elapsed() < std::time::Duration::from_secs(60));
}

/// Over a socket it may not open, the error says what was tried and why.
#[test]
fn a_socket_this_user_may_not_open_says_so() {
    require_machine_daemon();
    let state = StateDir::new();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        env!("CARGO_BIN_EXE_halab"),
    ])
    .args(["scenario", "run", "restart-always"])
    .args(ON_MACHINE_DAEMON)
    .env("HALAB_STATE_DIR", &state.0)
    .env("HALAB_SCENARIOS", scenarios_dir());
    let out = run(cmd);
    assert_refused(
        &out,
        &[
            "permission denied opening the socket /var/run/docker.sock",
            "as uid 65534",
        ],
    );
}
