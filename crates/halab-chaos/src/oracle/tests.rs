//! The oracle against doctored histories: a run played in the simulator is judged again after
//! one thing in its history was changed as a faulty daemon (or a faulty recording) would change
//! it. Each change must turn the right property to `fail` or `unknown`, with evidence that
//! points at the entry.

use std::path::Path;

use halab_model::{ContainerAction, Entry, Happening, History};

use super::Oracle;
use crate::checks::{Check, CheckResult, Subject, Verdict};
use crate::scenario::{self, Scenario};
use crate::view::Silent;

/// `source` (a scenario file's text) played in the simulator: the scenario and its history.
fn played(source: &str) -> (Scenario, History) {
    let scenario = scenario::parse(Path::new("doctored.toml"), source, &[]).expect("parses");
    let report = crate::testing::play_in_sim(&scenario, &mut Silent);
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "undoctored: {:#?}",
        report.checks
    );
    (scenario, report.history)
}

fn judge(scenario: &Scenario, history: &History) -> Vec<CheckResult> {
    Oracle.judge(&Subject {
        scenario,
        history,
        phases: &[],
        live_restore: false,
        engine: halab_model::EngineVersion::V20_10,
        reference: halab_model::Reference::Engine,
        min_late_ms: 0,
    })
}

fn property<'r>(results: &'r [CheckResult], subject: &str, name: &str) -> &'r CheckResult {
    results
        .iter()
        .find(|r| r.subject == subject && r.name == name)
        .unwrap_or_else(|| panic!("no {name} of {subject} in {results:#?}"))
}

/// The history with its entries rewritten by `doctor` (which may drop one by returning `None`).
fn doctored(history: &History, mut doctor: impl FnMut(usize, &Entry) -> Option<Entry>) -> History {
    let mut out = History::new();
    for (i, e) in history.entries().iter().enumerate() {
        if let Some(e) = doctor(i, e) {
            out.record(e);
        }
    }
    out
}

/// Where the `nth` (from 0) `action` of `service` is in `history`.
fn position_of(
    history: &History,
    service: &str,
    nth: usize,
    is: fn(&ContainerAction) -> bool,
) -> usize {
    history
        .entries()
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(&e.what, Happening::Container { service: s, action, .. } if s == service && is(action)))
        .nth(nth)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no such event of {service}"))
}

fn is_start(a: &ContainerAction) -> bool {
    *a == ContainerAction::Start
}

fn is_die(a: &ContainerAction) -> bool {
    matches!(a, ContainerAction::Die { .. })
}

const NO_RESTART: &str = r#"
name = "exits-once"
summary = "a service under `no` that exits 3 after a second"
[services.svc]
restart = "no"
program = { runs = [{ exit = 3, after = 1 }] }
[[phases]]
name = "watch"
do = [{ op = "wait", for = 3 }]
"#;

const ON_FAILURE: &str = r#"
name = "fails"
summary = "on-failure:2 and a service that exits 1 after a second"
[services.svc]
restart = "on-failure:2"
program = { runs = [{ exit = 1, after = 1 }] }
[[phases]]
name = "watch"
do = [{ op = "wait", starts = 2, timeout = 30 }, { op = "wait", for = 3 }]
"#;

#[test]
fn a_restart_that_should_not_have_happened_fails_the_events() {
    let (scenario, history) = played(NO_RESTART);
    let die = position_of(&history, "svc", 0, is_die);
    let die_at = history.entries()[die].at;
    let mut extra = history.clone();
    extra.record(Entry {
        at: die_at.plus_nanos(300_000_000),
        source: halab_model::Source::Events,
        seen: None,
        what: Happening::Container {
            node: "sim".into(),
            service: "svc".into(),
            action: ContainerAction::Start,
        },
    });
    let results = judge(&scenario, &extra);
    let events = property(&results, "svc", "events");
    assert_eq!(events.verdict, Verdict::Fail, "{events:#?}");
    let evidence = &events.evidence[0];
    assert_eq!(
        evidence.observed.as_ref().unwrap().text,
        "start",
        "{evidence:#?}"
    );
    // `no` predicts nothing after the die except the end of the run's own kill of what runs.
    assert_ne!(
        evidence.predicted.as_ref().map(|m| m.text.as_str()),
        Some("start")
    );
    assert_eq!(evidence.observed.as_ref().unwrap().position, Some(die + 1));
}

