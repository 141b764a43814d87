//! Hostile scenario files on a real lab. A scenario file is shared like a CI config and halab
//! runs as root: nothing in one may change anything outside the run's own work directory and
//! lab. A sentinel tree beside the work directories — reachable by an absolute path, by `..`
//! from the work directory, and by a symlink the container plants — is fingerprinted before
//! and after (every entry's type, mode and bytes) and must be identical.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

/// A scratch area: `tmp/` is the `TMPDIR` the runs make their work directories in, `sentinel/`
/// the tree nothing may touch.
struct Area {
    root: PathBuf,
}

impl Area {
    fn new() -> Area {
        let root = PathBuf::from(format!("/tmp/hl-hostile-{:x}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        let sentinel = root.join("sentinel");
        std::fs::create_dir_all(sentinel.join("sub")).unwrap();
        for (file, mode, text) in [
            ("victim", 0o600, "secret: do not overwrite\n"),
            ("open.txt", 0o644, "anyone may read this\n"),
            ("sub/deep", 0o640, "deeper\n"),
        ] {
            let path = sentinel.join(file);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        Area { root }
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn victim(&self) -> PathBuf {
        self.root.join("sentinel/victim")
    }

    /// Every entry under the sentinel: its type and mode, and its bytes or link target.
    fn fingerprint(&self) -> BTreeMap<PathBuf, (String, u32, Vec<u8>)> {
        let mut seen = BTreeMap::new();
        let mut todo = vec![self.root.join("sentinel")];
        while let Some(path) = todo.pop() {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode();
            let (kind, bytes) = if meta.is_dir() {
                let mut children: Vec<PathBuf> = std::fs::read_dir(&path)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                children.sort();
                todo.extend(children);
                ("dir", Vec::new())
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                ("symlink", target.into_os_string().into_encoded_bytes())
            } else {
                ("file", std::fs::read(&path).unwrap())
            };
            seen.insert(path, (kind.to_owned(), mode, bytes));
        }
        seen
    }

    /// Nothing of any run is left in `tmp/`.
    fn tmp_is_empty(&self) -> bool {
        std::fs::read_dir(self.tmp()).unwrap().next().is_none()
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `halab ARGS` with the area's `TMPDIR`.
fn halab_in(area: &Area, state: &StateDir, args: &[&str]) -> Outcome {
    let mut cmd = halab(state, args);
    cmd.env("TMPDIR", area.tmp());
    run(cmd)
}

/// The seed with `from` replaced by `to`, written to the area.
fn variant(area: &Area, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(scenarios_dir().join("restart-always.toml")).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "the seed has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let path = area.root.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A one-phase scenario (restart `no`) whose script plays a trick on the counter directory and
/// then sleeps; `{v}` in the script is the victim's path on the host.
fn trick(area: &Area, name: &str, script: &str) -> String {
    let script = script.replace("{v}", &area.victim().display().to_string());
    let sentinel = area.root.join("sentinel").display().to_string();
    let script = script.replace("{s}", &sentinel);
    let text = format!(
        "name = \"{name}\"\n\
         [services.critical]\nrestart = \"no\"\nscript = {script:?}\n\
         program = {{ runs = [{{ exit = 0, after = 2 }}] }}\n\
         counter = {{ dir = \"/tmp\", file = \"executou\" }}\n\
         [[phases]]\nname = \"trick\"\ndo = [{{ op = \"wait\", for = 3 }}]\n\
         [checks]\ncounter_never_decreases = true\n"
    );
    let path = area.root.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn nothing_outside_the_work_directory_changes() {
    require_root();
    let area = Area::new();
    let state = StateDir::new();
    let before = area.fingerprint();
    let victim = area.victim().display().to_string();
    let up_from_counter = "../../../sentinel/victim";

    // Refused before anything is made: by the parser, located, exit 2.
    let refused = [
        (
            "abs.toml",
            "file = \"executou\"",
            format!("file = {victim:?}"),
            "services.critical.counter.file",
        ),
        (
            "up.toml",
            "file = \"executou\"",
            format!("file = {up_from_counter:?}"),
            "services.critical.counter.file",
        ),
        (
            "shadow.toml",
            "file = \"executou\"",
            "file = \"/etc/shadow\"".to_owned(),
            "services.critical.counter.file",
        ),
        (
            "root.toml",
            "dir = \"/tmp\"",
            "dir = \"/\"".to_owned(),
            "services.critical.counter.dir",
        ),
        (
            "bind.toml",
            "dir = \"/tmp\"",
            "dir = \"/tmp:/etc:rw\"".to_owned(),
            "services.critical.counter.dir",
        ),
        (
            "bind2.toml",
            "dir = \"/tmp\"",
            format!("dir = \"/tmp:{}:rw\"", area.root.join("sentinel").display()),
            "services.critical.counter.dir",
        ),
    ];
    for (file, from, to, field) in &refused {
        let path = variant(&area, file, &[(from, to)]);
        let out = halab_in(
            &area,
            &state,
            &["scenario", "run", &path, "--set", "sleep=1"],
        );
        assert_eq!(out.code, 2, "{file}: {out}");
        assert!(
            out.stderr.contains(&format!("{path}:")),
            "{file}: no location: {out}"
        );
        assert!(
            out.stderr.contains(&format!("field `{field}`")),
            "{file}: {out}"
        );
        assert!(
            state.labs().is_empty(),
            "{file}: a lab was made before the refusal"
        );
        assert!(area.tmp_is_empty(), "{file}: a work directory was made");
    }

    // Tricks the container plays at run time, on a lab: the counter replaced by a symlink to
    // the victim, a symlink to the sentinel directory, a FIFO, a huge file.
    let name = format!("h{:x}", std::process::id());
    let up = run(halab(&state, &["lab", "up", &name]));
    assert_eq!(up.code, 0, "{up}");
    let tricks = [
        trick(
            &area,
            "symlinks",
            "rm -f /tmp/executou; ln -s {v} /tmp/executou; ln -s {s} /tmp/escape; echo 9 > /tmp/escape/planted || true; sleep 2",
        ),
        trick(
            &area,
            "fifo",
            "rm -f /tmp/executou; mkfifo /tmp/executou; sleep 2",
        ),
        trick(
            &area,
            "huge",
            "head -c 20000000 /dev/zero | tr '\\0' 1 > /tmp/executou; sleep 2",
        ),
        trick(
            &area,
            "hardlink",
            "ln /tmp/executou /tmp/again; chmod 000 /tmp/executou; sleep 2",
        ),
    ];
    for path in &tricks {
        let mut cmd = halab(&state, &["scenario", "run", path, "--lab", &name, "--json"]);
        cmd.env("TMPDIR", area.tmp());
        let live = Live::spawn(cmd);
        let out = live.finish(Duration::from_secs(90));
        assert!(
            [0, 1, 3].contains(&out.code),
            "{path}: a report, not an error or a panic: {out}"
        );
        let report = out.json();
        assert!(report["verdict"].is_string(), "{path}: {report}");
        assert!(area.tmp_is_empty(), "{path}: the work directory was left");
    }
    let down = run(halab(&state, &["lab", "down", &name]));
    assert_eq!(down.code, 0, "{down}");

    let after = area.fingerprint();
    assert_eq!(
        before, after,
        "the sentinel tree outside the work directory changed"
    );
    assert!(!Path::new(&victim).with_file_name("planted").exists());
}

/// Every file of the hostile corpus through the real command (in the simulator, so that no
/// lab is needed): a report or a located refusal, never a panic, never a hang, and never a
/// control character of the file's sent raw to the terminal.
#[test]
fn every_hostile_file_gets_a_report_or_a_located_refusal() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus");
    let state = StateDir::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 50);
    let (mut refused, mut reported) = (0, 0);
    for path in &files {
        let shown = path.display().to_string();
        let live = Live::spawn(halab(
            &state,
            &["scenario", "run", &shown, "--runtime", "sim"],
        ));
        let out = live.finish(Duration::from_secs(60));
        assert!(
            !out.stderr.contains('\u{1b}') && !out.stdout.contains('\u{1b}'),
            "{shown}: a raw escape reached the terminal: {out}"
        );
        match out.code {
            0 | 1 | 3 => reported += 1,
            2 => {
                refused += 1;
                let located = out.stderr.contains(&format!("{shown}:"))
                    && out.stderr
                        [out.stderr.find(&format!("{shown}:")).unwrap() + shown.len() + 1..]
                        .starts_with(|c: char| c.is_ascii_digit());
                let whole_file = out.stderr.contains("cannot be a scenario file")
                    || out.stderr.contains("asks the simulator for more");
                assert!(
                    located || whole_file,
                    "{shown}: a refusal without a place: {out}"
                );
            }
            _ => panic!("{shown}: exit {}: {out}", out.code),
        }
    }
    println!(
        "{} hostile files: {refused} refused with a location, {reported} reported",
        files.len()
    );
}
