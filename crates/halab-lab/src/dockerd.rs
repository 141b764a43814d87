//! The lab's dockerd: how it is started (always inside the lab's netns), how it is found again
//! from another process, and how we know it is ready.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use crate::error::LabError;
use crate::host::{Binaries, child_path};
use crate::meta::LabOptions;
use crate::netns;
use crate::paths::LabPaths;
use crate::process::{self, ProcInfo};

/// How long `up` and `start` wait for `/_ping`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// One `/_ping` attempt; dockerd answers in microseconds once it listens.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
const PING_INTERVAL: Duration = Duration::from_millis(100);
/// Lines of dockerd.log quoted in errors.
pub const LOG_TAIL_LINES: usize = 20;

/// The full command line: `nsenter --net=<netns> dockerd …`. nsenter without `--fork` execs
/// dockerd, so the pid we spawn is dockerd's pid. `ip netns exec` cannot be used: it remounts
/// /sys, and dockerd then fails with "Devices cgroup isn't mounted".
pub fn command_line(bins: &Binaries, paths: &LabPaths, options: &LabOptions) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    let mut args = vec![
        path(&bins.nsenter),
        format!("--net={}", netns::path(&paths.netns()).display()),
        path(&bins.dockerd),
        // Required: without it dockerd also reads /etc/docker/daemon.json, whose data-root
        // clashes with ours, and the host's settings would leak into the lab.
        "--config-file".into(),
        path(&paths.daemon_config()),
        "-H".into(),
        paths.docker_host(),
        "--data-root".into(),
        path(&paths.data_root()),
        "--exec-root".into(),
        path(&paths.exec_root()),
        "--pidfile".into(),
        path(&paths.pidfile()),
        format!("--cgroup-parent={}", paths.cgroup_parent()),
    ];
    if options.live_restore {
        args.push("--live-restore".into());
    }
    for (key, value) in &options.labels {
        args.push("--label".into());
        args.push(format!("{key}={value}"));
    }
    args
}

/// A dockerd we just started; `exited` fires with its exit status when it ends while we live.
pub struct Spawned {
    pub pid: u32,
    pub exited: oneshot::Receiver<ExitStatus>,
}

/// Starts dockerd detached from us: its own process group (a Ctrl-C in halab's terminal does
/// not reach it), stdin from /dev/null, stdout and stderr appended to dockerd.log, cwd in the
/// lab dir. It outlives halab; while halab lives, a thread reaps it so it never lingers as a
/// zombie (which would still answer `kill(pid, 0)`).
pub fn spawn(bins: &Binaries, paths: &LabPaths, options: &LabOptions) -> Result<Spawned, LabError> {
    let log_path = paths.log_file();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| LabError::io("open", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| LabError::io("open", &log_path, e))?;
    let argv = command_line(bins, paths, options);
    let rendered = argv.join(" ");
    tracing::info!(lab = %paths.name, command = %rendered, "starting dockerd");
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&paths.dir)
        .env("PATH", child_path())
        // Never let the lab daemon talk to a service manager that is not managing it.
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: rendered,
            source,
        })?;
    let pid = child.id();
    let (tx, exited) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("reap-dockerd-{pid}"))
        .spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        })
        .map_err(|source| LabError::Spawn {
            command: "a thread to reap dockerd".into(),
            source,
        })?;
    Ok(Spawned { pid, exited })
}

/// Whether this process is the lab's dockerd: program `dockerd`, listening on the lab's socket.
pub fn is_lab_dockerd(proc: &ProcInfo, paths: &LabPaths) -> bool {
    let host = paths.docker_host();
    proc.is_live() && proc.program() == "dockerd" && proc.cmdline.contains(&host)
}

/// The lab's live dockerd, if any: from the pid file first, else by scanning /proc (the pid file
/// is written a moment after start, and a pid in it may since have been reused).
pub fn find(paths: &LabPaths) -> Option<ProcInfo> {
    if let Some(proc) = process::read_pidfile(&paths.pidfile())
        .and_then(process::read)
        .filter(|proc| is_lab_dockerd(proc, paths))
    {
        return Some(proc);
    }
    process::scan()
        .into_iter()
        .find(|proc| is_lab_dockerd(proc, paths))
}

/// Removes pid files a killed dockerd or containerd left behind whose pid no longer belongs to
/// them. dockerd refuses to start while its pid file names any live process, and it trusts a
/// containerd pid file that names any live process; after a crash both pids may be reused.
pub fn remove_stale_pidfiles(paths: &LabPaths) -> Result<(), LabError> {
    remove_pidfile_unless(&paths.pidfile(), |proc| is_lab_dockerd(proc, paths))?;
    remove_pidfile_unless(&paths.containerd_pidfile(), |proc| {
        is_lab_containerd(proc, paths)
    })
}

/// The containerd the lab's dockerd started for itself, as its pid file names it, if it runs.
pub fn find_containerd(paths: &LabPaths) -> Option<ProcInfo> {
    process::read_pidfile(&paths.containerd_pidfile())
        .and_then(process::read)
        .filter(|proc| is_lab_containerd(proc, paths))
}

fn is_lab_containerd(proc: &ProcInfo, paths: &LabPaths) -> bool {
    proc.is_live() && proc.program() == "containerd" && proc.mentions_dir(&paths.exec_root())
}

