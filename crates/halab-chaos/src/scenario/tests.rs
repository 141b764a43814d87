//! The format's parsing and resolution, on the seed and on variants of it.

use super::*;

const SEED: &str = include_str!("../../../../scenarios/restart-always.toml");

fn parse_seed(sets: &[(&str, &str)]) -> Result<Scenario, ScenarioError> {
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(Path::new("seed.toml"), SEED, &sets)
}

#[test]
fn the_seed_is_the_2015_experiment() {
    let s = parse_seed(&[]).unwrap();
    assert_eq!(s.service.restart, RestartPolicy::Always);
    assert_eq!(
        s.service.script,
        "echo $(($(cat /tmp/executou) + 1)) > /tmp/executou; sleep 10"
    );
    assert_eq!(
        (
            s.service.counter_dir.as_str(),
            s.service.counter_file.as_str()
        ),
        ("/tmp", "executou")
    );
    assert_eq!(s.service.counter_initial, 0);
    let actions: Vec<PhaseAction> = s.phases.iter().map(|p| p.action).collect();
    assert_eq!(
        actions,
        [
            PhaseAction::Watch,
            PhaseAction::DaemonStop,
            PhaseAction::DaemonStart
        ]
    );
    assert_eq!(s.checks.min_restarts, Some(("natural-restarts".into(), 3)));
}

#[test]
fn sets_reach_every_templated_value() {
    let s = parse_seed(&[("sleep", "1"), ("restarts", "5"), ("down", "2")]).unwrap();
    assert!(s.service.script.ends_with("sleep 1"));
    assert_eq!(s.phases[0].until_starts, Some(5));
    assert_eq!(s.phases[1].hold_secs, 2.0);
    assert_eq!(s.checks.min_restarts, Some(("natural-restarts".into(), 5)));
}

fn error_of(source: &str) -> String {
    parse(Path::new("x.toml"), source, &[])
        .unwrap_err()
        .to_string()
}

#[test]
fn a_bad_policy_names_file_line_column_and_field() {
    let bad = SEED.replace("restart = \"always\"", "restart = \"alwayz\"");
    let line = bad.lines().position(|l| l.contains("alwayz")).unwrap() + 1;
    let err = error_of(&bad);
    assert!(err.starts_with(&format!("x.toml:{line}:")), "{err}");
    assert!(err.contains("field `service.restart`"), "{err}");
    assert!(err.contains("`alwayz` is not a restart policy"), "{err}");
}

