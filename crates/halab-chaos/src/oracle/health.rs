//! `final-health`: the health the run's last inspection of a service read (`State.Health.Status`)
//! is one the model's account of the run had shortly before.
//!
//! The model's probe answers at once; a daemon's is an `exec` in the container, and the next
//! probe's interval begins only when it has ended (`monitor` resets its timer at the top of
//! each loop), so a daemon's probes fall behind the model's a little more with each one. An
//! `exec` is no cheaper for the daemon than the `containerStart` the run's slack measures
//! (both go through containerd and runc), so a change the model makes at its n-th probe since
//! the service's last start, the daemon may make up to (n + 1) × the slack later — never
//! earlier. What inspect reads at `t` is a health the model was in before the answer and did
//! not leave more than that lag before `t`. Once the model's health has settled, later probes
//! add no lag: a daemon that read `starting` long after the model's `unhealthy` fails. Only
//! where that lag can carry a probe past the end of `start_period`, so that it counts on the
//! daemon and not in the model, can the daemon be a probe ahead: the history cannot decide.
//!
//! Health events are not part of the `events` property — no restart follows them, and a
//! probe's timing against the harness's own operations is the daemon's scheduling, not its
//! restart behaviour — but the sequences both sides logged are kept as facts.

use halab_model::{
    ContainerAction, DaemonOp, HealthStatus, History, Nanos, Observed, Op, OpSpan, OpStep,
    ServiceOp,
};

use super::replay::Replayed;
use super::slack::Slack;
use crate::checks::{CheckResult, Verdict};
use crate::scenario::HealthCheck;

const NAME: &str = "final-health";

/// What the comparison needs of the run.
pub(super) struct Run<'a> {
    pub(super) history: &'a History,
    pub(super) spans: &'a [OpSpan<'a>],
    pub(super) service: &'a str,
    pub(super) check: &'a HealthCheck,
    /// From here on the service's history cannot decide (the daemon lost, an operation's
    /// outcome unknown, a race); `None` when it always can.
    pub(super) undecided_from: Option<Nanos>,
    /// The history ends before the run did.
    pub(super) cut_short: bool,
}

/// The property for one service with a health check.
pub(super) fn final_health(run: &Run<'_>, replayed: &Replayed, slack: &Slack) -> CheckResult {
    let service = run.service;
    let unknown = |why: String| CheckResult::new(NAME, service, Verdict::Unknown, why);
    let last_inspection = run
        .spans
        .iter()
        .filter(|s| {
            matches!(s.op, Op::Service { service: s2, op: ServiceOp::Inspect } if s2 == service)
        })
        .filter_map(|s| match s.ended {
            Some((answered, OpStep::Ok { read: Some(read) })) => Some((s, answered, read)),
            _ => None,
        })
        .next_back();
    let Some((span, answered, read)) = last_inspection.filter(|_| !run.cut_short) else {
        return unknown(
            "the history holds no final inspection of the service: its final health is unknown"
                .into(),
        );
    };
    let t = span.invoked;
    let events = |history_events: Vec<String>, predicted: Vec<String>, r: CheckResult| {
        r.fact("observed_events", history_events)
            .fact("predicted_events", predicted)
    };
    let observed_events = health_events(
        run.history
            .container_actions(service)
            .filter(|(at, _)| *at <= t)
            .map(|(_, a)| a),
    );
    let predicted_events = health_events(
        replayed
            .events
            .get(service)
            .into_iter()
            .flatten()
            .filter(|p| p.at <= t)
            .map(|p| &p.action),
    );
    // The lab's own first start is a daemon operation too: only a stop, crash or power loss
    // leaves a daemon to restart.
    if run
        .spans
        .iter()
        .any(|s| s.invoked <= t && s.daemon_op().is_some_and(DaemonOp::ends_daemon))
    {
        return events(
            observed_events,
            predicted_events,
            unknown(
                "the daemon was stopped or crashed before the inspection: the model's health \
                 across a daemon restart is read from moby's source (20.10's `restore` restarts \
                 no monitor of a container it keeps running), not yet shown on a lab"
                    .into(),
            ),
        );
    }
    if run.undecided_from.is_some_and(|from| from <= t) {
        return events(
            observed_events,
            predicted_events,
            unknown(
                "the history cannot decide the service's state before the inspection (the daemon lost, an operation's outcome unknown, or a race)".into(),
            ),
        );
    }
    let interval_ms = run.check.interval_ms;
    if let Some(k) = straddled_probe(run.check, slack.late_ms) {
        return events(
            observed_events,
            predicted_events,
            unknown(format!(
                "probe {k} comes before the start period ends in the model but may come after it                  on the daemon, whose probes fall behind by up to the slack each: the daemon may                  count one failure more than the model, so the history cannot decide"
            )),
        );
    }
    let log: &[(Nanos, Observed)] = replayed.states.get(service).map_or(&[], Vec::as_slice);
    // How late the daemon may make the model's change from `from` to `to`, at `at`: a probe's
    // change (only the health differs) up to one slack per probe since the start; any other
    // change — an exit, a stop, a pause — one slack, however many probes came before it.
    let lag_ns = |at: Nanos, from: &Observed, to: &Observed| {
        let probe_made = Observed {
            health: from.health,
            ..*to
        } == *from;
        let lags = if probe_made {
            probes_before(log, at, interval_ms).saturating_add(1)
        } else {
            1
        };
        lags.saturating_mul(slack.late_ns())
    };
    // Never earlier than the model (less clock granularity): nothing after the answer.
    let to = answered.plus_nanos(slack.early_ns());
    let mut candidates: Vec<&'static str> = Vec::new();
    for (i, (at, model)) in log.iter().enumerate() {
        if *at > to {
            break;
        }
        // The model left this state at the next entry; the daemon may leave it that much later.
        let left = log
            .get(i + 1)
            .map(|(next, then)| next.plus_nanos(lag_ns(*next, model, then)));
        if left.is_none_or(|left| left >= t) {
            candidates.push(shown(if model.removed { None } else { model.health }));
        }
    }
    candidates.dedup();
    let read_health = read.health.as_deref().unwrap_or("none");
    let same = candidates.contains(&read_health);
    let predicted = candidates.join(" or ");
    let detail = if same {
        format!("{read_health}, as the model predicts")
    } else {
        format!("{read_health}; the model predicts {predicted}")
    };
    events(
        observed_events,
        predicted_events,
        CheckResult::passes(NAME, service, same, detail)
            .fact("observed", read_health)
            .fact("predicted", &predicted)
            .fact("late_per_probe_ms", slack.late_ms)
            .fact("probes", probes_before(log, t, interval_ms)),
    )
}

