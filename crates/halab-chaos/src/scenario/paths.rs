//! The two paths a scenario names, checked before anything exists: where the counter's
//! directory is mounted *in the container* (the only path the user chooses freely), and the
//! counter file's *name* on the host (which halab always creates inside the run's own work
//! directory: never an absolute path, never `..`, never a path at all).

use super::limits::{MAX_CONTAINER_PATH_BYTES, MAX_FILE_NAME_BYTES, RESERVED_CONTAINER_DIRS};
use crate::text;

/// Why `dir` cannot be the bind mount's target in the container, if it cannot.
///
/// Docker parses a bind as `SOURCE:TARGET[:MODE]`, so a `:` would smuggle in another target or
/// mode (`/tmp:/etc:rw`); the daemon itself refuses `/` and relative targets, but only as a 500
/// seconds after the lab is up.
pub fn container_dir_problem(dir: &str) -> Option<String> {
    if dir.is_empty() {
        return Some("the directory in the container is empty".into());
    }
    if !dir.starts_with('/') {
        return Some(format!(
            "`{}` is not an absolute path in the container",
            text::one_line(dir)
        ));
    }
    if dir.len() > MAX_CONTAINER_PATH_BYTES {
        return Some(format!(
            "the path is {} bytes long; at most {MAX_CONTAINER_PATH_BYTES}",
            dir.len()
        ));
    }
    if let Some(c) = dir
        .chars()
        .find(|&c| text::is_unsafe(c) || c == ':' || c == '\0')
    {
        let what = if c == ':' {
            "`:` (Docker reads it as the start of another bind field)".to_owned()
        } else {
            format!("the control character {}", text::one_line(&c.to_string()))
        };
        return Some(format!("`{}` contains {what}", text::one_line(dir)));
    }
    let components: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    if components.iter().any(|&c| c == "." || c == "..") {
        return Some(format!(
            "`{dir}` contains `.` or `..`: write the directory it means"
        ));
    }
    let Some(first) = components.first() else {
        return Some("`/` is the container's root: mount the counter on a directory in it".into());
    };
    let top = format!("/{first}");
    if RESERVED_CONTAINER_DIRS.contains(&top.as_str()) {
        return Some(format!(
            "`{dir}` is under {top}, which belongs to the container's kernel filesystems"
        ));
    }
    None
}

/// Why `file` cannot be the counter file's name, if it cannot. It becomes a file in the run's
/// work directory, so it must be one plain name: an absolute path or `..` would reach outside
/// it (and halab runs as root).
pub fn counter_file_problem(file: &str) -> Option<String> {
    if file.is_empty() {
        return Some("the counter file's name is empty".into());
    }
    if file.contains('/') {
        return Some(format!(
            "`{}` is a path; the counter file is named by its file name alone (it lives in the directory the run creates)",
            text::one_line(file)
        ));
    }
    if file == "." || file == ".." {
        return Some(format!("`{file}` is not a file name"));
    }
    if file.len() > MAX_FILE_NAME_BYTES {
        return Some(format!(
            "the name is {} bytes long; at most {MAX_FILE_NAME_BYTES}",
            file.len()
        ));
    }
    if file.chars().any(|c| text::is_unsafe(c) || c == '\0') {
        return Some(format!(
            "`{}` contains a control character",
            text::one_line(file)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_dirs() {
        assert_eq!(container_dir_problem("/tmp"), None);
        assert_eq!(container_dir_problem("/var/lib/counter/"), None);
        for bad in [
            "",
            "tmp",
            "/",
            "//",
            "/tmp:/etc:rw",
            "/tmp/../etc",
            "/./tmp",
            "/proc",
            "/proc/1",
            "/sys/fs",
            "/dev",
            "/tmp\x1b[2J",
        ] {
            assert!(container_dir_problem(bad).is_some(), "{bad:?} accepted");
        }
        assert!(container_dir_problem(&format!("/{}", "a".repeat(2000))).is_some());
        assert_eq!(
            container_dir_problem("/procs"),
            None,
            "a prefix of a name is not under it"
        );
    }

    #[test]
    fn counter_files() {
        assert_eq!(counter_file_problem("executou"), None);
        assert_eq!(counter_file_problem(".hidden"), None);
        for bad in [
            "",
            "/etc/halab-probe",
            "../../../../root/x",
            "a/b",
            ".",
            "..",
            "x\ny",
            "\u{202e}x",
        ] {
            assert!(counter_file_problem(bad).is_some(), "{bad:?} accepted");
        }
        assert!(counter_file_problem(&"a".repeat(256)).is_some());
    }
}
