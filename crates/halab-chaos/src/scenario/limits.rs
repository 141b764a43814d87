//! The range of every number and the shape of every name a scenario takes, in one place. The
//! parser enforces them (an out-of-range value is a located error, exit status 2), `halab
//! scenario limits` prints them, and the book's format reference is that output.
//!
//! Why bounds at all: a scenario file is shared like a CI config, so every value in it is
//! hostile until checked. Unbounded durations overflow virtual time or `Duration`, unbounded
//! counts let the simulator run (and remember) for ever, and an unbounded file or parameter
//! exhausts memory. Each bound is far above anything a run on a real daemon can use.

use std::fmt::Write as _;

/// Seconds any wait, hold, timeout or simulated run time may be: a day.
pub const MAX_SECONDS: f64 = 86_400.0;
/// Starts a phase may wait for.
pub const UNTIL_STARTS: (u64, u64) = (1, 10_000);
/// `docker stop`'s grace period, in seconds.
pub const STOP_TIMEOUT_SECS: (i64, i64) = (0, 3_600);
/// `on-failure:N`; 0 means no maximum, as in Docker.
pub const MAX_ON_FAILURE_RETRIES: u32 = 1_000_000;
/// A process's exit status.
pub const EXIT_CODE: (i64, i64) = (0, 255);
/// The counter's value before the service first runs.
pub const MAX_COUNTER_INITIAL: u64 = 1_000_000_000_000;
/// Phases in one scenario.
pub const PHASES: (usize, usize) = (1, 1_000);
/// Services in one scenario (on one daemon).
pub const SERVICES: (usize, usize) = (1, 64);
/// Tracks in one phase.
pub const TRACKS: (usize, usize) = (1, 64);
/// Operations in one list (a phase's `do`, or one track).
pub const OPS_PER_TRACK: (usize, usize) = (1, 1_000);
/// Runs a program lists (the last one repeats).
pub const MAX_RUNS: usize = 100;
/// A health check's `interval`, in seconds. Docker takes down to a millisecond
/// (`MinimumDuration`), but every probe is an `exec` the daemon logs as events, and faster than
/// ten a second they would crowd out of the daemon's event log the events a run reads back
/// after a daemon restart.
pub const HEALTH_INTERVAL_SECS: (f64, f64) = (0.1, 3_600.0);
/// A health check's `timeout`, in seconds. The model's probes answer at once; a probe on a
/// loaded daemon takes tens of milliseconds and more, so a shorter timeout would fail on the
/// daemon a probe the model passes.
pub const HEALTH_TIMEOUT_SECS: (f64, f64) = (1.0, 3_600.0);
/// A health check's `start_period`, in seconds.
pub const HEALTH_START_PERIOD_SECS: (f64, f64) = (0.0, 3_600.0);
/// A health check's `retries`: the failing streak that makes a container unhealthy.
pub const HEALTH_RETRIES: (u32, u32) = (1, 100);
/// Bytes of a health check's command, with its parameters applied.
pub const MAX_HEALTH_CMD_BYTES: usize = 4 * 1024;
/// A service's memory limit, in MiB.
pub const MEMORY_MB: (u64, u64) = (8, 65_536);
/// Characters in a service's name: it names the container, its directory and its label.
pub const MAX_SERVICE_NAME_CHARS: usize = 32;
/// Characters in a scenario's name, a phase's name or a parameter's name.
pub const MAX_NAME_CHARS: usize = 64;
/// Characters in a summary or a parameter's help.
pub const MAX_SUMMARY_CHARS: usize = 200;
/// Bytes of a service's script, with its parameters applied.
pub const MAX_SCRIPT_BYTES: usize = 64 * 1024;
/// Bytes of a value given with `--set`.
pub const MAX_SET_VALUE_BYTES: usize = 4 * 1024;
/// Bytes of a scenario file.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Bytes of the counter directory's path in the container.
pub const MAX_CONTAINER_PATH_BYTES: usize = 1024;
/// Bytes of the counter file's name (a file name's limit on Linux).
pub const MAX_FILE_NAME_BYTES: usize = 255;
/// Where nothing may be mounted: the container's own root and its kernel filesystems (runc
/// refuses a bind mount over `/proc`; over `/sys` or `/dev` the container would not work).
pub const RESERVED_CONTAINER_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];
/// Properties listed in a saved schedule's `[found].failed`.
pub const MAX_FOUND_FAILED: usize = 1_000;
/// History entries one simulated run may make before the simulator stops it: a scenario whose
/// service restarts without end would otherwise run (and remember) until memory ran out.
pub const MAX_SIM_ENTRIES: usize = 1_000_000;

