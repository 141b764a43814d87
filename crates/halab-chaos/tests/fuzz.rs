//! The fuzz harness: everything a scenario file and `--set` reach before a real daemon is
//! involved — the TOML parser, parameters, every range and path check, and the simulator —
//! driven by proptest from a corpus of hostile files (`tests/fuzz/corpus/`, seeded from the
//! inputs that once made halab panic, hang or write outside its work directory, plus the
//! shipped scenarios), mutated line by line and byte by byte.
//!
//! Every input must end, within a deadline, either refused with a located error (or one that
//! names the flag at fault) or parsed and simulated to a report; a panic or a hang fails the
//! run, and proptest shrinks it to a small input and saves it in `fuzz.proptest-regressions`,
//! which is committed and replayed first on every run.
//!
//! `FUZZ_CASES` sets the number of executions (default 4000); `just fuzz` runs longer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use halab_chaos::scenario::{self, ScenarioError};
use halab_chaos::{RunError, RunOptions, RuntimeChoice, view};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

/// An input that takes longer than this has hung: the slowest legitimate one (a simulation that
/// stops at its entry limit) takes a few seconds in a debug build.
const DEADLINE: Duration = Duration::from_secs(30);

fn corpus() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            (p, text)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 50,
        "the corpus has only {} files",
        files.len()
    );
    files
}

/// Values that have broken parsers of this kind, as TOML would write them.
const TOML_VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "1e20",
    "9e9",
    "1e300",
    "-1e300",
    "nan",
    "inf",
    "-inf",
    "0.0001",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967295",
    "4294967296",
    "86400",
    "86401",
    "3601",
    "1000000",
    "1000001",
    "255",
    "256",
    "true",
    "[]",
    "[1, 2]",
    "{}",
    "{ a = 1 }",
    "\"\"",
    "\"/\"",
    "\"..\"",
    "\"../../x\"",
    "\"/etc/shadow\"",
    "\"/tmp:/etc:rw\"",
    "\"\\u001b]0;owned\\u0007\"",
    "\"\\u001b[2J\"",
    "\"\\u009b31m\"",
    "\"\\u202e\"",
    "\"{{sleep}}\"",
    "\"{{\"",
    "\"}}\"",
    "\"{{nope}}\"",
    "\"on-failure:4294967295\"",
    "\"on-failure:0\"",
    "\"always\"",
    "\"no\"",
    "\"unless-stopped\"",
    "\"KILL\"",
    "\"SIGHUP\"",
    "\"65\"",
    "\"daemon-crash\"",
    "\"daemon-start\"",
    "\"docker-stop\"",
    "\"docker-kill\"",
    "\"exit\"",
    "\"oom\"",
    "\"until-told\"",
    "\"forever\"",
    "\"ignore\"",
    "[\"daemon-crash\", \"daemon-start\"]",
    "[{ op = \"wait\", starts = 1 }]",
    "[{ op = \"wait\", for = 1e9 }]",
    "[{ op = \"exit\", code = 256 }]",
    "[{ op = \"crash\", signal = \"NOPE\" }]",
    "[{ op = \"docker-update\", restart = \"sometimes\" }]",
    "{ runs = [] }",
    "{ runs = [\"forever\"], on_stop_signal = { exit = 999 } }",
    "{ exit = 0, after = 0 }",
];

/// Values as `--set` would pass them (no TOML quoting).
const SET_VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "1e20",
    "8000000000",
    "nan",
    "inf",
    "86400",
    "86401",
    "0.5",
    "",
    " ",
    "abc",
    "\u{1b}]0;owned\u{7}",
    "{{sleep}}",
    "../../x",
    "/etc/shadow",
    "10000",
    "10001",
];

const SET_KEYS: &[&str] = &[
    "sleep",
    "restarts",
    "down",
    "back_within",
    "watch",
    "nope",
    "",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// The value after the first `=` of a line.
    ReplaceValue {
        line: usize,
        value: &'static str,
    },
    InsertLine {
        line: usize,
        text: String,
    },
    DeleteLine {
        line: usize,
    },
    DuplicateLine {
        line: usize,
    },
    Truncate {
        at: usize,
    },
    InsertText {
        at: usize,
        text: String,
    },
}

