//! Processes seen through /proc: pid files, scans, descendant sets, signals and waiting for exit.
//!
//! A process is identified by its pid *and* its start time, so that a pid reused by an unrelated
//! process is never mistaken for ours, and zombies count as gone: they run nothing, and on some
//! hosts PID 1 never reaps the orphans it inherits.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::LabError;

/// How often waits look at /proc again.
const POLL: Duration = Duration::from_millis(50);

/// One process, as read from `/proc/<pid>/stat` and `/proc/<pid>/cmdline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// The one-letter state from `stat`; `Z` is a zombie.
    pub state: char,
    /// Start time in clock ticks since boot: with the pid, a unique identity.
    pub start_time: u64,
    /// Arguments; empty for kernel threads and zombies.
    pub cmdline: Vec<String>,
}

impl ProcInfo {
    /// Runs something: neither a zombie nor dead (`X`).
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }

    /// The program's file name, from `argv[0]`.
    pub fn program(&self) -> &str {
        self.cmdline
            .first()
            .map(|arg0| arg0.rsplit('/').next().unwrap_or(arg0))
            .unwrap_or("")
    }

    /// Whether any argument mentions `dir` itself or a path below it, as a whole path: at the
    /// start of the argument or after `=` or `://` (`--data-root=DIR`, `unix://DIR/docker.sock`),
    /// and followed by `/` or the end (so lab `a` never matches lab `ab`, nor `/x/s` match `/s`).
    pub fn mentions_dir(&self, dir: &Path) -> bool {
        let dir = dir.to_string_lossy();
        self.cmdline.iter().any(|arg| {
            arg.match_indices(dir.as_ref()).any(|(start, _)| {
                let before = &arg[..start];
                let after = &arg[start + dir.len()..];
                let starts_path =
                    before.is_empty() || before.ends_with('=') || before.ends_with("://");
                let ends_path = after.is_empty() || after.starts_with('/');
                starts_path && ends_path
            })
        })
    }
}

/// Reads one process; `None` when it does not exist (any more).
pub fn read(pid: u32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (ppid, state, start_time) = parse_stat(&stat)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    Some(ProcInfo {
        pid,
        ppid,
        state,
        start_time,
        cmdline: split_cmdline(&cmdline),
    })
}

/// `(ppid, state, starttime)` from a `/proc/<pid>/stat` line. The command name sits in
/// parentheses and may itself contain spaces and parentheses, so fields are counted from the
/// last `)`.
pub fn parse_stat(stat: &str) -> Option<(u32, char, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After the comm: state(3) ppid(4) ... starttime(22), numbering as in proc(5).
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some((ppid, state, start_time))
}

fn split_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// Every process on the host, at one moment.
pub fn scan() -> Vec<ProcInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read)
        .collect()
}

/// `roots` and every process below them in the parent tree of `procs`.
pub fn with_descendants(roots: &BTreeSet<u32>, procs: &[ProcInfo]) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for proc in procs {
        children.entry(proc.ppid).or_default().push(proc.pid);
    }
    let mut found = BTreeSet::new();
    let mut todo: Vec<u32> = roots.iter().copied().collect();
    while let Some(pid) = todo.pop() {
        if found.insert(pid) {
            todo.extend(children.get(&pid).into_iter().flatten().copied());
        }
    }
    found
}

/// Our own pid and all our ancestors: never signalled, whatever matches.
pub fn self_and_ancestors() -> BTreeSet<u32> {
    let mut protected = BTreeSet::from([1]);
    let mut pid = std::process::id();
    while pid > 1 && protected.insert(pid) {
        match read(pid) {
            Some(proc) => pid = proc.ppid,
            None => break,
        }
    }
    protected
}

/// A live process with this pid and start time still exists.
pub fn is_running(pid: u32, start_time: u64) -> bool {
    read(pid).is_some_and(|proc| proc.start_time == start_time && proc.is_live())
}

/// A process by pid *and* start time: the same pid later names another process only with
/// another start time, so an identity outlives pid reuse. Serialised in run records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    /// Clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