#[test]
fn a_missing_restart_fails_the_events() {
    let (scenario, history) = played(ON_FAILURE);
    let second_start = position_of(&history, "svc", 1, is_start);
    let missing = doctored(&history, |i, e| (i != second_start).then(|| e.clone()));
    let results = judge(&scenario, &missing);
    let events = property(&results, "svc", "events");
    assert_eq!(events.verdict, Verdict::Fail, "{events:#?}");
    let evidence = &events.evidence[0];
    assert_eq!(
        evidence.predicted.as_ref().unwrap().text,
        "start",
        "{evidence:#?}"
    );
    assert_ne!(
        evidence.observed.as_ref().map(|m| m.text.as_str()),
        Some("start")
    );
}

#[test]
fn a_wrong_exit_code_fails_the_events_and_the_final_exit_code() {
    let (scenario, history) = played(NO_RESTART);
    let die = position_of(&history, "svc", 0, is_die);
    let wrong = doctored(&history, |i, e| {
        let mut e = e.clone();
        if i == die
            && let Happening::Container { action, .. } = &mut e.what
        {
            *action = ContainerAction::Die { exit_code: 4 };
        }
        if let Happening::Op {
            step: halab_model::OpStep::Ok { read: Some(state) },
            ..
        } = &mut e.what
        {
            state.exit_code = 4;
        }
        Some(e)
    });
    let results = judge(&scenario, &wrong);
    let events = property(&results, "svc", "events");
    assert_eq!(events.verdict, Verdict::Fail, "{events:#?}");
    let evidence = &events.evidence[0];
    assert_eq!(evidence.observed.as_ref().unwrap().text, "die(4)");
    assert_eq!(evidence.predicted.as_ref().unwrap().text, "die(3)");
    let code = property(&results, "svc", "final-exit-code");
    assert_eq!(code.verdict, Verdict::Fail, "{code:#?}");
    assert!(
        code.evidence[0]
            .op
            .as_ref()
            .unwrap()
            .text
            .contains("inspect"),
        "{code:#?}"
    );
}

#[test]
fn a_restart_later_than_the_tolerance_fails_its_delay() {
    let (scenario, history) = played(ON_FAILURE);
    let second_start = position_of(&history, "svc", 1, is_start);
    let late = 5_000_000_000;
    let shifted = doctored(&history, |i, e| {
        let mut e = e.clone();
        if i >= second_start {
            e.at = e.at.plus_nanos(late);
        }
        Some(e)
    });
    let results = judge(&scenario, &shifted);
    assert_eq!(property(&results, "svc", "events").verdict, Verdict::Pass);
    let delays = property(&results, "svc", "restart-delays");
    assert_eq!(delays.verdict, Verdict::Fail, "{delays:#?}");
    let evidence = &delays.evidence[0];
    assert!(
        evidence.what.contains("5100 ms after its die"),
        "{evidence:#?}"
    );
    assert_eq!(
        evidence.observed.as_ref().unwrap().position,
        Some(second_start)
    );
}

#[test]
fn a_restart_earlier_than_the_back_off_fails_its_delay() {
    let (scenario, history) = played(ON_FAILURE);
    let second_start = position_of(&history, "svc", 1, is_start);
    let shifted = doctored(&history, |i, e| {
        let mut e = e.clone();
        if i == second_start {
            e.at = e.at.plus_nanos(-60_000_000);
        }
        Some(e)
    });
    let delays = property(&judge(&scenario, &shifted), "svc", "restart-delays").clone();
    assert_eq!(delays.verdict, Verdict::Fail, "{delays:#?}");
    assert!(
        delays.evidence[0].what.contains("40 ms after its die"),
        "{delays:#?}"
    );
}

#[test]
fn a_truncated_history_is_unknown_never_pass() {
    let (scenario, history) = played(ON_FAILURE);
    // Cut short after the second start: no final inspection, no end of the wait.
    let cut = position_of(&history, "svc", 1, is_start);
    let truncated = doctored(&history, |i, e| (i <= cut).then(|| e.clone()));
    let results = judge(&scenario, &truncated);
    for name in ["events", "final-status", "final-exit-code", "restart-count"] {
        let r = property(&results, "svc", name);
        assert_eq!(r.verdict, Verdict::Unknown, "{name}: {r:#?}");
    }
    assert_eq!(Verdict::of(&results), Verdict::Unknown);
}

#[test]
fn the_undoctored_histories_pass_as_a_control() {
    for source in [NO_RESTART, ON_FAILURE] {
        let (scenario, history) = played(source);
        let results = judge(&scenario, &history);
        assert_eq!(Verdict::of(&results), Verdict::Pass, "{results:#?}");
    }
}

