//! Real lab daemons on the real machine: these tests need root, dockerd, the docker CLI and
//! /bin/busybox, and FAIL (never skip) without them. Each test uses its own short state root
//! (`/tmp/hl-<random>`: unix socket paths are limited to 107 bytes) and unique lab names, and
//! checks from the outside — /proc, /proc/self/mountinfo, `ip netns list`, the cgroup fs — that
//! `down` leaves nothing behind.
//!
//! Run with: `cargo test -p halab-lab` (as root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use halab_lab::{Lab, LabError, LabOptions, gc};
use halab_model::DaemonOp;

/// `gc` removes unused `halab-*` netns without an owner record; a lab whose `up` is between
/// `ip netns add` and writing that record would look stray for a moment. So the gc test runs
/// alone (write lock) and the others together (read locks).
static GC_EXCLUSION: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

const IMAGE: &str = "lab-test";
/// A container that exits promptly on SIGTERM, so graceful stops do not wait 10 s for it.
const SERVICE: [&str; 3] = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"];

/// A fresh state root, removed again when the test ends; if the test panicked, it first tears
/// down whatever the test left there (with `gc`), so a failing test leaves nothing running.
struct TestRoot {
    path: PathBuf,
}

impl TestRoot {
    fn new() -> TestRoot {
        require_root_and_tools();
        let path = PathBuf::from(format!("/tmp/hl-{}", unique_suffix()));
        std::fs::create_dir_all(&path).unwrap();
        TestRoot { path }
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let root = self.path.clone();
            // Drop may run inside the test's runtime, which cannot be blocked on: use a thread
            // with a runtime of its own.
            let result = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(gc(&root))
            })
            .join();
            eprintln!(
                "cleanup after failed test: gc {:?} -> {result:?}",
                self.path
            );
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn require_root_and_tools() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the halab-lab tests start real lab daemons (network namespaces, dockerd) and need root: \
         run `cargo test -p halab-lab` as root"
    );
    for (tool, package) in [
        ("dockerd", "docker.io"),
        ("docker", "docker.io (docker CLI)"),
        ("nsenter", "util-linux"),
        ("ip", "iproute2"),
        ("containerd", "containerd"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|out| out.status.success());
        assert!(
            found,
            "the halab-lab tests need `{tool}`: install {package}"
        );
    }
    assert!(
        Path::new("/bin/busybox").is_file(),
        "the halab-lab tests build their image from /bin/busybox: install busybox-static"
    );
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{:x}", (nanos ^ (std::process::id() << 8)) & 0xff_ffff)
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", unique_suffix())
}

fn docker(lab: &Lab, args: &[&str]) -> String {
    let output = Command::new("docker")
        .arg("-H")
        .arg(lab.docker_host())
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("run docker");
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Builds `lab-test` inside the lab from the host's static busybox: nothing is pulled.
fn build_image(lab: &Lab, root: &Path) {
    let context = root.join(format!("img-{}", lab.name()));
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy("/bin/busybox", context.join("busybox")).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    docker(
        lab,
        &["build", "-q", "-t", IMAGE, &context.to_string_lossy()],
    );
}

fn run_service(lab: &Lab, name: &str) {
    let mut args = vec!["run", "-d", "--name", name, "--restart=always", IMAGE];
    args.extend(SERVICE);
    docker(lab, &args);
}

/// `(running, pid)` of a container as dockerd sees it.
fn container_state(lab: &Lab, name: &str) -> (bool, u32) {
    let state = docker(
        lab,
        &["inspect", "-f", "{{.State.Running}} {{.State.Pid}}", name],
    );
    let (running, pid) = state.split_once(' ').unwrap();
    (running == "true", pid.parse().unwrap())
}

async fn wait_container_running(lab: &Lab, name: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (running, pid) = container_state(lab, name);
        if running && pid != 0 {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "container {name} not running again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Proc {
    pid: u32,
    cmdline: String,
    zombie: bool,
}

/// Every process, read straight from /proc (independently of the crate's own scanning).
fn processes() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat[stat.rfind(')')? + 2..].chars().next()?;
            Some(Proc {
                pid,
                cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
                zombie: state == 'Z',
            })
        })
        .collect()
}

fn is_alive(pid: u32) -> bool {
    processes().iter().any(|p| p.pid == pid && !p.zombie)
}

