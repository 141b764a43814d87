//! The service's counter: a file in a directory the harness creates and bind-mounts.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use halab_docker::Recorder;
use halab_model::Happening;

/// How often the counter is read. It is a small file on the host: reading it costs nothing, and
/// 100 ms is well under the service's shortest cycle (a start, then `sleep 1`).
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

pub struct CounterFile {
    path: PathBuf,
}

impl CounterFile {
    /// Creates `dir` and the counter file in it holding `initial`. The directory is made
    /// world-writable so a service that does not run as root can still count.
    pub fn create(dir: &Path, file: &str, initial: u64) -> io::Result<CounterFile> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
        let path = dir.join(file);
        std::fs::write(&path, format!("{initial}\n"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
        Ok(CounterFile { path })
    }

    /// The value now; `None` while the file is being rewritten (the shell truncates it first)
    /// or when it does not hold a number.
    pub fn read(&self) -> Option<u64> {
        std::fs::read_to_string(&self.path)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Records the value now in the history.
    pub fn read_into(&self, recorder: &Recorder) {
        match self.read() {
            Some(value) => {
                recorder.harness(Happening::Counter { value });
            }
            None => {
                tracing::warn!(path = %self.path.display(), "the counter file does not hold a number")
            }
        }
    }

    /// Records every change of the value in the history until the task is aborted.
    pub fn sample_into(&self, recorder: Recorder) -> tokio::task::JoinHandle<()> {
        let counter = CounterFile {
            path: self.path.clone(),
        };
        tokio::spawn(async move {
            let mut last = None;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let now = counter.read();
                if now.is_some() && now != last {
                    recorder.harness(Happening::Counter {
                        value: now.unwrap_or_default(),
                    });
                    last = now;
                }
            }
        })
    }
}
