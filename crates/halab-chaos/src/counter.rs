//! The service's counter: a file in the directory the run bind-mounts into the container.
//!
//! The container writes that directory as root, so whatever is in it is hostile by the time the
//! host reads it: the file may have been replaced by a symlink to a file outside (which the
//! host would follow), a FIFO (a read would hang) or something huge. The host opens it without
//! following symlinks and without blocking, reads only a regular file, and only its first bytes.
//! It never writes the file after creating it.

use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use halab_docker::Recorder;
use halab_model::Happening;

/// How often the counter is read. It is a small file on the host: reading it costs nothing, and
/// 100 ms is well under the service's shortest cycle (a start, then `sleep 1`).
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A counter is a number and a newline: 20 digits at most. More is not a counter.
const MAX_COUNTER_BYTES: u64 = 32;

pub struct CounterFile {
    path: PathBuf,
    /// Where the file is while the service's directory is removed (renamed aside: see
    /// [`crate::run_dir::removed_dir`]); the running container still writes it there.
    aside: PathBuf,
}

impl CounterFile {
    /// Creates the counter file `name` in `dir` (the run's fresh counter directory) holding
    /// `initial`, world-writable so a service that does not run as root can still count. The
    /// name is one plain file name (the scenario parser makes sure); it is checked again here,
    /// and the file must not exist yet.
    pub fn create(dir: &Path, name: &str, initial: u64) -> io::Result<CounterFile> {
        let plain = Path::new(name).components().count() == 1
            && !matches!(name, "" | "." | "..")
            && !name.contains('/');
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the counter file's name {name:?} is not a plain file name"),
            ));
        }
        let path = dir.join(name);
        let aside = crate::run_dir::removed_dir(dir).join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o666)
            .open(&path)?;
        file.write_all(format!("{initial}\n").as_bytes())?;
        // The umask may have taken bits away.
        file.set_permissions(std::fs::Permissions::from_mode(0o666))?;
        Ok(CounterFile { path, aside })
    }

    /// The value now; `None` while the file is being rewritten (the shell truncates it first),
    /// when it does not hold a number, or when it is not a regular file any more.
    pub fn read(&self) -> Option<u64> {
        let open = |path: &Path| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(path)
        };
        let file = match open(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => open(&self.aside),
            opened => opened,
        }
        .ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut text = String::new();
        file.take(MAX_COUNTER_BYTES + 1)
            .read_to_string(&mut text)
            .ok()?;
        if text.len() as u64 > MAX_COUNTER_BYTES {
            return None;
        }
        text.trim().parse().ok()
    }

    /// Records the value now in the history, as `service`'s on `node`.
    pub fn read_into(&self, recorder: &Recorder, node: &str, service: &str) {
        match self.read() {
            Some(value) => {
                recorder.harness(Happening::Counter {
                    node: node.to_owned(),
                    service: service.to_owned(),
                    value,
                });
            }
            None => {
                tracing::warn!(path = %self.path.display(), "the counter file does not hold a number")
            }
        }
    }

    /// Records every change of the value in the history, as `service`'s on `node`, until the
    /// task is aborted.
    pub fn sample_into(
        &self,
        recorder: Recorder,
        node: &str,
        service: &str,
    ) -> tokio::task::JoinHandle<()> {
        let counter = CounterFile {
            path: self.path.clone(),
            aside: self.aside.clone(),
        };
        let (node, service) = (node.to_owned(), service.to_owned());
        tokio::spawn(async move {
            let mut last = None;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let now = counter.read();
                if now.is_some() && now != last {
                    recorder.harness(Happening::Counter {
                        node: node.clone(),
                        service: service.clone(),
                        value: now.unwrap_or_default(),
                    });
                    last = now;
                }
            }
        })
    }
}