const DAEMON_CRASH: &str = r#"
name = "crashes"
summary = "dockerd killed under an `always` service that ignores SIGTERM"
[services.svc]
restart = "always"
stop_timeout = 3
program = { runs = ["forever"] }
[[phases]]
name = "crash"
do = ["daemon-crash", { op = "wait", for = 1 }, "daemon-start", { op = "wait", for = 2 }]
"#;

/// The daemon's own milestones are judged too: a daemon that answered again after a crash
/// sooner than the restore's stop of its container allows (the model waits out the 3 s stop
/// timeout before it answers) fails `daemon-start-time`, with the op as evidence.
#[test]
fn a_daemon_that_answers_before_its_restore_is_done_fails_its_start_time() {
    let (scenario, history) = played(DAEMON_CRASH);
    let start_end = last_entry(&history, |what| {
        matches!(
            what,
            Happening::Op {
                op: halab_model::Op::Daemon(halab_model::DaemonOp::Start),
                step: halab_model::OpStep::Ok { .. },
                ..
            }
        )
    })
    .expect("the run's daemon start ends");
    let early = doctored(&history, |i, e| {
        let mut e = e.clone();
        if i == start_end {
            e.at = e.at.plus_nanos(-2_500_000_000);
        }
        Some(e)
    });
    let results = judge(&scenario, &early);
    let start = results
        .iter()
        .rfind(|r| r.subject == "daemon" && r.name == "daemon-start-time")
        .expect("judged");
    assert_eq!(start.verdict, Verdict::Fail, "{start:#?}");
    assert!(
        start.detail.contains("earlier than the model"),
        "{start:#?}"
    );
    assert_eq!(start.evidence[0].op.as_ref().unwrap().text, "daemon-start");
    assert_eq!(
        property(&judge(&scenario, &history), "daemon", "daemon-start-time").verdict,
        Verdict::Pass
    );
}

const REMOVED: &str = r#"
name = "removed"
summary = "a service under `always`, crashed, then removed with docker rm -f"
[services.svc]
restart = "always"
program = { runs = ["forever"] }
[[phases]]
name = "faults"
do = [{ op = "crash", signal = "KILL" }, { op = "wait", starts = 1, timeout = 10 }, "docker-rm", { op = "wait", for = 1 }]
"#;

/// The history with every inspection of `svc` reading `status`, exit code -1 and
/// `RestartCount` -1: what a real daemon's 404 leaves the docker runtime to record.
fn read_as_gone(history: &History, status: &str) -> History {
    doctored(history, |_, e| {
        let mut e = e.clone();
        if let Happening::Op {
            step: halab_model::OpStep::Ok { read: Some(state) },
            ..
        } = &mut e.what
        {
            state.status = status.into();
            state.exit_code = -1;
            state.restart_count = -1;
        }
        Some(e)
    })
}

/// A removed container has no exit code or `RestartCount` to read: when the model removed it
/// too, its final state is its status alone — however the runtime fills the rest.
#[test]
fn a_removed_container_is_judged_by_its_status_alone() {
    let (scenario, history) = played(REMOVED);
    let results = judge(&scenario, &read_as_gone(&history, "removed"));
    for name in ["final-status", "final-exit-code", "restart-count"] {
        let p = property(&results, "svc", name);
        assert_eq!(p.verdict, Verdict::Pass, "{p:#?}");
    }
    // The control: a container the model removed, read as merely exited, fails.
    let results = judge(&scenario, &read_as_gone(&history, "exited"));
    let status = property(&results, "svc", "final-status");
    assert_eq!(status.verdict, Verdict::Fail, "{status:#?}");
    let code = property(&results, "svc", "final-exit-code");
    assert_eq!(code.verdict, Verdict::Fail, "{code:#?}");
}

/// And one the model keeps, read as removed, fails: the exemption is for the removed only.
#[test]
fn a_container_read_as_removed_that_the_model_keeps_fails() {
    let (scenario, history) = played(NO_RESTART);
    let results = judge(&scenario, &read_as_gone(&history, "removed"));
    for name in ["final-status", "final-exit-code", "restart-count"] {
        let p = property(&results, "svc", name);
        assert_eq!(p.verdict, Verdict::Fail, "{name}: {p:#?}");
    }
}

const KILLED_WHILE_DOWN: &str = r#"
summary = "always, killed from the host while its daemon is down, started again by the restore"
[services.svc]
restart = "always"
program = { runs = ["until-told"], counts = false }
memory_mb = 32
[[phases]]
name = "down"
do = [
    "daemon-crash",
    { op = "crash", service = "svc", signal = "KILL" },
    "daemon-start",
    { op = "wait", service = "svc", starts = 1, timeout = 30 },
]
"#;

