//! The format's parsing and resolution, on the seed and on variants of it.

use super::*;
use halab_model::{ApiCall, Run, ServiceOp, ServiceState, Wait};

const SEED: &str = include_str!("../../../../scenarios/restart-always.toml");

fn parse_seed(sets: &[(&str, &str)]) -> Result<Scenario, ScenarioError> {
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse(Path::new("seed.toml"), SEED, &sets)
}

/// The seed as a scenario, for other modules' tests.
pub(crate) fn one_service() -> Scenario {
    parse_seed(&[("sleep", "1")]).expect("the seed parses")
}

fn error_of(source: &str) -> String {
    parse(Path::new("x.toml"), source, &[])
        .unwrap_err()
        .to_string()
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
fn the_seed_is_the_2015_experiment() {
    let s = parse_seed(&[]).unwrap();
    let critical = &s.services[0];
    assert_eq!(critical.name, "critical");
    assert_eq!(critical.restart, RestartPolicy::Always);
    assert_eq!(
        critical.script.as_deref(),
        Some("echo $(($(cat /tmp/executou) + 1)) > /tmp/executou; sleep 10")
    );
    assert_eq!(
        critical.program.runs,
        [Run::Exit {
            after_ms: 10_000,
            code: 0
        }]
    );
    assert_eq!(
        (
            critical.counter_dir.as_str(),
            critical.counter_file.as_str()
        ),
        ("/tmp", "executou")
    );
    let ops: Vec<Vec<Op>> = s.phases.iter().map(|p| p.tracks[0].ops.clone()).collect();
    assert_eq!(
        ops,
        [
            vec![Op::Wait(Wait::Starts {
                service: "critical".into(),
                count: 3,
                timeout_ms: 300_000
            })],
            vec![Op::Daemon(DaemonOp::Stop), Op::Wait(Wait::For { ms: 3000 })],
            vec![
                Op::Daemon(DaemonOp::Start),
                Op::Wait(Wait::Starts {
                    service: "critical".into(),
                    count: 2,
                    timeout_ms: 120_000
                })
            ],
        ]
    );
    assert!(s.touches_daemon());
}

#[test]
fn sets_reach_every_templated_value() {
    let s = parse_seed(&[("sleep", "1"), ("restarts", "5"), ("down", "2")]).unwrap();
    assert!(
        s.services[0]
            .script
            .as_deref()
            .unwrap()
            .ends_with("sleep 1")
    );
    assert!(matches!(
        s.phases[0].tracks[0].ops[0],
        Op::Wait(Wait::Starts { count: 5, .. })
    ));
    assert_eq!(
        s.phases[1].tracks[0].ops[1],
        Op::Wait(Wait::For { ms: 2000 })
    );
}

#[test]
fn a_file_in_the_first_format_is_told_what_changed() {
    let old = "name = \"x\"\n[service]\nrestart = \"always\"\n";
    let err = error_of(old);
    assert!(err.starts_with("x.toml:2:"), "{err}");
    assert!(err.contains("[services.NAME]"), "{err}");
    assert!(err.contains("list of operations"), "{err}");
}

#[test]
fn a_bad_policy_names_file_line_column_and_field() {
    let bad = seed_with("restart = \"always\"", "restart = \"alwayz\"");
    refused_at(
        &bad,
        "alwayz",
        "services.critical.restart",
        "`alwayz` is not a restart policy",
    );
}

#[test]
fn an_unknown_field_is_located() {
    let bad = seed_with(
        "[services.critical]\n",
        "[services.critical]\nrestrat = \"no\"\n",
    );
    let line = bad.lines().position(|l| l.starts_with("restrat")).unwrap() + 1;
    let err = error_of(&bad);
    assert!(err.starts_with(&format!("x.toml:{line}:1:")), "{err}");
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn an_undeclared_template_lists_the_parameters() {
    let bad = seed_with("sleep {{sleep}}", "sleep {{nap}}");
    let err = error_of(&bad);
    assert!(err.contains("field `services.critical.script`"), "{err}");
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
fn signals_by_name_or_number() {
    assert_eq!(parse_signal("KILL"), Some(9));
    assert_eq!(parse_signal("sigterm"), Some(15));
    assert_eq!(parse_signal("1"), Some(1));
    assert_eq!(parse_signal("0"), None);
    assert_eq!(parse_signal("BOOM"), None);
}

#[test]
fn operations_are_spelled_as_names_or_tables() {
    let text = seed_with(
        "do = [\"daemon-stop\", { op = \"wait\", for = \"{{down}}\" }]",
        "do = [\"daemon-crash\", { op = \"crash\", signal = \"TERM\" }, { op = \"docker-kill\", signal = \"HUP\" }, { op = \"docker-stop\", timeout = 1 }, { op = \"docker-update\", restart = \"no\" }, \"docker-pause\", \"inspect\", { op = \"wait\", state = \"paused\", timeout = 5 }]",
    );
    let s = parse(Path::new("x.toml"), &text, &[]).unwrap();
    let on = |op| Op::on("critical", op);
    assert_eq!(
        s.phases[1].tracks[0].ops,
        [
            Op::Daemon(DaemonOp::Crash),
            on(ServiceOp::Signal { signal: 15 }),
            on(ServiceOp::Api(ApiCall::Kill { signal: 1 })),
            on(ServiceOp::Api(ApiCall::Stop { timeout_s: Some(1) })),
            on(ServiceOp::Api(ApiCall::UpdateRestartPolicy {
                policy: RestartPolicy::No
            })),
            on(ServiceOp::Api(ApiCall::Pause)),
            on(ServiceOp::Inspect),
            Op::Wait(Wait::State {
                service: "critical".into(),
                state: ServiceState::Paused,
                timeout_ms: 5000
            }),
        ]
    );
}

#[test]
fn an_operation_names_a_service_that_exists() {
    let bad = seed_with(
        "do = [\"daemon-start\",",
        "do = [{ op = \"crash\", service = \"nope\" }, \"daemon-start\",",
    );
    refused_at(
        &bad,
        "service = \"nope\"",
        "phases[2].do[0].service",
        "no service named `nope`",
    );
    let bad = seed_with("do = [\"daemon-stop\",", "do = [\"daemon-explode\",");
    refused_at(
        &bad,
        "daemon-explode",
        "phases[1].do[0].op",
        "is not an operation",
    );
}

#[test]
fn a_program_told_to_exit_must_be_halab_s() {
    let told = seed_with(
        "do = [\"daemon-stop\",",
        "do = [{ op = \"exit\", code = 3 },",
    );
    refused_at(&told, "op = \"exit\"", "phases[1].do[0]", "own script");
}

// ----- hostile values ------------------------------------------------------------------------

#[test]
fn the_counter_file_is_a_name_inside_the_service_directory() {
    for file in ["/etc/halab-probe", "../../../../root/x", "a/b", "..", ""] {
        let bad = seed_with("file = \"executou\"", &format!("file = {file:?}"));
        refused_at(&bad, "file = ", "services.critical.counter.file", "");
    }
    let bad = seed_with("file = \"executou\"", "file = \"/etc/shadow\"");
    refused_at(
        &bad,
        "file = ",
        "services.critical.counter.file",
        "is a path",
    );
    let bad = seed_with("file = \"executou\"", "file = \".order\"");
    refused_at(
        &bad,
        "file = ",
        "services.critical.counter.file",
        "halab's own",
    );
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
        refused_at(&bad, "dir = ", "services.critical.counter.dir", says);
    }
}

#[test]
fn every_duration_has_a_range() {
    for value in ["1e20", "9e9", "-1", "nan"] {
        let bad = seed_with("timeout = 300", &format!("timeout = {value}"));
        refused_at(
            &bad,
            &format!("timeout = {value}"),
            "phases[0].do[0].timeout",
            "is not from 0 to 86400 s",
        );
    }
    let bad = seed_with("for = \"{{down}}\"", "for = 1e20");
    refused_at(
        &bad,
        "for = 1e20",
        "phases[1].do[1].for",
        "is not from 0 to 86400 s",
    );
    let bad = seed_with("after = \"{{sleep}}\"", "after = 1e300");
    refused_at(
        &bad,
        "after = 1e300",
        "services.critical.program.runs[0].after",
        "86400",
    );
}

#[test]
fn a_flag_that_puts_a_value_out_of_range_is_named() {
    let err = parse_seed(&[("sleep", "8000000000")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("field `services.critical.program.runs[0].after`"),
        "{err}"
    );
    assert!(err.contains("given as --set sleep=8000000000"), "{err}");
}

#[test]
fn whole_numbers_have_ranges() {
    let bad = seed_with(
        "restart = \"always\"\n",
        "restart = \"always\"\nstop_timeout = 9223372036854775807\n",
    );
    refused_at(
        &bad,
        "stop_timeout",
        "services.critical.stop_timeout",
        "out of range: from 0 to 3600 s",
    );
    let bad = seed_with(
        "restart = \"always\"\n",
        "restart = \"always\"\nstop_timeout = -5\n",
    );
    refused_at(
        &bad,
        "stop_timeout",
        "services.critical.stop_timeout",
        "out of range",
    );
    let bad = seed_with(
        "restart = \"always\"",
        "restart = \"on-failure:4294967295\"",
    );
    refused_at(
        &bad,
        "on-failure:",
        "services.critical.restart",
        "at most 1000000 retries",
    );
    let bad = seed_with("starts = 2,", "starts = 0,");
    refused_at(
        &bad,
        "starts = 0",
        "phases[2].do[1].starts",
        "out of range: from 1",
    );
    let bad = seed_with("initial = 0", "initial = 1000000000000000000");
    refused_at(
        &bad,
        "initial = ",
        "services.critical.counter.initial",
        "out of range",
    );
    let bad = seed_with("exit = 0,", "exit = 300,");
    refused_at(
        &bad,
        "exit = 300",
        "services.critical.program.runs[0].exit",
        "from 0 to 255",
    );
}

#[test]
fn a_scenario_without_phases_or_services_is_refused() {
    let head = &SEED[..SEED.find("[[phases]]").unwrap()];
    let bad = head.replacen("[params]", "phases = []\n\n[params]", 1);
    refused_at(&bad, "phases = []", "phases", "0 phases");
    let empty =
        "name = \"x\"\nservices = {}\nphases = [{ name = \"p\", do = [\"daemon-stop\"] }]\n";
    refused_at(empty, "services = {}", "services", "0 services");
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
    let bad = format!("name = \"x\\u001b[2J\"\n{SEED}");
    refused_at(&bad, "x\\u001b", "name", "control characters");
    let bad = seed_with("summary = \"", "summary = \"\\u009b31m ");
    refused_at(&bad, "summary = ", "summary", "control characters");
    let bad = seed_with("[services.critical]", "[services.Critical]");
    refused_at(
        &bad,
        "[services.Critical]",
        "services",
        "cannot name a service",
    );
}

#[test]
fn a_long_set_value_is_refused_before_parsing() {
    let long = format!("sleep={}", "9".repeat(limits::MAX_SET_VALUE_BYTES + 1));
    let err = parse_sets(&[long]).unwrap_err().to_string();
    assert!(err.contains("bytes long"), "{err}");
}

/// Every shipped scenario written back as a file reads back to the same scenario (what a suite
/// saving a schedule, and `halab chaos replay` reading it, rely on).
#[test]
fn a_scenario_written_back_reads_back_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files = vec![];
    for dir in [root.clone(), root.join("differential"), root.join("chaos")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    let mut checked = 0;
    for path in files {
        let scenario = load(&path, &[]).unwrap();
        if scenario.chaos.is_some() {
            continue;
        }
        let mut with_found = scenario.clone();
        with_found.found = Some(Found {
            by: Some("halab chaos suite quick --seed 7".into()),
            reference: "mutant:api-kill-as-crash".parse().unwrap(),
            verdict: crate::Verdict::Fail,
            failed: vec!["always events".into(), "daemon daemon-start-time".into()],
        });
        let text = render::scenario(&with_found, "written back\nby a test");
        let again = parse(&path, &text, &[]).unwrap_or_else(|e| {
            panic!(
                "{} written back does not parse: {e}\n{text}",
                path.display()
            )
        });
        let json = |s: &Scenario| {
            let mut v = serde_json::to_value(s).unwrap();
            v.as_object_mut().unwrap().remove("params");
            v
        };
        assert_eq!(
            json(&again),
            json(&with_found),
            "{}:\n{text}",
            path.display()
        );
        assert!(text.starts_with("# written back\n# by a test\n"));
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} scenarios checked");
}

/// A scenario is named by its file: without `name` it takes the file's; a `name` that is not the
/// file's is refused where it is written, when the file is loaded.
#[test]
fn a_scenario_is_named_by_its_file() {
    let dir = std::env::temp_dir().join(format!("halab-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("my-service.toml");
    std::fs::write(&plain, SEED).unwrap();
    assert_eq!(super::load(&plain, &[]).unwrap().name, "my-service");
    let same = dir.join("same.toml");
    std::fs::write(&same, format!("name = \"same\"\n{SEED}")).unwrap();
    assert_eq!(super::load(&same, &[]).unwrap().name, "same");
    let other = dir.join("other.toml");
    std::fs::write(&other, format!("name = \"restart-always\"\n{SEED}")).unwrap();
    let error = super::load(&other, &[]).unwrap_err().to_string();
    assert!(error.contains("other.toml:1:"), "{error}");
    assert!(error.contains("named by its file"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ----- health checks -------------------------------------------------------------------------

/// The seed with `healthcheck` added to its service.
fn seed_with_healthcheck(healthcheck: &str) -> String {
    seed_with(
        "restart = \"always\"\n",
        &format!("restart = \"always\"\nhealthcheck = {healthcheck}\n"),
    )
}

#[test]
fn a_health_check_takes_dockers_defaults_and_tells_the_model_its_outcome() {
    let s = parse(
        Path::new("x.toml"),
        &seed_with_healthcheck("{ cmd = \"false\" }"),
        &[],
    )
    .unwrap();
    let check = s.services[0].healthcheck.clone().unwrap();
    assert_eq!(
        check,
        HealthCheck {
            cmd: "false".into(),
            passes: false,
            interval_ms: 30_000,
            timeout_ms: 30_000,
            start_period_ms: 0,
            retries: 3,
        }
    );
    assert_eq!(s.services[0].spec().health, Some(check.model()));
    // As a table of its own, with a command the model is told about, every field given.
    let text = format!(
        "{SEED}\n[services.critical.healthcheck]\ncmd = \"test -e /tmp/ready\"\npasses = true\ninterval = 0.5\ntimeout = \"{{{{sleep}}}}\"\nstart_period = 5\nretries = 2\n"
    );
    let s = parse(Path::new("x.toml"), &text, &[]).unwrap();
    assert_eq!(
        s.services[0].healthcheck,
        Some(HealthCheck {
            cmd: "test -e /tmp/ready".into(),
            passes: true,
            interval_ms: 500,
            timeout_ms: 10_000,
            start_period_ms: 5_000,
            retries: 2,
        })
    );
    let without = parse_seed(&[]).unwrap();
    assert_eq!(without.services[0].healthcheck, None);
    assert_eq!(without.services[0].spec().health, None);
}

#[test]
fn a_health_check_s_mistakes_are_located_and_named() {
    let field = "services.critical.healthcheck";
    for (healthcheck, marker, key, says) in [
        (
            "{ cmd = \"false\", interval = 0.01 }",
            "interval = 0.01",
            "interval",
            "0.01 s is out of range: from 0.1 to 3600 s",
        ),
        (
            "{ cmd = \"false\", timeout = 1e9 }",
            "timeout = 1e9",
            "timeout",
            "is not from 0 to 86400 s",
        ),
        (
            "{ cmd = \"false\", start_period = -1 }",
            "start_period = -1",
            "start_period",
            "is not from 0 to 86400 s",
        ),
        (
            "{ cmd = \"false\", retries = 0 }",
            "retries = 0",
            "retries",
            "0 is out of range: from 1 to 100",
        ),
        (
            "{ cmd = \"false\", retries = 2.5 }",
            "retries = 2.5",
            "retries",
            "invalid digit",
        ),
        (
            "{ cmd = \"wget -q localhost\" }",
            "wget",
            "passes",
            "say whether it passes",
        ),
        (
            "{ cmd = \"true\", passes = false }",
            "passes = false",
            "passes",
            "`true` passes whatever `passes` says",
        ),
        (
            "{ cmd = \"  \" }",
            "cmd = \"  \"",
            "cmd",
            "the command is empty",
        ),
        (
            "{ cmd = \"false\\u0007\" }",
            "cmd = \"false",
            "cmd",
            "contains control characters",
        ),
        (
            "{ cmd = \"{{nap}}\" }",
            "{{nap}}",
            "cmd",
            "names no parameter",
        ),
    ] {
        let bad = seed_with_healthcheck(healthcheck);
        refused_at(&bad, marker, &format!("{field}.{key}"), says);
    }
    let long = format!("{{ cmd = \"{}\", passes = true }}", "x".repeat(5_000));
    refused_at(
        &seed_with_healthcheck(&long),
        "xxxx",
        &format!("{field}.cmd"),
        "at most 4096",
    );
    // Keys are Docker's; a misspelt one is refused by name.
    let err = error_of(&seed_with_healthcheck("{ cmd = \"false\", retry = 2 }"));
    assert!(err.contains("unknown field `retry`"), "{err}");
    assert!(err.contains("retries"), "{err}");
    let err = error_of(&seed_with_healthcheck("{ interval = 1 }"));
    assert!(err.contains("missing field `cmd`"), "{err}");
}

#[test]
fn a_wait_for_a_health_needs_a_health_check_and_a_status_with_an_event() {
    let wait = "do = [\"daemon-stop\",";
    let healthy = seed_with_healthcheck("{ cmd = \"true\", interval = 1 }").replacen(
        wait,
        "do = [{ op = \"wait\", health = \"healthy\", timeout = 5 }, \"daemon-stop\",",
        1,
    );
    let s = parse(Path::new("x.toml"), &healthy, &[]).unwrap();
    assert_eq!(
        s.phases[1].tracks[0].ops[0],
        Op::Wait(Wait::Health {
            service: "critical".into(),
            health: halab_model::HealthStatus::Healthy,
            timeout_ms: 5_000,
        })
    );
    let unchecked = seed_with(
        wait,
        "do = [{ op = \"wait\", health = \"unhealthy\" }, \"daemon-stop\",",
    );
    refused_at(
        &unchecked,
        "health = \"unhealthy\"",
        "phases[1].do[0].health",
        "critical has no `healthcheck`",
    );
    let starting = seed_with_healthcheck("{ cmd = \"true\" }").replacen(
        wait,
        "do = [{ op = \"wait\", health = \"starting\" }, \"daemon-stop\",",
        1,
    );
    refused_at(
        &starting,
        "health = \"starting\"",
        "phases[1].do[0].health",
        "not a health to wait for: healthy or unhealthy",
    );
}
