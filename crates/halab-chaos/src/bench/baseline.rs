//! The seed's way, as the baseline: a bash loop that kills a container's process with `kill -9`
//! (its host PID from `docker inspect`) and polls `docker inspect` until the container runs
//! again with a new PID — one container after another, talking to the lab's socket.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use halab_model::Nanos;

use super::BenchError;

/// The loop. `$1` is the daemon's address, the rest the containers. One line per container:
/// `NAME KILL_US SEEN_US POLLS`, host-clock microseconds (`EPOCHREALTIME`, so no `date` process
/// sits between the kill and the clock). Exits non-zero, saying why on stderr, if a container
/// is not running or does not run again within 2000 polls.
const SCRIPT: &str = r#"
set -u
host=$1; shift
for c in "$@"; do
  pid=$(docker -H "$host" inspect -f '{{.State.Pid}}' "$c") || exit 3
  if [ "$pid" -le 0 ]; then echo "$c is not running" >&2; exit 3; fi
  kill_at=${EPOCHREALTIME/./}
  kill -9 "$pid" || exit 4
  polls=0
  while :; do
    polls=$((polls + 1))
    state=$(docker -H "$host" inspect -f '{{.State.Running}} {{.State.Pid}}' "$c") || exit 3
    now_pid=${state#* }
    if [ "${state%% *}" = true ] && [ "$now_pid" != "$pid" ] && [ "$now_pid" != 0 ]; then break; fi
    if [ "$polls" -ge 2000 ]; then echo "$c did not run again after $polls polls" >&2; exit 5; fi
  done
  seen_at=${EPOCHREALTIME/./}
  echo "$c $kill_at $seen_at $polls"
done
"#;

/// One container crashed and seen running again by the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopCycle {
    pub container: String,
    /// Host clock just before `kill -9`.
    pub kill: Nanos,
    /// Host clock when `docker inspect` first showed it running with a new PID.
    pub seen: Nanos,
    pub polls: u32,
}

impl LoopCycle {
    pub fn ms(&self) -> f64 {
        super::figures::ms_between(self.kill, self.seen)
    }
}

/// Runs the loop over `containers` on the daemon at `docker_host` (`unix://…`). The loop is
/// killed if the benchmark is interrupted (the future dropped).
pub async fn run(
    bash: &Path,
    docker_host: &str,
    containers: &[String],
    timeout: Duration,
) -> Result<Vec<LoopCycle>, BenchError> {
    let child = tokio::process::Command::new(bash)
        .arg("-c")
        .arg(SCRIPT)
        .arg("halab-baseline")
        .arg(docker_host)
        .args(containers)
        // EPOCHREALTIME's decimal point follows the locale.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::Baseline(format!("starting {}: {e}", bash.display())))?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| BenchError::Timeout {
            what: "the bash loop to crash and see every container running again".into(),
            secs: timeout.as_secs(),
        })?
        .map_err(|e| BenchError::Baseline(format!("waiting for the loop: {e}")))?;
    if !output.status.success() {
        return Err(BenchError::Baseline(format!(
            "the loop ended with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let cycles = parse(&stdout)?;
    if cycles.len() != containers.len() {
        return Err(BenchError::Baseline(format!(
            "the loop reported {} of {} containers",
            cycles.len(),
            containers.len()
        )));
    }
    Ok(cycles)
}

/// Reads the loop's lines.
pub fn parse(stdout: &str) -> Result<Vec<LoopCycle>, BenchError> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let bad = || BenchError::Baseline(format!("unexpected line from the loop: {line:?}"));
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [container, kill, seen, polls] = fields[..] else {
                return Err(bad());
            };
            let micros = |s: &str| {
                s.parse::<i64>()
                    .map(|us| Nanos(us * 1000))
                    .map_err(|_| bad())
            };
            Ok(LoopCycle {
                container: container.to_owned(),
                kill: micros(kill)?,
                seen: micros(seen)?,
                polls: polls.parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loops_lines_are_read() {
        let cycles =
            parse("halab-r-c00 1000000 1480000 12\n\nhalab-r-c01 2000000 2500000 13\n").unwrap();
        assert_eq!(cycles.len(), 2);
        assert_eq!(cycles[0].kill, Nanos(1_000_000_000));
        assert_eq!(cycles[0].ms(), 480.0);
        assert_eq!(cycles[1].polls, 13);
        assert!(parse("halab-r-c00 1 2\n").is_err());
        assert!(parse("halab-r-c00 x 2 3\n").is_err());
    }
}