const CRASH_WHILE_DOWN: &str = r#"{ op = "crash", service = "svc", signal = "KILL" },"#;

/// The same service left alone while its daemon is down: the restore stops it and starts it.
fn untouched_while_down() -> String {
    KILLED_WHILE_DOWN.replace(CRASH_WHILE_DOWN, "")
}

/// The history with `action` of `svc` in place of its restore's start.
fn restore_start_as(history: &History, action: ContainerAction) -> History {
    let restored = position_of(history, "svc", 1, is_start);
    doctored(history, |i, e| {
        let mut e = e.clone();
        if i == restored {
            e.what = Happening::Container {
                node: "sim".into(),
                service: "svc".into(),
                action: action.clone(),
            };
        }
        Some(e)
    })
}

/// The history with `action` of `svc` just before its restore's start.
fn before_restore_start(history: &History, action: ContainerAction) -> History {
    let restored = position_of(history, "svc", 1, is_start);
    let mut out = History::new();
    for (i, e) in history.entries().iter().enumerate() {
        if i == restored {
            out.record(Entry {
                what: Happening::Container {
                    node: "sim".into(),
                    service: "svc".into(),
                    action: action.clone(),
                },
                ..e.clone()
            });
        }
        out.record(e.clone());
    }
    out
}

#[test]
fn an_exit_relayed_into_the_restore_is_a_race_the_history_cannot_decide() {
    let (scenario, history) = played(KILLED_WHILE_DOWN);
    for exit_code in [255, 137] {
        let action = ContainerAction::Die { exit_code };
        for doctored in [
            restore_start_as(&history, action.clone()),
            before_restore_start(&history, action),
        ] {
            let results = judge(&scenario, &doctored);
            let events = property(&results, "svc", "events");
            assert_eq!(events.verdict, Verdict::Unknown, "{events:#?}");
            assert!(events.detail.contains("restore"), "{events:#?}");
            assert!(
                results
                    .iter()
                    .filter(|r| r.subject == "svc")
                    .all(|r| r.verdict != Verdict::Fail),
                "after the race nothing of svc can fail: {results:#?}"
            );
        }
    }
    // A container nobody touched while the daemon was down has no exit to relay: a `die` the
    // model does not predict there is the daemon departing from it.
    let (scenario, history) = played(&untouched_while_down());
    let results = judge(
        &scenario,
        &restore_start_as(&history, ContainerAction::Die { exit_code: 255 }),
    );
    let events = property(&results, "svc", "events");
    assert_eq!(events.verdict, Verdict::Fail, "{events:#?}");
}