/// Writes `order` (an exit code, or `oom`) for the program of the service whose directory is
/// `dir` (see [`crate::program::ORDER_FILE`]).
///
/// The program polls for the order file and reads it the moment it appears, so the file must
/// appear whole: it is written under another name and renamed into place (a file created and
/// then written was once read empty under load, and `exit` of nothing is exit 0). The container
/// shares the directory and may have put anything at either name: whatever is at the temporary
/// name is removed (a symlink itself, never its target), the file is created anew without
/// following a symlink, and the rename replaces the order file's name, not what it points to.
pub fn write_order(dir: &Path, order: &str) -> io::Result<()> {
    let path = dir.join(crate::program::ORDER_FILE);
    let staged = dir.join(format!("{}.new", crate::program::ORDER_FILE));
    match std::fs::remove_file(&staged) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .mode(0o666)
        .open(&staged)?;
    file.write_all(format!("{order}\n").as_bytes())?;
    drop(file);
    std::fs::rename(&staged, &path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::scratch;

    #[test]
    fn only_a_plain_name_is_created_and_never_over_an_existing_file() {
        let dir = scratch("counter-create");
        for bad in ["/etc/halab-probe", "../x", "a/b", "..", ""] {
            assert!(CounterFile::create(&dir, bad, 0).is_err(), "{bad:?}");
        }
        std::fs::write(dir.join("taken"), "mine").unwrap();
        assert!(CounterFile::create(&dir, "taken", 0).is_err());
        assert_eq!(std::fs::read_to_string(dir.join("taken")).unwrap(), "mine");
        std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).unwrap();
        assert!(
            CounterFile::create(&dir, "link", 0).is_err(),
            "a symlink is not followed"
        );
        let counter = CounterFile::create(&dir, "n", 7).unwrap();
        assert_eq!(counter.read(), Some(7));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_removed_bind_source_is_read_where_it_was_put_aside() {
        let root = scratch("counter-aside");
        let dir = root.join("svc");
        std::fs::create_dir(&dir).unwrap();
        let counter = CounterFile::create(&dir, "n", 3).unwrap();
        std::fs::rename(&dir, crate::run_dir::removed_dir(&dir)).unwrap();
        assert_eq!(counter.read(), Some(3));
        std::fs::rename(crate::run_dir::removed_dir(&dir), &dir).unwrap();
        std::fs::write(dir.join("n"), "4\n").unwrap();
        assert_eq!(counter.read(), Some(4));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn what_the_container_puts_in_its_place_is_not_followed_or_waited_on() {
        let dir = scratch("counter-swap");
        let outside = dir.join("outside");
        std::fs::write(&outside, "42\n").unwrap();
        let counter = CounterFile::create(&dir, "n", 0).unwrap();
        std::fs::remove_file(dir.join("n")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("n")).unwrap();
        assert_eq!(counter.read(), None, "a symlink out is not followed");
        std::fs::remove_file(dir.join("n")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join("n"))
            .status();
        assert!(made.is_ok_and(|s| s.success()));
        assert_eq!(counter.read(), None, "a FIFO is not waited on");
        std::fs::remove_file(dir.join("n")).unwrap();
        std::fs::write(dir.join("n"), "1".repeat(1 << 20)).unwrap();
        assert_eq!(counter.read(), None, "a huge file is not read");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_order_appears_whole_and_never_through_what_the_container_planted() {
        let dir = scratch("order");
        let order = dir.join(crate::program::ORDER_FILE);
        let staged = dir.join(format!("{}.new", crate::program::ORDER_FILE));
        let outside = dir.join("outside");
        std::fs::write(&outside, "keep\n").unwrap();
        std::os::unix::fs::symlink(&outside, &order).unwrap();
        std::os::unix::fs::symlink(&outside, &staged).unwrap();
        write_order(&dir, "3").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep\n");
        let meta = std::fs::symlink_metadata(&order).unwrap();
        assert!(meta.is_file(), "the order file is a file of its own now");
        assert_eq!(std::fs::read_to_string(&order).unwrap(), "3\n");
        assert!(!staged.exists(), "nothing is left at the staging name");
        let made = std::process::Command::new("mkfifo").arg(&staged).status();
        assert!(made.is_ok_and(|s| s.success()));
        write_order(&dir, "oom").unwrap();
        assert_eq!(std::fs::read_to_string(&order).unwrap(), "oom\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