fn remove_pidfile_unless(
    pidfile: &Path,
    names_ours: impl Fn(&ProcInfo) -> bool,
) -> Result<(), LabError> {
    let Some(pid) = process::read_pidfile(pidfile) else {
        return Ok(());
    };
    if process::read(pid).is_some_and(|proc| names_ours(&proc)) {
        return Ok(());
    }
    tracing::debug!(pidfile = %pidfile.display(), pid, "removing stale pid file");
    match std::fs::remove_file(pidfile) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LabError::io("remove stale pid file", pidfile, e))
        }
        _ => Ok(()),
    }
}

/// One readiness probe: `GET /_ping` over the unix socket, ready when the body is `OK`.
pub async fn ping(socket: &Path) -> std::io::Result<bool> {
    let exchange = async {
        let mut stream = UnixStream::connect(socket).await?;
        stream
            .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        // HTTP/1.0: the daemon closes the connection after the response.
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(PING_TIMEOUT, exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer to /_ping"))??;
    Ok(is_ping_ok(&response))
}

/// A `200` status line and the body `OK`.
fn is_ping_ok(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let status_ok = head
        .lines()
        .next()
        .is_some_and(|status| status.split_whitespace().nth(1) == Some("200"));
    status_ok && body.trim() == "OK"
}

/// Waits until the lab's dockerd answers `/_ping`, failing early when it exits. On failure the
/// error quotes the end of dockerd.log.
pub async fn wait_ready(paths: &LabPaths, spawned: &mut Spawned) -> Result<Duration, LabError> {
    let started = Instant::now();
    let socket = paths.socket();
    let reason = loop {
        let probe = match ping(&socket).await {
            Ok(true) => return Ok(started.elapsed()),
            Ok(false) => "/_ping did not answer OK".to_owned(),
            Err(e) => e.to_string(),
        };
        match spawned.exited.try_recv() {
            Ok(status) => break format!("dockerd exited ({status}) before answering /_ping"),
            Err(oneshot::error::TryRecvError::Closed) => {
                break "dockerd exited before answering /_ping".to_owned();
            }
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        if started.elapsed() >= READY_TIMEOUT {
            break format!(
                "no answer to /_ping on {} within {READY_TIMEOUT:?} (last probe: {probe})",
                socket.display(),
            );
        }
        tokio::time::sleep(PING_INTERVAL).await;
    };
    Err(not_ready(paths, spawned.pid, reason))
}

/// A [`LabError::DockerdNotReady`] quoting the log.
pub fn not_ready(paths: &LabPaths, pid: u32, reason: String) -> LabError {
    let log_path = paths.log_file();
    LabError::DockerdNotReady {
        name: paths.name.clone(),
        pid,
        reason,
        log_tail: log_tail(&log_path, LOG_TAIL_LINES),
        log_path,
    }
}

/// The last `lines` lines of a log, reading at most its last 64 KiB.
pub fn log_tail(path: &Path, lines: usize) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn dockerd_always_runs_through_nsenter_with_its_own_config() {
        let bins = Binaries {
            dockerd: PathBuf::from("/usr/sbin/dockerd"),
            nsenter: PathBuf::from("/usr/bin/nsenter"),
            ip: PathBuf::from("/usr/sbin/ip"),
        };
        let paths = LabPaths::new(Path::new("/s"), "a");
        let options = LabOptions {
            live_restore: true,
            labels: vec![("halab.run".into(), "r1".into())],
        };
        let argv = command_line(&bins, &paths, &options);
        assert_eq!(argv[0], "/usr/bin/nsenter");
        assert_eq!(argv[1], "--net=/var/run/netns/halab-a");
        assert_eq!(argv[2], "/usr/sbin/dockerd");
        let joined = argv.join(" ");
        for expected in [
            "--config-file /s/labs/a/daemon.json",
            "-H unix:///s/labs/a/docker.sock",
            "--data-root /s/labs/a/data",
            "--exec-root /s/labs/a/exec",
            "--pidfile /s/labs/a/docker.pid",
            "--cgroup-parent=/halab-a",
            "--live-restore",
            "--label halab.run=r1",
        ] {
            assert!(joined.contains(expected), "{expected} missing in {joined}");
        }
        let quiet = command_line(&bins, &paths, &LabOptions::default()).join(" ");
        assert!(!quiet.contains("--live-restore") && !quiet.contains("--label"));
    }

    #[test]
    fn recognises_the_ping_answer() {
        assert!(is_ping_ok(
            b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK"
        ));
        assert!(!is_ping_ok(b"HTTP/1.0 500 Internal Server Error\r\n\r\nOK"));
        assert!(!is_ping_ok(b"HTTP/1.0 200 OK\r\n\r\nnope"));
        assert!(!is_ping_ok(b""));
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let path = std::env::temp_dir().join(format!("halab-lab-log-{}", std::process::id()));
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = log_tail(&path, 3);
        assert_eq!(tail, "line 28\nline 29\nline 30");
        std::fs::remove_file(&path).unwrap();
        assert!(log_tail(&path, 3).contains("could not read"));
    }

    #[test]
    fn our_own_process_is_no_lab_dockerd() {
        let me = process::read(std::process::id()).unwrap();
        assert!(!is_lab_dockerd(&me, &LabPaths::new(Path::new("/s"), "a")));
    }
}
