use std::path::Path;

use halab_model::{DaemonOp, Op};

use super::*;
use crate::scenario;

const MIXED: &str = r#"
name = "mixed"
[services.a]
restart = "always"
program = { runs = ["until-told"] }
memory_mb = 64
[services.b]
restart = "on-failure:3"
program = { runs = ["until-told"] }
[services.c]
restart = "unless-stopped"
program = { runs = ["forever"] }
[chaos]
duration = 120
every = 3
jitter = 1
min_gap = 11
daemon_faults = 2
settle = 5
faults = [
    { op = "crash", weight = 4 },
    { op = "docker-kill", weight = 1, services = ["a", "b"], undo_after = 2 },
    { op = "docker-pause", weight = 1 },
    { op = "exit", code = 3, weight = 1, services = ["a", "b"] },
    { op = "oom", weight = 1, services = ["a"] },
    { op = "daemon-crash", weight = 1, undo_after = 4 },
    { op = "daemon-stop", weight = 1 },
]
"#;

fn mixed() -> Scenario {
    scenario::parse(Path::new("mixed.toml"), MIXED, &[]).unwrap()
}

fn error_of(text: &str) -> String {
    scenario::parse(Path::new("bad.toml"), text, &[])
        .unwrap_err()
        .to_string()
}

#[test]
fn the_same_seed_draws_the_same_schedule_byte_for_byte() {
    let g = mixed().chaos.unwrap();
    let one = Schedule::draw(&g, 42, None, true).to_toml();
    let two = Schedule::draw(&g, 42, None, true).to_toml();
    assert_eq!(one, two);
    assert_ne!(one, Schedule::draw(&g, 43, None, true).to_toml());
}

#[test]
fn a_schedule_keeps_its_limits() {
    let g = mixed().chaos.unwrap();
    for seed in 0..200 {
        let s = Schedule::draw(&g, seed, None, true);
        let daemon_faults = s
            .steps
            .iter()
            .filter(|st| matches!(st.op, Op::Daemon(op) if op.ends_daemon()))
            .count();
        assert!(daemon_faults <= 2, "seed {seed}: {daemon_faults}");
        // Every fault lands within the duration; undos may come after it.
        let mut down_until = None;
        let mut last_on: BTreeMap<String, u64> = BTreeMap::new();
        for step in &s.steps {
            match &step.op {
                Op::Daemon(DaemonOp::Start) => down_until = None,
                Op::Daemon(_) => {
                    assert!(step.at_ms < 120_000);
                    assert!(
                        down_until.is_none(),
                        "seed {seed}: two daemon faults overlap"
                    );
                    down_until = Some(step.at_ms);
                }
                Op::Service { service, op } => {
                    assert!(
                        down_until.is_none(),
                        "seed {seed}: {op} while the daemon is down"
                    );
                    let undo = matches!(op, ServiceOp::Api(ApiCall::Unpause | ApiCall::Start));
                    if !undo && let Some(&last) = last_on.get(service) {
                        assert!(
                            step.at_ms >= last + 11_000,
                            "seed {seed}: {service} hit at {last} and {}",
                            step.at_ms
                        );
                    }
                    last_on.insert(service.clone(), step.at_ms);
                }
                Op::Wait(_) => unreachable!(),
            }
        }
        assert!(down_until.is_none(), "seed {seed}: the daemon is left down");
    }
}

#[test]
fn a_host_run_draws_no_daemon_fault() {
    let g = mixed().chaos.unwrap();
    for seed in 0..50 {
        let s = Schedule::draw(&g, seed, None, false);
        assert!(s.steps.iter().all(|st| !matches!(st.op, Op::Daemon(_))));
        assert!(s.faults() > 0);
    }
}

#[test]
fn a_drawn_schedule_reads_back_as_the_same_operations() {
    let scenario = mixed();
    let g = scenario.chaos.clone().unwrap();
    for seed in 0..20 {
        let schedule = Schedule::draw(&g, seed, Some(60_000), true);
        // The same services, and the schedule as an explicit phase instead of [chaos].
        let services = MIXED[..MIXED.find("[chaos]").unwrap()].to_owned();
        let text = format!("{services}\n{}", schedule.to_toml());
        let explicit = scenario::parse(Path::new("explicit.toml"), &text, &[])
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        assert_eq!(explicit.phases.len(), 1);
        assert_eq!(
            explicit.phases[0].tracks[0].ops,
            schedule.phase().tracks[0].ops,
            "seed {seed}"
        );
    }
}

#[test]
fn expand_puts_the_schedule_first_and_names_the_seed() {
    let (expanded, schedule) = expand(&mixed(), 7, None, true);
    assert_eq!(expanded.phases[0].name, PHASE);
    assert_eq!(expanded.params["chaos.seed"], "7");
    assert!(schedule.unwrap().faults() > 10);
}

#[test]
fn bad_chaos_tables_are_located() {
    let base = MIXED[..MIXED.find("[chaos]").unwrap()].to_owned();
    let cases = [
        (
            "[chaos]\nduration = 10\nevery = 0.01\nfaults = [{ op = \"crash\" }]",
            "chaos.every",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\njitter = 2\nfaults = [{ op = \"crash\" }]",
            "chaos.jitter",
        ),
        (
            "[chaos]\nduration = 86400\nevery = 1\nfaults = [{ op = \"crash\" }]",
            "at most 2000",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\nfaults = [{ op = \"crash\", weight = 0 }]",
            "weight",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\nfaults = [{ op = \"crash\", services = [\"zz\"] }]",
            "no service named `zz`",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\nfaults = [{ op = \"daemon-start\" }]",
            "not a fault",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\nfaults = [{ op = \"docker-rm\", undo_after = 1 }]",
            "nothing undoes",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\nfaults = [{ op = \"crash\", service = \"a\" }]",
            "services = [",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\nfaults = [{ op = \"oom\", services = [\"b\"] }]",
            "memory_mb",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\ndaemon_faults = 1\nfaults = [{ op = \"crash\" }]",
            "none is listed",
        ),
        ("[chaos]\nduration = 10\nevery = 1\nfaults = []", "1 to 32"),
        (
            "[chaos]\nduration = 10\nevery = 1\nfaults = [{ op = \"crash\", weight = 1, bogus = 1 }]",
            "bogus",
        ),
        (
            "[chaos]\nduration = 10\nevery = 1\nfaults = [{ op = \"crash\" }]\n[[phases]]\nname = \"chaos\"\ndo = [\"inspect\"]",
            "name this one otherwise",
        ),
    ];
    for (table, expected) in cases {
        let message = error_of(&format!("{base}\n{table}\n"));
        assert!(message.contains(expected), "{table}\n→ {message}");
        assert!(message.contains("bad.toml:"), "{message}");
    }
    assert!(error_of(&base).contains("`[chaos]` table"));
}