#[test]
fn an_oom_relayed_into_the_restore_is_not_compared() {
    let (scenario, history) =
        played(&KILLED_WHILE_DOWN.replace(CRASH_WHILE_DOWN, r#"{ op = "oom", service = "svc" },"#));
    let relayed = before_restore_start(&history, ContainerAction::Oom);
    let results = judge(&scenario, &relayed);
    assert_eq!(
        property(&results, "svc", "events").verdict,
        Verdict::Pass,
        "{results:#?}"
    );
    // Nothing was done to the other one while the daemon was down: its `oom` is compared.
    let (scenario, history) = played(&untouched_while_down());
    let results = judge(
        &scenario,
        &before_restore_start(&history, ContainerAction::Oom),
    );
    assert_eq!(property(&results, "svc", "events").verdict, Verdict::Fail);
}

const UNHEALTHY: &str = r#"
summary = "a failing health check under always"
[services.svc]
restart = "always"
program = { runs = ["forever"] }
healthcheck = { cmd = "false", interval = 1, retries = 2 }
[[phases]]
name = "watch"
do = [{ op = "wait", health = "unhealthy", timeout = 30 }, { op = "wait", for = 5 }]
"#;

/// Where the last entry of `history` whose happening `is` is.
fn last_entry(history: &History, is: impl Fn(&Happening) -> bool) -> Option<usize> {
    history.entries().iter().rposition(|e| is(&e.what))
}

/// The history with the final inspection of `svc` reading `health`.
fn final_read(history: &History, health: Option<&str>) -> History {
    let last = last_entry(history, |what| {
        matches!(
            what,
            Happening::Op {
                step: halab_model::OpStep::Ok { read: Some(_) },
                ..
            }
        )
    })
    .expect("a final inspection");
    doctored(history, |i, e| {
        let mut e = e.clone();
        if i == last
            && let Happening::Op {
                step: halab_model::OpStep::Ok { read: Some(read) },
                ..
            } = &mut e.what
        {
            read.health = health.map(str::to_owned);
        }
        Some(e)
    })
}

#[test]
fn a_health_the_model_never_had_fails_final_health() {
    let (scenario, history) = played(UNHEALTHY);
    let results = judge(&scenario, &history);
    let health = property(&results, "svc", "final-health");
    assert_eq!(health.verdict, Verdict::Pass, "{health:?}");
    assert_eq!(health.facts["observed"], "unhealthy");
    assert_eq!(
        health.facts["observed_events"],
        serde_json::json!(["health_status: unhealthy"])
    );
    assert_eq!(
        property(&results, "svc", "restart-count").verdict,
        Verdict::Pass
    );
    // A daemon that restarted it for being unhealthy, or read it healthy, is not the model's.
    for wrong in [Some("healthy"), Some("starting"), None] {
        let results = judge(&scenario, &final_read(&history, wrong));
        let health = property(&results, "svc", "final-health");
        assert_eq!(health.verdict, Verdict::Fail, "{wrong:?}: {health:?}");
    }
}

#[test]
fn health_events_are_not_part_of_the_events_property() {
    let (scenario, history) = played(UNHEALTHY);
    let unhealthy = position_of(&history, "svc", 0, |a| {
        matches!(a, ContainerAction::HealthStatus { .. })
    });
    let without = doctored(&history, |i, e| (i != unhealthy).then(|| e.clone()));
    let results = judge(&scenario, &without);
    assert_eq!(property(&results, "svc", "events").verdict, Verdict::Pass);
    let health = property(&results, "svc", "final-health");
    assert_eq!(
        health.verdict,
        Verdict::Pass,
        "the inspection still read it"
    );
    assert_eq!(health.facts["observed_events"], serde_json::json!([]));
}

#[test]
fn final_health_after_a_daemon_restart_is_unknown_never_pass() {
    let source = UNHEALTHY.replace(
        "{ op = \"wait\", for = 5 }]",
        "{ op = \"wait\", for = 5 }, \"daemon-stop\", \"daemon-start\", { op = \"wait\", for = 5 }]",
    );
    let scenario = scenario::parse(Path::new("restarted.toml"), &source, &[]).expect("parses");
    let report = crate::testing::play_in_sim(&scenario, &mut Silent);
    let results = judge(&scenario, &report.history);
    let health = property(&results, "svc", "final-health");
    assert_eq!(health.verdict, Verdict::Unknown, "{health:?}");
    assert_eq!(
        property(&results, "svc", "final-status").verdict,
        Verdict::Pass,
        "only the health is undecided"
    );
    assert_eq!(report.verdict, Verdict::Unknown);
}

#[test]
fn a_stop_after_many_probes_is_not_given_a_probe_s_lag() {
    // Sixty passing probes, then `docker stop`: the stop ends the monitor at once (moby's
    // `stopHealthchecks`), and the model's health leaves `healthy` with it. A daemon that still
    // reads `healthy` well after the stop is not given sixty probes' worth of slack.
    let source = UNHEALTHY
        .replace("cmd = \"false\"", "cmd = \"true\"")
        .replace(
            "do = [{ op = \"wait\", health = \"unhealthy\", timeout = 30 }, { op = \"wait\", for = 5 }]",
            "do = [{ op = \"wait\", for = 60 }, \"docker-stop\", { op = \"wait\", for = 1 }]",
        );
    let (scenario, history) = played(&source);
    let results = judge(&scenario, &history);
    let health = property(&results, "svc", "final-health");
    assert_eq!(health.verdict, Verdict::Pass, "{health:?}");
    let results = judge(&scenario, &final_read(&history, Some("healthy")));
    let health = property(&results, "svc", "final-health");
    assert_eq!(health.verdict, Verdict::Fail, "{health:?}");
}

#[test]
fn a_start_period_a_probe_may_straddle_is_unknown_never_pass() {
    // The model's probe at 2 s falls inside 2.01 s; the daemon's may come a slack per probe
    // later (the simulator's is 20 ms), outside it.
    let source = UNHEALTHY.replace("retries = 2 }", "retries = 2, start_period = 2.01 }");
    let scenario = scenario::parse(Path::new("straddled.toml"), &source, &[]).expect("parses");
    let report = crate::testing::play_in_sim(&scenario, &mut Silent);
    let health = property(&judge(&scenario, &report.history), "svc", "final-health").clone();
    assert_eq!(health.verdict, Verdict::Unknown, "{health:?}");
    assert!(health.detail.contains("start period"), "{health:?}");
}