impl ProcessId {
    /// This process.
    pub fn current() -> Option<ProcessId> {
        ProcessId::of(std::process::id())
    }

    /// The process that has `pid` now, if one has.
    pub fn of(pid: u32) -> Option<ProcessId> {
        read(pid).map(|proc| proc.identity())
    }

    /// Whether the process still runs (a zombie does not).
    pub fn is_running(self) -> bool {
        is_running(self.pid, self.start_time)
    }

    /// Resolves when the process has exited (at once if it already has). Event-driven through a
    /// pidfd, which becomes readable when the process ends, also for a process that is not our
    /// child: no polling of /proc.
    pub async fn exited(self) -> std::io::Result<()> {
        use rustix::process::{Pid as RawPid, PidfdFlags, pidfd_open};
        let Some(pid) = i32::try_from(self.pid).ok().and_then(RawPid::from_raw) else {
            return Ok(());
        };
        let fd = match pidfd_open(pid, PidfdFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        // The pid may have been reused between reading the identity and opening the pidfd.
        if !self.is_running() {
            return Ok(());
        }
        // `with_interest` is deprecated because an arbitrary `AsRawFd` may swap the descriptor
        // it exposes after registration; an `OwnedFd` never does, and the sound replacement
        // (`register_with_interest`) is `unsafe`, which this workspace denies.
        #[allow(deprecated)]
        let fd = tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)?;
        let _ready = fd.readable().await?;
        Ok(())
    }
}

impl ProcInfo {
    pub fn identity(&self) -> ProcessId {
        ProcessId {
            pid: self.pid,
            start_time: self.start_time,
        }
    }
}

