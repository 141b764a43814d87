//! How far a real daemon may lag the model, taken from the run itself.
//!
//! The model starts a container the instant its back-off ends; a daemon then still runs
//! `containerStart` (mount the rootfs, create the spec, containerd create + start the task
//! through a new shim) before it logs `start`, and may first wait for the exit handler's
//! `Cleanup`. A manual start — the run's first start of each service, every `docker-start`, and
//! the starts of the probe container a real run makes every few seconds — does the same
//! `containerStart` on the same daemon under the same load, so the run's manual starts say what
//! a restart may add there: the slack is the larger of
//! [`LATE_PER_WORST_START`] × the worst of them and [`LATE_PER_MEDIAN_START`] × their median
//! (measured on this project's machine, 2 cores, quiet and with a `cargo build` on both: the
//! worst restart overhead was 0.79–1.16 × the worst manual start, 1.7–2.6 × the median). A
//! fixed bound did not hold: 1.8 s sufficed on a quiet machine, 2.6 s and 3.6 s were seen under
//! load.
//!
//! A daemon's start is calibrated the same way: the run's first start of its own lab, with
//! nothing to restore, is the daemon's bare start-up latency; a later start may take
//! [`LATE_PER_DAEMON_START`] times that, plus the start slack, plus two median manual starts for
//! every container the model has the daemon stop or start meanwhile (a restore after a crash
//! both stops and starts it), on top of what the model takes. The model counts `restore`'s work on a container as instant where a daemon is not: it
//! removes the stale network sandbox of each container it found (about 100 ms each, in its log,
//! one after the other), starts those the policies restart before its API answers, and on a
//! shutdown stops each container. Measured on a lab after a crash with 9 containers: 1.9–2.2 s
//! over the model, of which 0.5 s were sandbox removals and 0.6 s restarts; with 8 containers,
//! beside another lab test and a build (CI), 5.7 s over, where one median start each allowed
//! 5.5 s.
//!
//! The lower bound is never loosened: a back-off never ends early, so a start before the
//! model's time (less [`EARLY_MS`] of clock granularity) is a failure, whatever the load.

use halab_model::{ApiCall, ContainerAction, DaemonOp, Happening, History, Nanos, Op, ServiceOp};

/// How much earlier than the model something may happen: the back-off timer is armed a few
/// microseconds before `die` is logged; 20 ms covers clock granularity with room to spare.
pub const EARLY_MS: i64 = 20;
/// See the module's doc.
pub const LATE_PER_WORST_START: f64 = 1.5;
pub const LATE_PER_MEDIAN_START: f64 = 4.0;
pub const LATE_PER_DAEMON_START: f64 = 3.0;

/// The run's own tolerances.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Slack {
    /// How much later than the model a start may come.
    pub late_ms: i64,
    /// How much earlier: [`EARLY_MS`], clock granularity, for every run of a daemon; wider only
    /// for a simulated run judged as a lab would be (see [`Slack::at_least`]).
    pub early_ms: i64,
    /// The manual starts measured: from the call to the daemon's `start` event.
    pub manual_starts_ms: Vec<i64>,
    /// The daemon's bare start-up latency in this run, if it was measured.
    pub daemon_start_ms: Option<i64>,
}

impl Slack {
    /// The median manual start (0 without any).
    pub fn median_start_ms(&self) -> i64 {
        self.manual_starts_ms
            .get(self.manual_starts_ms.len() / 2)
            .copied()
            .unwrap_or(0)
    }

    /// [`Slack::late_ms`] in nanoseconds, the unit of a history's times.
    pub fn late_ns(&self) -> i64 {
        self.late_ms.saturating_mul(1_000_000)
    }

    /// [`Slack::early_ms`] in nanoseconds.
    pub fn early_ns(&self) -> i64 {
        self.early_ms.saturating_mul(1_000_000)
    }
}

impl Slack {
    /// The slack of the run `history` records.
    pub fn from_history(history: &History) -> Slack {
        let spans = history.op_spans();
        // A start asked for while the daemon was down or restoring waits for the daemon, not
        // for `containerStart`: it is no sample.
        let outages: Vec<(Nanos, Nanos)> = history
            .daemon_outages()
            .iter()
            .map(|o| (o.from, o.until.unwrap_or(Nanos(i64::MAX))))
            .collect();
        let in_outage = |from: Nanos, to: Nanos| outages.iter().any(|&(a, b)| from <= b && to >= a);
        let mut manual: Vec<i64> =
            spans
                .iter()
                .filter(|s| s.is_ok())
                .filter_map(|s| match s.op {
                    Op::Service {
                        service,
                        op: ServiceOp::Api(ApiCall::Start),
                    } => {
                        let started = history.entries().iter().skip(s.position).find_map(|e| {
                            match &e.what {
                                Happening::Container {
                                    service: c,
                                    action: ContainerAction::Start,
                                    ..
                                } if c == service && e.at >= s.invoked => Some(e.at),
                                _ => None,
                            }
                        })?;
                        (!in_outage(s.invoked, started)).then(|| started.millis_since(s.invoked))
                    }
                    _ => None,
                })
                .collect();
        manual.extend(history.entries().iter().filter_map(|e| match e.what {
            Happening::Probe { start_ms, .. }
                if !in_outage(e.at.plus_nanos(-start_ms.saturating_mul(1_000_000)), e.at) =>
            {
                Some(start_ms)
            }
            _ => None,
        }));
        manual.sort_unstable();
        let daemon_start_ms = spans
            .iter()
            .find(|s| s.daemon_op() == Some(DaemonOp::Start))
            .filter(|s| {
                !history.entries()[..s.position]
                    .iter()
                    .any(|e| matches!(e.what, Happening::Container { .. }))
            })
            .and_then(|s| Some(s.ended?.0.millis_since(s.invoked)));
        let late = match (manual.last(), manual.get(manual.len() / 2)) {
            (Some(&worst), Some(&median)) => (worst as f64 * LATE_PER_WORST_START)
                .max(median as f64 * LATE_PER_MEDIAN_START)
                .ceil() as i64,
            _ => 0,
        };
        Slack {
            late_ms: late.max(EARLY_MS),
            early_ms: EARLY_MS,
            manual_starts_ms: manual,
            daemon_start_ms,
        }
    }

    /// The same slack, both bounds raised to `min_ms` if they are below: what a search in the
    /// simulator judges with, so that it finds only differences larger than a lab's own slack —
    /// both ways, since a wrong model may be slower than the daemon as well as faster.
    pub fn at_least(mut self, min_ms: i64) -> Slack {
        self.late_ms = self.late_ms.max(min_ms);
        self.early_ms = self.early_ms.max(min_ms);
        self
    }

    /// How much later than the model a daemon operation may end when the model has the daemon
    /// stop or start `containers` containers meanwhile, if it can be said.
    pub fn daemon_late_ms(&self, containers: usize) -> Option<i64> {
        let work = self
            .median_start_ms()
            .saturating_mul(2)
            .saturating_mul(containers as i64);
        self.daemon_start_ms.map(|ms| {
            ((ms as f64 * LATE_PER_DAEMON_START).ceil() as i64)
                .saturating_add(self.late_ms)
                .saturating_add(work)
        })
    }
}
