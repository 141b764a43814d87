//! What a halab command costs while it runs: CPU time over wall time, and peak RSS.
//!
//! The command runs as our child. Its counters are read from `/proc/PID/stat` once it has
//! exited but before it is reaped: a zombie keeps the same user+sys totals `wait4` would
//! return, read without unsafe code. Only the child's own time is its cost; the time of the
//! children *it* reaped (a dockerd it started, say) is reported apart. Peak RSS is `VmHWM` from
//! `/proc/PID/status`, sampled every [`SAMPLE_EVERY`] while it runs (a high-water mark, so a
//! sample only misses growth in the last interval).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;

pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Clock ticks per second in `/proc/PID/stat`: USER_HZ, which Linux fixes at 100 for
/// userspace on every architecture halab runs on.
const USER_HZ: f64 = 100.0;

/// The command to run, as words with `{duration}` (seconds) and `{lab}` filled in. Split on
/// whitespace (no shell), so no value can smuggle in a command.
pub fn expand(template: &str, duration: Duration, lab: &str) -> Vec<String> {
    template
        .split_whitespace()
        .map(|word| {
            word.replace("{duration}", &duration.as_secs().to_string())
                .replace("{lab}", lab)
        })
        .collect()
}

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    pub state: char,
    /// utime + stime, in clock ticks: the process's own CPU time.
    pub own_ticks: u64,
    /// cutime + cstime: the CPU time of the children it waited for.
    pub children_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime..cstime are fields 14..17.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        state: fields.first()?.chars().next()?,
        own_ticks: field(14)? + field(15)?,
        children_ticks: field(16)? + field(17)?,
    })
}

/// `VmHWM` from `/proc/PID/status`, in KiB.
pub fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The cost of one run of a command.
#[derive(Debug, Clone)]
pub struct Cost {
    pub args: Vec<String>,
    pub wall: Duration,
    pub own_cpu: Duration,
    pub children_cpu: Duration,
    pub peak_rss_kib: Option<u64>,
    /// Its exit status (`None`: killed by a signal).
    pub status: Option<i32>,
    /// The end of what it printed (stdout and stderr), to say why it failed.
    pub log_tail: String,
}

impl Cost {
    /// CPU time over wall time, in percent of one core.
    pub fn cpu_percent(&self) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        (wall > 0.0).then(|| self.own_cpu.as_secs_f64() / wall * 100.0)
    }

    pub fn peak_rss_mib(&self) -> Option<f64> {
        self.peak_rss_kib.map(|kib| kib as f64 / 1024.0)
    }
}

/// A command running as our child, until [`measure`] has reaped it. Held by the benchmark's
/// resources, so that an interrupted benchmark ends it (and lets it tidy up) before the lab
/// goes away.
pub struct Running {
    child: Child,
    started: Instant,
    args: Vec<String>,
    log: PathBuf,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the command to stop (SIGTERM: halab tears its run down), waits for it up to
    /// `grace`, then kills it.
    pub async fn terminate(mut self, bash: &Path, grace: Duration) {
        let pid = self.pid().to_string();
        // `kill` through bash: the benchmark has no unsafe code and no signal crate of its own.
        let _ = tokio::process::Command::new(bash)
            .args(["-c", "kill -s TERM \"$1\"", "halab-bench", &pid])
            .status()
            .await;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `halab ARGS…` with `HALAB_STATE_DIR=state_root`, its output into `log`.
pub fn spawn(
    halab: &Path,
    args: Vec<String>,
    state_root: &Path,
    log: PathBuf,
) -> Result<Running, BenchError> {
    let file = std::fs::File::create(&log).map_err(|source| BenchError::WorkDir {
        path: log.clone(),
        source,
    })?;
    let err = file.try_clone().map_err(|source| BenchError::WorkDir {
        path: log.clone(),
        source,
    })?;
    let mut command = std::process::Command::new(halab);
    // In the benchmark's own directory: a chaos run writes its report directory under the
    // current one, and that goes with the benchmark's run.
    if let Some(dir) = log.parent() {
        command.current_dir(dir);
    }
    let child = command
        .args(&args)
        .env("HALAB_STATE_DIR", state_root)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| BenchError::Cost(format!("starting {}: {e}", halab.display())))?;
    Ok(Running {
        child,
        started: Instant::now(),
        args,
        log,
    })
}

/// Samples the command until it exits, then reaps it. `None` back in `slot` once reaped.
pub async fn measure(slot: &mut Option<Running>) -> Result<Cost, BenchError> {
    let running = slot
        .as_mut()
        .ok_or_else(|| BenchError::Cost("no command is running".into()))?;
    let pid = running.pid();
    let mut peak_kib: Option<u64> = None;
    let mut last: Option<Stat> = None;
    let ended = loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|text| parse_stat(&text));
        match stat {
            // Exited, not reaped: its totals are final.
            Some(stat) if stat.state == 'Z' || stat.state == 'X' => {
                last = Some(stat);
                break Instant::now();
            }
            Some(stat) => {
                last = Some(stat);
                if let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|text| parse_vm_hwm_kib(&text))
                {
                    peak_kib = Some(peak_kib.map_or(kib, |p| p.max(kib)));
                }
            }
            // Only we reap it, so it cannot be gone; if /proc cannot be read, stop sampling.
            None => break Instant::now(),
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    };
    let mut running = slot.take().expect("checked above");
    let status = running
        .child
        .wait()
        .map_err(|e| BenchError::Cost(format!("waiting for the command: {e}")))?;
    let ticks = |t: u64| Duration::from_secs_f64(t as f64 / USER_HZ);
    let last = last.unwrap_or_default();
    Ok(Cost {
        args: running.args,
        wall: ended - running.started,
        own_cpu: ticks(last.own_ticks),
        children_cpu: ticks(last.children_ticks),
        peak_rss_kib: peak_kib,
        status: status.code(),
        log_tail: tail(&running.log, 6),
    })
}

/// The last `lines` lines of a file, or nothing.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_read_past_a_name_with_spaces_and_parens() {
        let text = "4242 (halab (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 4 0 \
                    123 456 789";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                state: 'S',
                own_ticks: 300,
                children_ticks: 10,
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) Z 1 2"), None);
    }

    #[test]
    fn vm_hwm_is_read_in_kib() {
        let status = "Name:\thalab\nVmPeak:\t  90000 kB\nVmHWM:\t   23456 kB\nVmRSS:\t 20000 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(23456));
        assert_eq!(parse_vm_hwm_kib("Name:\tzombie\n"), None);
    }

    #[test]
    fn the_command_is_words_with_placeholders_filled() {
        assert_eq!(
            expand(
                "chaos run chaos/mixed-eight  --duration {duration} --lab {lab}",
                Duration::from_secs(60),
                "20261201-120000-abcd"
            ),
            [
                "chaos",
                "run",
                "chaos/mixed-eight",
                "--duration",
                "60",
                "--lab",
                "20261201-120000-abcd"
            ]
        );
    }

    #[test]
    fn our_own_stat_parses() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let stat = parse_stat(&text).unwrap();
        // The process as a whole: its main thread may sleep while this test thread runs.
        assert!(stat.state.is_ascii_alphabetic(), "{stat:?}");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(parse_vm_hwm_kib(&status).unwrap() > 0);
    }
}