#[derive(Debug, Clone)]
struct Case {
    file: usize,
    mutations: Vec<Mutation>,
    sets: Vec<String>,
    seed: u64,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = 0..200usize;
    let key = prop::sample::select(vec![
        "name",
        "do",
        "tracks",
        "restart",
        "program",
        "stop_timeout",
        "memory_mb",
        "start",
        "counter",
        "script",
        "image",
        "live_restore",
        "counter_matches_starts",
        "running_after_daemon_start",
    ]);
    prop_oneof![
        4 => (line.clone(), prop::sample::select(TOML_VALUES))
            .prop_map(|(line, value)| Mutation::ReplaceValue { line, value }),
        2 => (line.clone(), key, prop::sample::select(TOML_VALUES))
            .prop_map(|(line, key, value)| Mutation::InsertLine { line, text: format!("{key} = {value}") }),
        1 => (line.clone(), prop::sample::select(vec!["[[phases]]", "[checks]", "[services.other]", "[phases.tracks]", "[params]", "[daemon]", "phases = []", "[service]"]))
            .prop_map(|(line, text)| Mutation::InsertLine { line, text: text.to_owned() }),
        1 => line.clone().prop_map(|line| Mutation::DeleteLine { line }),
        1 => line.prop_map(|line| Mutation::DuplicateLine { line }),
        1 => (0..4000usize).prop_map(|at| Mutation::Truncate { at }),
        1 => (0..4000usize, "\\PC{0,12}").prop_map(|(at, text)| Mutation::InsertText { at, text }),
    ]
}

/// A case: half of them start from a valid scenario (so that mutations reach the simulator),
/// the rest from any file of the corpus.
fn case(files: usize, valid: Vec<usize>) -> impl Strategy<Value = Case> {
    let set = (
        prop::sample::select(SET_KEYS),
        prop::sample::select(SET_VALUES),
    )
        .prop_map(|(k, v)| format!("{k}={v}"));
    let file = prop_oneof![0..files, prop::sample::select(valid)];
    (
        file,
        prop::collection::vec(mutation(), 0..5),
        prop::collection::vec(set, 0..3),
        any::<u64>(),
    )
        .prop_map(|(file, mutations, sets, seed)| Case {
            file,
            mutations,
            sets,
            seed,
        })
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut text = text.to_owned();
    for m in mutations {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let n = lines.len().max(1);
        match m {
            Mutation::ReplaceValue { line, value } => {
                if let Some(l) = lines.get_mut(line % n)
                    && let Some((key, _)) = l.split_once('=')
                {
                    *l = format!("{key}= {value}");
                }
            }
            Mutation::InsertLine { line, text } => {
                lines.insert((line % n).min(lines.len()), text.clone())
            }
            Mutation::DeleteLine { line } => {
                if !lines.is_empty() {
                    lines.remove(line % n);
                }
            }
            Mutation::DuplicateLine { line } => {
                if let Some(l) = lines.get(line % n).cloned() {
                    lines.insert(line % n, l);
                }
            }
            Mutation::Truncate { at } => {
                let at = floor_char_boundary(&text, *at);
                text.truncate(at);
                continue;
            }
            Mutation::InsertText { at, text: more } => {
                let at = floor_char_boundary(&text, *at);
                text.insert_str(at, more);
                continue;
            }
        }
        text = lines.join("\n") + "\n";
    }
    text
}

/// How a case ended, when it ended well.
#[derive(Debug)]
enum Ending {
    Refused,
    Simulated,
    /// Parsed, but too long a run for the simulator.
    NotSimulated,
}

static EXECUTIONS: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);
static SIMULATED: AtomicU64 = AtomicU64::new(0);