/// The pid written in a pid file, if the file exists and holds a number.
pub fn read_pidfile(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Sends `signal`; a process that is already gone is not an error.
pub fn send(pid: u32, signal: Signal) -> Result<(), LabError> {
    let raw = i32::try_from(pid).map_err(|_| LabError::Sys {
        action: format!("send {signal} to pid {pid}"),
        source: nix::Error::EINVAL,
    })?;
    match kill(Pid::from_raw(raw), signal) {
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(source) => Err(LabError::Sys {
            action: format!("send {signal} to pid {pid}"),
            source,
        }),
    }
}

/// Whether the process has ended with all its threads: its pid is free or names another
/// process, or it is a zombie whose thread group is empty.
///
/// Why not merely a zombie: a killed leader can be a zombie while its other threads are still
/// exiting, and they hold the file table they share. A dockerd in that state still has its
/// listening socket: a client's connect succeeds, and is reset when the last thread closes it
/// — a call cut off, as far as the client can tell, by a daemon already reported gone.
pub fn has_ended(pid: u32, start_time: u64) -> bool {
    match read(pid) {
        Some(proc) if proc.start_time == start_time => !proc.is_live() && threads_left(pid) <= 1,
        _ => true,
    }
}

/// Entries in `/proc/PID/task`: the threads not yet gone (a zombie leader is one of them).
fn threads_left(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

/// Waits until every one of `procs` (pid + start time) has ended (see [`has_ended`]); returns
/// those not ended at the deadline.
pub async fn wait_gone(procs: &[(u32, u64)], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<u32> = procs
            .iter()
            .filter(|(pid, start)| !has_ended(*pid, *start))
            .map(|(pid, _)| *pid)
            .collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let stat = "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \
                    987654 1 2 3";
        assert_eq!(parse_stat(stat), Some((17, 'S', 987654)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn reads_itself() {
        let me = read(std::process::id()).expect("own /proc entry");
        assert!(me.is_live());
        assert!(!me.cmdline.is_empty());
        assert!(is_running(me.pid, me.start_time));
        assert!(
            !is_running(me.pid, me.start_time + 1),
            "start time is part of identity"
        );
        assert!(self_and_ancestors().contains(&me.pid));
    }

    #[tokio::test]
    async fn exits_are_seen_through_a_pidfd() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        let id = read(child.id()).unwrap().identity();
        assert!(id.is_running());
        let began = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), id.exited())
            .await
            .expect("the exit is seen")
            .unwrap();
        assert!(began.elapsed() >= Duration::from_millis(250));
        child.wait().unwrap();
        assert!(!id.is_running());
        id.exited().await.unwrap();
        assert_eq!(
            ProcessId::current().map(|me| me.pid),
            Some(std::process::id())
        );
    }

    /// A leader that exits alone (`SYS_exit`, not `exit_group`) is a zombie while its other
    /// thread, reading a line, runs on: what a SIGKILLed dockerd is for an instant, still
    /// holding its socket.
    const LEADER_EXITS_FIRST: &str = "
import ctypes, os, platform, sys, threading
threading.Thread(target=sys.stdin.readline).start()
print(os.getpid(), flush=True)
# ctypes lets go of the interpreter lock before the call, so the other thread can end.
ctypes.CDLL(None).syscall({'x86_64': 60, 'aarch64': 93}[platform.machine()], 0)
";

    #[test]
    fn a_zombie_leader_has_not_ended_while_its_threads_run() {
        let mut child = std::process::Command::new("python3")
            .args(["-c", LEADER_EXITS_FIRST])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (the CI installs its tools with pip)");
        let id = read(child.id()).unwrap().identity();
        let mut pid = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut pid,
        )
        .unwrap();
        assert_eq!(pid.trim(), id.pid.to_string());
        let until = |done: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !done() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            done()
        };
        assert!(
            until(&|| read(id.pid).is_some_and(|p| p.state == 'Z')),
            "the leader became a zombie"
        );
        assert!(!id.is_running(), "a zombie does not run");
        assert!(!has_ended(id.pid, id.start_time), "its other thread does");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"end\n").unwrap();
        assert!(
            until(&|| has_ended(id.pid, id.start_time)),
            "ended with its last thread, before it is reaped"
        );
        child.wait().unwrap();
        assert!(has_ended(id.pid, id.start_time));
    }

    #[test]
    fn descendants_follow_the_parent_tree() {
        let proc = |pid, ppid| ProcInfo {
            pid,
            ppid,
            state: 'S',
            start_time: 0,
            cmdline: vec![],
        };
        let procs = [
            proc(10, 1),
            proc(11, 10),
            proc(12, 11),
            proc(20, 1),
            proc(21, 20),
        ];
        let found = with_descendants(&BTreeSet::from([10]), &procs);
        assert_eq!(found, BTreeSet::from([10, 11, 12]));
    }

    #[test]
    fn dir_mentions_need_a_path_boundary() {
        let proc = |args: &[&str]| ProcInfo {
            pid: 1,
            ppid: 0,
            state: 'S',
            start_time: 0,
            cmdline: args.iter().map(|a| a.to_string()).collect(),
        };
        let dir = Path::new("/s/labs/a");
        assert!(proc(&["dockerd", "--data-root", "/s/labs/a/data"]).mentions_dir(dir));
        assert!(proc(&["dockerd", "--data-root=/s/labs/a"]).mentions_dir(dir));
        assert!(proc(&["shim", "-address", "/s/labs/a/exec/c.sock"]).mentions_dir(dir));
        assert!(!proc(&["dockerd", "--data-root", "/s/labs/ab/data"]).mentions_dir(dir));
        assert!(!proc(&["x", "/s/labs/a-b"]).mentions_dir(dir));
        assert!(!proc(&["x", "/x/s/labs/a/data"]).mentions_dir(dir));
        assert!(proc(&["docker", "-H", "unix:///s/labs/a/docker.sock"]).mentions_dir(dir));
    }

    #[test]
    fn pidfile_parsing_tolerates_whitespace() {
        let path = std::env::temp_dir().join(format!("halab-lab-pid-{}", std::process::id()));
        std::fs::write(&path, "1234\n").unwrap();
        assert_eq!(read_pidfile(&path), Some(1234));
        std::fs::write(&path, "nope").unwrap();
        assert_eq!(read_pidfile(&path), None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read_pidfile(&path), None);
    }
}