#[test]
fn an_unknown_field_is_located() {
    let bad = SEED.replace("[service]\n", "[service]\nrestrat = \"no\"\n");
    let line = bad.lines().position(|l| l.starts_with("restrat")).unwrap() + 1;
    let err = error_of(&bad);
    assert!(
        err.starts_with(&format!("x.toml:{line}:1: field `service.restrat`")),
        "{err}"
    );
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn an_undeclared_template_lists_the_parameters() {
    let bad = SEED.replace("sleep {{sleep}}", "sleep {{nap}}");
    let err = error_of(&bad);
    assert!(err.contains("field `service.script`"), "{err}");
    assert!(err.contains("`{{nap}}` names no parameter"), "{err}");
    assert!(err.contains("sleep"), "{err}");
}

#[test]
fn a_set_of_the_wrong_kind_or_name_is_refused() {
    let err = parse_seed(&[("sleep", "soon")]).unwrap_err().to_string();
    assert!(
        err.contains("takes a whole number (its default is 10)"),
        "{err}"
    );
    let err = parse_seed(&[("slep", "1")]).unwrap_err().to_string();
    assert!(
        err.contains("no parameter `slep`") && err.contains("sleep"),
        "{err}"
    );
}

#[test]
fn a_check_naming_a_missing_phase_is_refused() {
    let bad = SEED.replace("by_end_of = \"natural-restarts\"", "by_end_of = \"nope\"");
    assert!(error_of(&bad).contains("no phase named `nope`"));
}

#[test]
fn signals_by_name_or_number() {
    assert_eq!(parse_signal("KILL"), Some(9));
    assert_eq!(parse_signal("sigterm"), Some(15));
    assert_eq!(parse_signal("1"), Some(1));
    assert_eq!(parse_signal("0"), None);
    assert_eq!(parse_signal("BOOM"), None);
}

#[test]
fn in_phase_bounds_are_checked_against_phases_and_actions() {
    let with =
        |bound: &str| SEED.replace("[checks]\n", &format!("[checks]\nin_phase = [{bound}]\n"));
    let ok = parse(
        Path::new("x.toml"),
        &with("{ phase = \"daemon-up\", action = \"start\", at_least = 1 }"),
        &[],
    );
    let bound = &ok.unwrap().checks.in_phase[0];
    assert_eq!(
        (bound.phase.as_str(), bound.action.as_str(), bound.at_least),
        ("daemon-up", "start", Some(1))
    );
    let err = error_of(&with("{ phase = \"nope\", action = \"start\" }"));
    assert!(
        err.contains("field `checks.in_phase[0].phase`: no phase named `nope`"),
        "{err}"
    );
    let err = error_of(&with("{ phase = \"daemon-up\", action = \"started\" }"));
    assert!(err.contains("`started` is not an event action"), "{err}");
}

#[test]
fn a_signal_on_a_phase_that_sends_none_is_refused() {
    let bad = SEED.replace("do = \"watch\"\n", "do = \"watch\"\nsignal = \"KILL\"\n");
    assert!(
        error_of(&bad).contains("sends no signal"),
        "{}",
        error_of(&bad)
    );
}

/// Replaces `from` in the seed by `to`, which must change it.
fn seed_with(from: &str, to: &str) -> String {
    assert!(SEED.contains(from), "the seed has no {from:?}");
    SEED.replacen(from, to, 1)
}

/// `source` is refused at the line holding `marker`, naming `field` and saying `says`.
fn refused_at(source: &str, marker: &str, field: &str, says: &str) {
    let line = source
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line has {marker:?}"))
        + 1;
    let err = error_of(source);
    assert!(
        err.starts_with(&format!("x.toml:{line}:")),
        "expected line {line}: {err}"
    );
    assert!(err.contains(&format!("field `{field}`")), "{err}");
    assert!(err.contains(says), "expected {says:?} in: {err}");
}

#[test]
fn the_counter_file_is_a_name_inside_the_work_directory() {
    for file in ["/etc/halab-probe", "../../../../root/x", "a/b", "..", ""] {
        let bad = seed_with("file = \"executou\"", &format!("file = {file:?}"));
        refused_at(&bad, "file = ", "service.counter.file", "");
    }
    let bad = seed_with("file = \"executou\"", "file = \"/etc/shadow\"");
    refused_at(&bad, "file = ", "service.counter.file", "is a path");
}

#[test]
fn the_mount_target_is_checked_before_docker_sees_it() {
    for (dir, says) in [
        ("/", "container's root"),
        ("/tmp:/etc:rw", "`:`"),
        ("tmp", "not an absolute path"),
        ("/tmp/../etc", "`..`"),
        ("/proc/self", "kernel filesystems"),
    ] {
        let bad = seed_with("dir = \"/tmp\"", &format!("dir = {dir:?}"));
        refused_at(&bad, "dir = ", "service.counter.dir", says);
    }
}

#[test]
fn every_duration_has_a_range() {
    for (value, field, marker) in [
        ("1e20", "phases[0].timeout", "timeout = 1e20"),
        ("9e9", "phases[0].timeout", "timeout = 9e9"),
        ("-1", "phases[0].timeout", "timeout = -1"),
        ("nan", "phases[0].timeout", "timeout = nan"),
    ] {
        let bad = seed_with("timeout = 300", &format!("timeout = {value}"));
        refused_at(&bad, marker, field, "is not from 0 to 86400 s");
    }
    let bad = seed_with("hold = \"{{down}}\"", "hold = 1e20");
    refused_at(
        &bad,
        "hold = 1e20",
        "phases[1].hold",
        "is not from 0 to 86400 s",
    );
    let bad = seed_with("runs_for = \"{{sleep}}\"", "runs_for = 1e300");
    refused_at(&bad, "runs_for = 1e300", "service.sim.runs_for", "86400");
}

#[test]
fn a_flag_that_puts_a_value_out_of_range_is_named() {
    let err = parse_seed(&[("sleep", "8000000000")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("field `service.sim.runs_for`"), "{err}");
    assert!(err.contains("given as --set sleep=8000000000"), "{err}");
}

#[test]
fn whole_numbers_have_ranges() {
    let bad = SEED.replace(
        "restart = \"always\"\n",
        "restart = \"always\"\nstop_timeout = 9223372036854775807\n",
    );
    refused_at(
        &bad,
        "stop_timeout",
        "service.stop_timeout",
        "out of range: from 0 to 3600 s",
    );
    let bad = SEED.replace(
        "restart = \"always\"\n",
        "restart = \"always\"\nstop_timeout = -5\n",
    );
    refused_at(&bad, "stop_timeout", "service.stop_timeout", "out of range");
    let bad = seed_with(
        "restart = \"always\"",
        "restart = \"on-failure:4294967295\"",
    );
    refused_at(
        &bad,
        "on-failure:",
        "service.restart",
        "at most 1000000 retries",
    );
    let bad = seed_with("until_starts = 2", "until_starts = 0");
    refused_at(
        &bad,
        "until_starts = 0",
        "phases[2].until_starts",
        "out of range: from 1",
    );
    let bad = seed_with("initial = 0", "initial = 1000000000000000000");
    refused_at(
        &bad,
        "initial = ",
        "service.counter.initial",
        "out of range",
    );
    let bad = seed_with("exit_code = 0 ", "exit_code = 300 ");
    refused_at(
        &bad,
        "exit_code = 300",
        "service.sim.exit_code",
        "from 0 to 255",
    );
    let bad = SEED.replace(
        "[checks]\n",
        "[checks]\nbackoff = { phase = \"natural-restarts\", first_ms = 9223372036854775807, tolerance_ms = 1 }\n",
    );
    refused_at(
        &bad,
        "backoff = ",
        "checks.backoff.first_ms",
        "from 1 to 60000 ms",
    );
}

#[test]
fn a_scenario_without_phases_is_refused() {
    let head = &SEED[..SEED.find("[[phases]]").unwrap()];
    let bad = head.replacen("[params]", "phases = []\n\n[params]", 1);
    refused_at(&bad, "phases = []", "phases", "0 phases");
}

#[test]
fn phase_names_are_unique() {
    let bad = seed_with("name = \"daemon-up\"", "name = \"daemon-down\"");
    let second = bad
        .match_indices("name = \"daemon-down\"")
        .nth(1)
        .unwrap()
        .0;
    let line = bad[..second].matches('\n').count() + 1;
    let err = error_of(&bad);
    assert!(err.starts_with(&format!("x.toml:{line}:")), "{err}");
    assert!(err.contains("field `phases[2].name`"), "{err}");
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn control_characters_in_names_are_refused() {
    let bad = seed_with(
        "name = \"natural-restarts\"",
        "name = \"natural\\u001b]0;owned\\u0007\"",
    );
    refused_at(
        &bad,
        "natural\\u001b",
        "phases[0].name",
        "control characters",
    );
    let bad = seed_with("name = \"restart-always\"", "name = \"x\\u001b[2J\"");
    refused_at(&bad, "x\\u001b", "name", "control characters");
    let bad = seed_with("summary = \"", "summary = \"\\u009b31m ");
    refused_at(&bad, "summary = ", "summary", "control characters");
}

#[test]
fn at_least_above_at_most_passes_nothing_and_is_refused() {
    let bad = SEED.replace(
        "[checks]\n",
        "[checks]\nin_phase = [{ phase = \"daemon-up\", action = \"start\", at_least = 3, at_most = 1 }]\n",
    );
    refused_at(
        &bad,
        "in_phase",
        "checks.in_phase[0].at_most",
        "less than at_least",
    );
}

#[test]
fn a_long_set_value_is_refused_before_parsing() {
    let long = format!("sleep={}", "9".repeat(limits::MAX_SET_VALUE_BYTES + 1));
    let err = parse_sets(&[long]).unwrap_err().to_string();
    assert!(err.contains("bytes long"), "{err}");
}
