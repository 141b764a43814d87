//! Finding scenario files and reading them: by name in a directory, or by path. A path is
//! hostile until checked: only a regular file of bounded size is read, so a FIFO, a device such
//! as `/dev/zero`, or a huge file gets an error instead of a hang or an exhausted memory.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::ScenarioError;
use super::limits::MAX_FILE_BYTES;

/// Finds a scenario by name in `dir` (`NAME` → `dir/NAME.toml`, `SUITE/NAME` →
/// `dir/SUITE/NAME.toml`) or takes a path to a file.
pub fn locate(name_or_path: &str, dir: &Path) -> Result<PathBuf, ScenarioError> {
    let as_path = Path::new(name_or_path);
    let in_dir = dir.join(format!("{name_or_path}.toml"));
    if !name_or_path.ends_with(".toml") && in_dir.is_file() {
        return Ok(in_dir);
    }
    // `SUITE/NAME` that names nothing is a mistyped name, not a path to read.
    if name_or_path.ends_with(".toml") || (as_path.components().count() > 1 && as_path.exists()) {
        return Ok(as_path.to_path_buf());
    }
    Err(unknown(name_or_path, dir))
}

/// The scenarios to run for `name_or_path`: a suite — a directory of scenario files, by path
/// or by name in `dir` — gives every one of them in name order; anything else gives the one
/// scenario [`locate`] finds.
pub fn locate_all(name_or_path: &str, dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let suite = [PathBuf::from(name_or_path), dir.join(name_or_path)]
        .into_iter()
        .find(|p| p.is_dir());
    match suite {
        Some(suite) => {
            let found: Vec<PathBuf> = list(&suite).into_iter().map(|(_, p)| p).collect();
            if found.is_empty() {
                return Err(ScenarioError::NotAScenarioFile {
                    path: suite,
                    reason: "a directory with no scenario files (*.toml) in it".into(),
                });
            }
            Ok(found)
        }
        None => Ok(vec![locate(name_or_path, dir)?]),
    }
}

fn unknown(name: &str, dir: &Path) -> ScenarioError {
    let mut known: Vec<String> = list(dir).into_iter().map(|(n, _)| n).collect();
    known.extend(
        suites(dir)
            .into_iter()
            .map(|(n, _)| format!("{n}/ (a suite)")),
    );
    let mut candidates: Vec<String> = list(dir).into_iter().map(|(n, _)| n).collect();
    for (suite, path) in suites(dir) {
        candidates.push(suite.clone());
        candidates.extend(list(&path).into_iter().map(|(n, _)| format!("{suite}/{n}")));
    }
    ScenarioError::Unknown {
        name: name.to_owned(),
        dir: dir.to_path_buf(),
        known,
        closest: closest(name, &candidates),
    }
}

/// The candidate nearest to `name` by edit distance, if it is at most a third of the name's
/// length away (at least one edit): near enough to be a typo, not just another name.
fn closest(name: &str, candidates: &[String]) -> Option<String> {
    let allowed = (name.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The scenarios in `dir`: (name, path), sorted by name. Only regular files count.
pub fn list(dir: &Path) -> Vec<(String, PathBuf)> {
    entries(dir, |p| {
        p.extension().is_some_and(|e| e == "toml") && p.is_file()
    })
    .into_iter()
    .filter_map(|p| Some((p.file_stem()?.to_str()?.to_owned(), p)))
    .collect()
}

/// The suites in `dir`: its subdirectories, (name, path), sorted by name.
pub fn suites(dir: &Path) -> Vec<(String, PathBuf)> {
    entries(dir, |p| p.is_dir())
        .into_iter()
        .filter_map(|p| Some((p.file_name()?.to_str()?.to_owned(), p)))
        .collect()
}

fn entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| keep(p))
        .collect();
    found.sort();
    found
}

/// The text of the scenario file at `path`: a regular file (symlinks followed) of at most
/// [`MAX_FILE_BYTES`], in UTF-8.
pub fn read(path: &Path) -> Result<String, ScenarioError> {
    let refuse = |reason: String| ScenarioError::NotAScenarioFile {
        path: path.to_path_buf(),
        reason,
    };
    let io_error = |source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It changes
    // nothing for a regular file, and anything else is refused before it is read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    if !meta.is_file() {
        return Err(refuse(format!("it is {}, not a regular file", kind(&meta))));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "it is {} bytes long; a scenario file may be at most {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size may have changed since the stat: never read more than the limit.
    File::take(file, MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "it grew past {MAX_FILE_BYTES} bytes while being read"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        refuse(format!(
            "it is not UTF-8 text (byte {} is not)",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::scratch;

    #[test]
    fn devices_and_directories_are_refused_without_reading() {
        for path in ["/dev/zero", "/dev/null", "/tmp"] {
            let err = read(Path::new(path)).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{path}: {err}");
            assert!(err.contains(path), "{err}");
        }
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = scratch("fifo");
        let fifo = dir.join("x.toml");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let err = read(&fifo).unwrap_err().to_string();
        assert!(err.contains("a FIFO"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_huge_file_is_refused() {
        let dir = scratch("huge");
        let path = dir.join("big.toml");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("bytes long"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_typo_gets_the_nearest_name_and_a_stranger_gets_none() {
        let known: Vec<String> = ["restart-always", "backoff", "differential/api"]
            .map(String::from)
            .into();
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            closest("restart-alway", &known).as_deref(),
            Some("restart-always")
        );
        assert_eq!(closest("bakoff", &known).as_deref(), Some("backoff"));
        assert_eq!(
            closest("differential/apj", &known).as_deref(),
            Some("differential/api")
        );
        assert_eq!(closest("zzz", &known), None);
        assert_eq!(closest("", &known), None);
    }
}