/// Why `name` cannot name a service, if it cannot: `[a-z0-9][a-z0-9-]*`, at most
/// [`MAX_SERVICE_NAME_CHARS`].
pub fn service_name_problem(name: &str) -> Option<String> {
    name_problem(name, "service")
}

/// Why `name` cannot name a phase's track, if it cannot: the shape of a service's name (a
/// track is often named after one).
pub fn track_name_problem(name: &str) -> Option<String> {
    name_problem(name, "track")
}

fn name_problem(name: &str, what: &str) -> Option<String> {
    let shown = crate::text::one_line(name);
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !first_ok || !rest_ok {
        Some(format!(
            "`{shown}` cannot name a {what}: lowercase letters, digits and `-`, starting with a letter or digit"
        ))
    } else if name.len() > MAX_SERVICE_NAME_CHARS {
        Some(format!(
            "`{shown}` is {} characters long; a {what}'s name has at most {MAX_SERVICE_NAME_CHARS}",
            name.len()
        ))
    } else {
        None
    }
}

/// Thousands separated by a thin space, as the book writes numbers.
fn n(value: impl Into<f64>) -> String {
    let value: f64 = value.into();
    let digits = format!("{}", value.trunc() as i64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 && c != '-' {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// Every limit as a Markdown table: field, what is allowed, why.
pub fn reference_table() -> String {
    let secs = format!("0 to {} s", n(MAX_SECONDS));
    let rows: Vec<(&str, String, &str)> = vec![
        (
            "the file",
            format!(
                "a regular file of at most {} bytes",
                n(MAX_FILE_BYTES as f64)
            ),
            "not a FIFO or a device: reading one would hang or never end",
        ),
        (
            "`name`, `phases[].name`, parameter names",
            format!("1 to {MAX_NAME_CHARS} characters, no control characters"),
            "printed to terminals; phase names must also be unique",
        ),
        (
            "`summary`, parameter `help`",
            format!("at most {MAX_SUMMARY_CHARS} characters, no control characters"),
            "printed to terminals",
        ),
        (
            "`--set NAME=VALUE`",
            format!("a value of at most {} bytes", n(MAX_SET_VALUE_BYTES as f64)),
            "then checked like the field it lands in",
        ),
        (
            "`phases`",
            format!("{} to {} phases", PHASES.0, n(PHASES.1 as f64)),
            "a scenario with no phase checks nothing",
        ),
        (
            "a phase's `do`, one track",
            format!(
                "{} to {} operations; a phase has {} to {} tracks",
                OPS_PER_TRACK.0,
                n(OPS_PER_TRACK.1 as f64),
                TRACKS.0,
                TRACKS.1
            ),
            "an empty list does nothing; a bound keeps a run and its history finite",
        ),
        (
            "`services`",
            format!("{} to {} services", SERVICES.0, SERVICES.1),
            "each service is a container of the lab, with its own directory",
        ),
        (
            "a service's name",
            format!("`[a-z0-9][a-z0-9-]*`, at most {MAX_SERVICE_NAME_CHARS} characters"),
            "it names the container, its directory and its label",
        ),
        (
            "`wait`: `for`, `until`, `timeout`; `program.runs[].after`",
            secs.clone(),
            "a day",
        ),
        (
            "`wait`: `starts`, `dies`",
            format!("{} to {}", UNTIL_STARTS.0, n(UNTIL_STARTS.1 as f64)),
            "0 would wait for nothing",
        ),
        (
            "`crash`, `docker-kill`: `signal`",
            "1 to 64, or a name".into(),
            "Linux signal numbers",
        ),
        (
            "`exit`: `code`; `program.runs[].exit`; `on_stop_signal.exit`",
            format!("{} to {}", EXIT_CODE.0, EXIT_CODE.1),
            "an exit status",
        ),
        (
            "`program.runs`",
            format!("at most {MAX_RUNS} runs"),
            "the last one repeats",
        ),
        (
            "`memory_mb`",
            format!("{} to {} MiB", MEMORY_MB.0, n(MEMORY_MB.1 as f64)),
            "needed for an `oom` operation",
        ),
        (
            "`restart`, `docker-update`: `restart`",
            format!(
                "`on-failure:N` with N from 0 to {}",
                n(MAX_ON_FAILURE_RETRIES)
            ),
            "0 means no maximum, as in Docker",
        ),
        (
            "`stop_timeout`; `docker-stop`, `docker-restart`: `timeout`",
            format!(
                "{} to {} s",
                STOP_TIMEOUT_SECS.0,
                n(STOP_TIMEOUT_SECS.1 as f64)
            ),
            "an hour",
        ),
        (
            "`healthcheck`: `interval`",
            format!(
                "{} to {} s",
                HEALTH_INTERVAL_SECS.0,
                n(HEALTH_INTERVAL_SECS.1)
            ),
            "each probe is an `exec` the daemon logs; Docker's default is 30 s",
        ),
        (
            "`healthcheck`: `timeout`",
            format!(
                "{} to {} s",
                HEALTH_TIMEOUT_SECS.0,
                n(HEALTH_TIMEOUT_SECS.1)
            ),
            "the model's probes answer at once; Docker's default is 30 s",
        ),
        (
            "`healthcheck`: `start_period`",
            format!(
                "{} to {} s",
                HEALTH_START_PERIOD_SECS.0,
                n(HEALTH_START_PERIOD_SECS.1)
            ),
            "an hour; Docker's default is 0",
        ),
        (
            "`healthcheck`: `retries`",
            format!("{} to {}", HEALTH_RETRIES.0, HEALTH_RETRIES.1),
            "Docker's default is 3",
        ),
        (
            "`healthcheck`: `cmd`",
            format!(
                "1 to {} bytes, parameters applied, on one line",
                n(MAX_HEALTH_CMD_BYTES as f64)
            ),
            "run by the container's shell; `passes` tells the model its outcome unless it is `true` or `false`",
        ),
        (
            "`script`",
            format!(
                "at most {} bytes, parameters applied",
                n(MAX_SCRIPT_BYTES as f64)
            ),
            "passed to the container as an argument",
        ),
        (
            "`counter.dir`",
            format!(
                "an absolute path in the container, at most {} bytes, without `:`, `.` or `..`; not `/`, not under {}",
                n(MAX_CONTAINER_PATH_BYTES as f64),
                RESERVED_CONTAINER_DIRS.join(", ")
            ),
            "the bind mount's target: Docker would refuse the rest, seconds into the run",
        ),
        (
            "`counter.file`",
            format!(
                "a file name (no `/`, not starting with `.`), 1 to {MAX_FILE_NAME_BYTES} bytes"
            ),
            "created inside the service's own directory, never outside it",
        ),
        (
            "`counter.initial`",
            format!("0 to {}", n(MAX_COUNTER_INITIAL as f64)),
            "the service's shell counts in 64 bits",
        ),
        ("`checks.running_after_daemon_start.within`", secs, "a day"),
        (
            "`found.failed`",
            format!(
                "at most {} properties of at most {MAX_SUMMARY_CHARS} characters",
                n(MAX_FOUND_FAILED as f64)
            ),
            "printed to terminals",
        ),
        (
            "a simulated run (`--runtime sim`)",
            format!("at most {} history entries", n(MAX_SIM_ENTRIES as f64)),
            "past it the run stops with an error instead of filling memory",
        ),
    ];
    let mut out = String::from("| what | allowed | why |\n|---|---|---|\n");
    for (what, allowed, why) in rows {
        let _ = writeln!(out, "| {what} | {allowed} | {why} |");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(n(86_400.0), "86\u{202f}400");
        assert_eq!(n(255), "255");
        assert_eq!(
            n(1_000_000_000_000_f64),
            "1\u{202f}000\u{202f}000\u{202f}000\u{202f}000"
        );
    }
}