/// The sockets the given shims listen on, read from the socket table of their network namespace
/// (the lab's): containerd puts them in /run/containerd/s/.
fn shim_sockets(shims: &[u32]) -> Vec<PathBuf> {
    let mut sockets: Vec<PathBuf> = shims
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/net/unix")).ok())
        .flat_map(|table| {
            table
                .lines()
                .filter_map(|line| line.split_whitespace().nth(7).map(str::to_owned))
                .filter(|path| path.starts_with("/run/containerd/s/"))
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        })
        .collect();
    sockets.sort();
    sockets.dedup();
    sockets
}

/// The live containerd shims serving this lab's containerd.
fn shims_of(lab: &Lab) -> Vec<u32> {
    let address = lab.dir().join("exec/containerd/containerd.sock");
    let address = address.to_string_lossy();
    processes()
        .into_iter()
        .filter(|p| {
            !p.zombie && p.cmdline.contains("containerd-shim") && p.cmdline.contains(&*address)
        })
        .map(|p| p.pid)
        .collect()
}

fn netns_list() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Nothing of the lab — and nothing of the whole state root — is left on the machine.
fn assert_nothing_left(root: &Path, lab_name: &str, lab_dir: &Path) {
    let root_text = root.to_string_lossy().into_owned();
    let procs: Vec<String> = processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(&root_text))
        .map(|p| format!("{} {}", p.pid, p.cmdline))
        .collect();
    assert!(
        procs.is_empty(),
        "processes mention {root_text}: {procs:#?}"
    );

    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounts: Vec<&str> = mountinfo
        .lines()
        .filter(|line| {
            line.split(' ')
                .nth(4)
                .is_some_and(|point| point.starts_with(&root_text))
        })
        .collect();
    assert!(mounts.is_empty(), "mounts under {root_text}: {mounts:#?}");

    let netns = format!("halab-{lab_name}");
    assert!(
        !netns_list()
            .lines()
            .any(|line| line.split(' ').next() == Some(netns.as_str())),
        "netns {netns} still exists"
    );
    assert!(!lab_dir.exists(), "{} still exists", lab_dir.display());
    let owner_record = Path::new(halab_lab::NETNS_OWNERS_DIR).join(&netns);
    assert!(
        !owner_record.exists(),
        "{} still exists",
        owner_record.display()
    );

    let cgroups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|entries| {
            entries
                .flatten()
                .map(|hierarchy| hierarchy.path().join(&netns))
                .chain([Path::new("/sys/fs/cgroup").join(&netns)])
                .filter(|dir| dir.exists())
                .collect()
        })
        .unwrap_or_default();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_up_restart_graceful_and_crash_then_down_leaves_nothing() {
    let _shared = GC_EXCLUSION.read().await;
    let root = TestRoot::new();
    let name = unique_name("lc");
    let run_id = unique_name("run-");
    let options = LabOptions {
        live_restore: false,
        labels: vec![("halab.run".into(), run_id.clone())],
    };

    let t = Instant::now();
    let lab = Lab::up(&root.path, &name, &options).await.expect("up");
    eprintln!("[timing] up: {}", secs(t.elapsed()));

    let status = lab.status();
    assert!(status.running, "{status:?}");
    assert_eq!(status.name, name);
    assert_eq!(status.netns, format!("halab-{name}"));
    assert_eq!(
        status.docker_host,
        format!("unix://{}", lab.socket_path().display())
    );
    assert!(!status.live_restore);
    let pid = status.pid.expect("dockerd pid");
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(),
        std::fs::read_link("/proc/self/ns/net").unwrap(),
        "the lab's dockerd must not run in the host's network namespace"
    );
    assert!(lab.is_ready().await);
    let labels = docker(&lab, &["info", "--format", "{{json .Labels}}"]);
    assert!(labels.contains(&format!("halab.run={run_id}")), "{labels}");

    // The same lab seen from a fresh handle, as another halab process would.
    let listed = Lab::list(&root.path).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], Lab::open(&root.path, &name).unwrap().status());
    let missing = Lab::open(&root.path, "nope").unwrap_err();
    assert!(matches!(missing, LabError::NoSuchLab { .. }), "{missing:?}");
    assert!(
        missing.to_string().contains(&format!("labs there: {name}")),
        "{missing}"
    );

    let again = Lab::up(&root.path, &name, &options).await.unwrap_err();
    assert!(matches!(again, LabError::AlreadyExists { .. }), "{again:?}");
    let running = lab.start().await.unwrap_err();
    assert!(
        matches!(running, LabError::AlreadyRunning { .. }),
        "{running:?}"
    );

    build_image(&lab, &root.path);
    run_service(&lab, "svc");
    wait_container_running(&lab, "svc").await;

    let t = Instant::now();
    lab.perform(DaemonOp::Stop).await.expect("graceful stop");
    eprintln!(
        "[timing] graceful stop (1 container): {}",
        secs(t.elapsed())
    );
    assert!(!lab.status().running);
    assert!(
        shims_of(&lab).is_empty(),
        "a graceful stop stops the containers"
    );
    lab.start().await.expect("start after graceful stop");
    let before_crash = wait_container_running(&lab, "svc").await;
    assert!(lab.status().running);

    // restart(Crash), in its two halves, to look at the machine in between.
    let shims = shims_of(&lab);
    assert!(!shims.is_empty(), "a running container has a shim");
    let t = Instant::now();
    lab.perform(DaemonOp::Crash).await.expect("crash");
    eprintln!("[timing] crash (SIGKILL until gone): {}", secs(t.elapsed()));
    assert!(!lab.status().running);
    assert!(!lab.is_ready().await);
    let not_running = lab.perform(DaemonOp::Crash).await.unwrap_err();
    assert!(
        matches!(not_running, LabError::NotRunning { .. }),
        "{not_running:?}"
    );
    for shim in &shims {
        assert!(
            is_alive(*shim),
            "shim {shim} should survive dockerd's crash"
        );
    }
    assert!(
        is_alive(before_crash),
        "the container should survive dockerd's crash"
    );

    let t = Instant::now();
    lab.start().await.expect("start after crash");
    eprintln!(
        "[timing] start after crash (until /_ping): {}",
        secs(t.elapsed())
    );
    let after_crash = wait_container_running(&lab, "svc").await;
    eprintln!(
        "[timing] start after crash (until container running): {}; container pid {before_crash} -> {after_crash}",
        secs(t.elapsed())
    );

    let t = Instant::now();
    lab.restart(DaemonOp::Stop).await.expect("restart(Stop)");
    eprintln!(
        "[timing] restart(Stop) (1 container): {}",
        secs(t.elapsed())
    );
    wait_container_running(&lab, "svc").await;

    let lab_dir = lab.dir().to_path_buf();
    let second_handle = lab.clone();
    let t = Instant::now();
    lab.down().await.expect("down");
    eprintln!("[timing] down (running lab): {}", secs(t.elapsed()));
    assert_nothing_left(&root.path, &name, &lab_dir);
    let restarted = second_handle.start().await.unwrap_err();
    assert!(
        matches!(restarted, LabError::NoSuchLab { .. }),
        "{restarted:?}"
    );
    second_handle.down().await.expect("down is idempotent");

    let gone = Lab::open(&root.path, &name).unwrap_err();
    assert!(matches!(gone, LabError::NoSuchLab { .. }), "{gone:?}");
    assert!(Lab::list(&root.path).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_restore_survives_a_crash_and_down_removes_a_crashed_lab() {
    let _shared = GC_EXCLUSION.read().await;
    let root = TestRoot::new();
    let name = unique_name("lr");
    let options = LabOptions {
        live_restore: true,
        labels: vec![],
    };
    let lab = Lab::up(&root.path, &name, &options).await.expect("up");
    assert!(lab.status().live_restore);
    build_image(&lab, &root.path);
    run_service(&lab, "svc");
    let pid = wait_container_running(&lab, "svc").await;

    let t = Instant::now();
    lab.restart(DaemonOp::Crash).await.expect("restart(Crash)");
    eprintln!(
        "[timing] restart(Crash) with live-restore: {}",
        secs(t.elapsed())
    );
    assert_eq!(
        container_state(&lab, "svc"),
        (true, pid),
        "with live-restore the same container process keeps running across a crash"
    );

    // Crash again, and remove the lab without ever starting it: the shim and the container are
    // orphans of PID 1 by now, and the overlay and netns mounts are still in place.
    lab.perform(DaemonOp::Crash).await.expect("crash");
    let shims = shims_of(&lab);
    assert!(!shims.is_empty(), "shims survive the crash");
    let sockets = shim_sockets(&shims);
    assert!(!sockets.is_empty(), "the shims listen in /run/containerd/s");
    assert!(is_alive(pid), "the container survives the crash");
    let lab_dir = lab.dir().to_path_buf();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mountinfo.contains(&format!("{}/data/overlay2/", lab_dir.display())),
        "a crashed lab still has its overlay mounts"
    );

    let t = Instant::now();
    Lab::open(&root.path, &name)
        .unwrap()
        .down()
        .await
        .expect("down after crash");
    eprintln!("[timing] down (crashed lab): {}", secs(t.elapsed()));
    assert!(!is_alive(pid), "the container process is gone");
    for socket in &sockets {
        assert!(
            !socket.exists(),
            "shim socket {} left behind",
            socket.display()
        );
    }
    assert_nothing_left(&root.path, &name, &lab_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_running_crashed_and_half_made_labs_and_stray_netns() {
    let _exclusive = GC_EXCLUSION.write().await;
    let root = TestRoot::new();
    let running = unique_name("gr");
    let crashed = unique_name("gc");
    let half_made = unique_name("gh");
    let stray_netns = format!("halab-{}", unique_name("gs"));

    let running_lab = Lab::up(&root.path, &running, &LabOptions::default())
        .await
        .unwrap();
    let crashed_lab = Lab::up(&root.path, &crashed, &LabOptions::default())
        .await
        .unwrap();
    build_image(&crashed_lab, &root.path);
    run_service(&crashed_lab, "svc");
    wait_container_running(&crashed_lab, "svc").await;
    crashed_lab.perform(DaemonOp::Crash).await.unwrap();
    // A lab whose `up` died right after making its dir.
    std::fs::create_dir_all(root.path.join("labs").join(&half_made)).unwrap();
    let status = Command::new("ip")
        .args(["netns", "add", &stray_netns])
        .status()
        .unwrap();
    assert!(status.success());

    let t = Instant::now();
    let mut removed = gc(&root.path).await.expect("gc");
    eprintln!("[timing] gc of 3 labs + 1 netns: {}", secs(t.elapsed()));
    removed.sort();
    let mut expected = vec![
        running.clone(),
        crashed.clone(),
        half_made.clone(),
        stray_netns.clone(),
    ];
    expected.sort();
    assert_eq!(removed, expected);

    for (name, dir) in [
        (&running, running_lab.dir().to_path_buf()),
        (&crashed, crashed_lab.dir().to_path_buf()),
    ] {
        assert_nothing_left(&root.path, name, &dir);
    }
    assert!(!netns_list().contains(&stray_netns));
    assert!(
        gc(&root.path).await.expect("gc again").is_empty(),
        "gc is idempotent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dockerd_that_fails_to_start_is_reported_with_its_log_and_cleaned_up() {
    let _shared = GC_EXCLUSION.read().await;
    let root = TestRoot::new();
    let name = unique_name("bad");
    // dockerd itself refuses two values for one label key ("conflict labels").
    let options = LabOptions {
        live_restore: false,
        labels: vec![("k".into(), "1".into()), ("k".into(), "2".into())],
    };
    let t = Instant::now();
    let err = Lab::up(&root.path, &name, &options).await.unwrap_err();
    eprintln!("[timing] failed up: {}", secs(t.elapsed()));
    let LabError::DockerdNotReady {
        log_path,
        log_tail,
        reason,
        ..
    } = &err
    else {
        panic!("expected DockerdNotReady, got {err:?}");
    };
    assert!(reason.contains("exited"), "{reason}");
    assert!(log_tail.contains("conflict"), "{log_tail}");
    let text = err.to_string();
    assert!(text.contains(&*log_path.to_string_lossy()), "{text}");
    eprintln!("[error text] {text}");
    assert_nothing_left(&root.path, &name, &root.path.join("labs").join(&name));
}

#[tokio::test]
async fn bad_names_and_long_paths_are_refused_before_anything_is_made() {
    let root = TestRoot::new();
    let err = Lab::up(&root.path, "Bad_Name", &LabOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LabError::InvalidName { .. }), "{err:?}");

    let deep = root.path.join("d".repeat(80));
    let err = Lab::up(&deep, "abc", &LabOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LabError::SocketPathTooLong { .. }), "{err:?}");
    assert!(err.to_string().contains("107 bytes"), "{err}");
    assert!(!deep.exists(), "nothing is made for a refused lab");
    assert!(!netns_list().contains("halab-abc "));
}