/// One input through parsing and the simulator. `Err` is a defect: an error that does not say
/// where or what, or a run that failed in a way no input should cause.
fn execute(path: &Path, text: &str, sets: &[String], seed: u64) -> Result<Ending, String> {
    let parsed = scenario::parse_sets(sets).and_then(|sets| scenario::parse(path, text, &sets));
    let scenario = match parsed {
        Ok(scenario) => scenario,
        Err(e) => return located(&e).map(|()| Ending::Refused),
    };
    let options = RunOptions {
        runtime: RuntimeChoice::Sim {
            seed,
            live_restore: false,
            engine: halab_model::EngineVersion::V20_10,
        },
        skip_daemon_phases: false,
        busybox: None,
        state_root: PathBuf::from("/nonexistent"),
        reference: halab_model::Reference::Engine,
        min_late_ms: 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut silent = view::Silent;
    match runtime.block_on(halab_chaos::run(&scenario, &options, &mut silent)) {
        Ok(report) => {
            serde_json::to_string(&report).map_err(|e| format!("the report: {e}"))?;
            let _ = report.summary();
            Ok(Ending::Simulated)
        }
        Err(RunError::SimulationTooLong { .. }) => Ok(Ending::NotSimulated),
        Err(other) => Err(format!("a simulated run failed: {other}")),
    }
}

/// A refusal must say where (file:line:col) or name the flag at fault.
fn located(e: &ScenarioError) -> Result<(), String> {
    let text = e.to_string();
    let ok = match e {
        ScenarioError::Invalid { line, col, .. } => *line >= 1 && *col >= 1,
        ScenarioError::NotAScenarioFile { .. } | ScenarioError::Read { .. } => true,
        ScenarioError::UnknownParam { .. }
        | ScenarioError::BadSet { .. }
        | ScenarioError::BadParamValue { .. } => text.contains("--set"),
        ScenarioError::Unknown { .. } => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("a refusal that does not say where: {text:?}"))
    }
}

/// Runs `execute` on a worker thread, so that a hang is seen as one (and a panic caught).
fn execute_with_deadline(
    path: &Path,
    text: String,
    sets: Vec<String>,
    seed: u64,
) -> Result<Ending, String> {
    let (tx, rx) = mpsc::channel();
    let path = path.to_path_buf();
    let worker = std::thread::Builder::new()
        .name("fuzz-case".into())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(|| execute(&path, &text, &sets, seed));
            let _ = tx.send(outcome);
        })
        .map_err(|e| e.to_string())?;
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(ending)) => {
            let _ = worker.join();
            ending
        }
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!("PANIC: {what}"))
        }
        // The worker is left running: the process ends with the test.
        Err(_) => Err(format!("HANG: no end within {} s", DEADLINE.as_secs())),
    }
}

#[test]
fn no_input_panics_or_hangs() {
    // Panics are caught and reported per case; the default hook would print each one.
    std::panic::set_hook(Box::new(|_| {}));
    let corpus = corpus();
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4000);
    let config = Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        max_shrink_time: 120_000,
        source_file: Some(file!()),
        ..Config::default()
    };
    let began = Instant::now();
    // Every corpus file as it is, first.
    for (path, text) in &corpus {
        let ending = execute_with_deadline(path, text.clone(), vec![], 0);
        EXECUTIONS.fetch_add(1, Ordering::Relaxed);
        match ending {
            Ok(Ending::Refused) => REFUSED.fetch_add(1, Ordering::Relaxed),
            Ok(_) => SIMULATED.fetch_add(1, Ordering::Relaxed),
            Err(defect) => panic!("{}: {defect}", path.display()),
        };
    }
    let mut runner = TestRunner::new(config);
    let valid: Vec<usize> = (0..corpus.len())
        .filter(|&i| {
            corpus[i]
                .0
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("valid-"))
        })
        .collect();
    let outcome = runner.run(&case(corpus.len(), valid), |case| {
        let (path, text) = &corpus[case.file];
        let text = apply(text, &case.mutations);
        let ending = execute_with_deadline(path, text.clone(), case.sets.clone(), case.seed);
        EXECUTIONS.fetch_add(1, Ordering::Relaxed);
        match ending {
            Ok(Ending::Refused) => {
                REFUSED.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                SIMULATED.fetch_add(1, Ordering::Relaxed);
            }
            Err(defect) => {
                return Err(TestCaseError::fail(format!(
                    "{defect}\n--- input (from {}):\n{text}\n--- sets: {:?}",
                    path.display(),
                    case.sets
                )));
            }
        }
        Ok(())
    });
    let _ = std::panic::take_hook();
    let tally = format!(
        "fuzz: {} executions in {:.1} s ({} refused with a location, {} parsed and simulated)",
        EXECUTIONS.load(Ordering::Relaxed),
        began.elapsed().as_secs_f64(),
        REFUSED.load(Ordering::Relaxed),
        SIMULATED.load(Ordering::Relaxed),
    );
    match outcome {
        Ok(()) => println!("{tally}: 0 panics, 0 hangs"),
        Err(e) => panic!("{tally}, and a defect (shrunk, saved in fuzz.proptest-regressions): {e}"),
    }
}
