//! The history a run writes to, shared between the observer, the runner and the view, with a
//! way to wait until the history satisfies a condition (woken by each new entry, never polled).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use halab_model::{Entry, Happening, History, Nanos, Source};
use tokio::sync::watch;

/// A cheaply clonable handle on one run's history.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    /// Bumped after every entry: waiters and the view wake on it.
    changed: watch::Sender<u64>,
}

#[derive(Default)]
struct Inner {
    history: History,
    /// The same entries in the order they were recorded: an entry reconstructed after the fact
    /// lands in the past of `history`, but is news to whoever reads arrivals.
    arrivals: Vec<Entry>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            inner: Arc::default(),
            changed: watch::Sender::new(0),
        }
    }

    pub fn record(&self, at: Nanos, source: Source, what: Happening) {
        tracing::debug!(?what, ?source, "recorded");
        let seen = (source == Source::Events).then(crate::now);
        let entry = Entry {
            at,
            source,
            seen,
            what,
        };
        let mut inner = self.lock();
        inner.arrivals.push(entry.clone());
        inner.history.record(entry);
        drop(inner);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Records something the harness did, stamped with the host clock now.
    pub fn harness(&self, what: Happening) -> Nanos {
        let at = crate::now();
        self.record(at, Source::Harness, what);
        at
    }

    /// A copy of the history as it stands.
    pub fn snapshot(&self) -> History {
        self.lock().history.clone()
    }

    /// How many entries have been recorded so far.
    pub fn arrival_count(&self) -> usize {
        self.lock().arrivals.len()
    }

    /// The entries recorded after the first `seen`, in the order they were recorded.
    pub fn arrivals_since(&self, seen: usize) -> Vec<Entry> {
        self.lock()
            .arrivals
            .get(seen..)
            .unwrap_or_default()
            .to_vec()
    }

    /// Reads the history without copying it.
    pub fn with<T>(&self, read: impl FnOnce(&History) -> T) -> T {
        read(&self.lock().history)
    }

    /// A receiver that is marked changed after every new entry.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until `done` holds for the history, or `timeout` passes (then `false`).
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&History) -> bool,
    ) -> bool {
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.mark_unchanged();
            if self.with(&mut done) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                // The sender lives in `self`, so it cannot be dropped while we wait.
                Ok(Err(_)) | Err(_) => return self.with(&mut done),
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a history that is still well-formed (each
        // `record` is one insert), so a poisoned lock is safe to use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