/// How inspect spells a health (`none`: no `State.Health`, or no container: a removed one
/// answers 404).
fn shown(health: Option<HealthStatus>) -> &'static str {
    health.map_or("none", HealthStatus::as_str)
}

/// The `health_status` events among `actions`, spelled as the stream spells them.
fn health_events<'a>(actions: impl Iterator<Item = &'a ContainerAction>) -> Vec<String> {
    actions
        .filter(|a| matches!(a, ContainerAction::HealthStatus { .. }))
        .map(ContainerAction::short)
        .collect()
}

/// The first probe that falls inside the start period in the model (`k × interval` before it
/// ends) but may fall outside it on the daemon, whose k-th probe may come up to `k × late_ms`
/// later; such a probe counts on the daemon and not in the model (`handleProbeResult` skips a
/// failure while `timeSinceStart < startPeriod`).
fn straddled_probe(check: &HealthCheck, late_ms: i64) -> Option<u64> {
    let (period, interval) = (check.start_period_ms, check.interval_ms.max(1));
    let late = u64::try_from(late_ms.max(0)).unwrap_or(u64::MAX);
    (1..=period.saturating_sub(1) / interval)
        .find(|&k| k.saturating_mul(interval.saturating_add(late)) >= period)
}

/// How many probes the model's monitor ran from the service's last start before `t`: one an
/// interval after the start, then one every interval.
fn probes_before(log: &[(Nanos, Observed)], t: Nanos, interval_ms: u64) -> i64 {
    let started = log
        .iter()
        .rev()
        .find(|(at, _)| *at <= t)
        .and_then(|(_, m)| m.started_at);
    let interval_ms = i64::try_from(interval_ms.max(1)).unwrap_or(i64::MAX);
    started.map_or(0, |s| t.millis_since(s).max(0) / interval_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(interval_ms: u64, start_period_ms: u64) -> HealthCheck {
        HealthCheck {
            cmd: "false".into(),
            passes: false,
            interval_ms,
            timeout_ms: 30_000,
            start_period_ms,
            retries: 2,
        }
    }

    #[test]
    fn a_probe_straddles_the_start_period_only_when_the_lag_can_carry_it_out() {
        // The model's probes at 1 s and 2 s fall inside 2.05 s; the daemon's second may come
        // 2 × 100 ms later, at 2.2 s, outside it.
        assert_eq!(straddled_probe(&check(1_000, 2_050), 100), Some(2));
        // A period that ends on a probe: the model's probe at 2 s is already outside it.
        assert_eq!(straddled_probe(&check(1_000, 2_000), 100), None);
        // Far enough from the next probe for the lag not to reach it.
        assert_eq!(straddled_probe(&check(1_000, 2_500), 100), None);
        assert_eq!(straddled_probe(&check(1_000, 0), 100), None);
    }
}
