//! The oracle's `answers` property: each Engine API call the harness made, answered by the
//! daemon as the model answers it — done (204, or 304 "already so"), or refused with the
//! model's status (409 for a pause of a container that is not running, 500 for an unpause of
//! one that is not paused, …), or no answer at all while the daemon is down.
//!
//! A schedule drawn at random makes calls the daemon refuses; whether it should is the model's
//! to say. A disagreement within the run's slack of a change of the service's state (the model
//! restarted it a moment earlier or later than the daemon did) is `unknown`: the two were
//! between states, and the call landed in between.

use halab_model::{Answer, ContainerAction, Happening, History, Nanos, Op, OpStep, ServiceOp};

use super::replay::Replayed;
use super::slack::Slack;
use crate::checks::{CheckResult, Evidence, Mark, Verdict};

const NAME: &str = "answers";

/// How a call ended on the daemon, as far as its answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    /// Refused with this status, when the error names it.
    Refused(Option<u16>),
    /// No daemon answered (it was down, or its socket refused the connection).
    NoDaemon,
}

/// The status an error names ("… status code 409 …", "… answered 409 …").
fn status_in(error: &str) -> Option<u16> {
    ["status code ", "answered "].iter().find_map(|key| {
        let at = error.find(key)? + key.len();
        error.get(at..at + 3)?.parse().ok()
    })
}

/// Whether a call's error says no daemon took the call: a lab's socket refuses the connection
/// or is gone (so no client of it can be made), or the connection was reset before the daemon
/// accepted it; the simulator says so.
pub(crate) fn no_daemon_listening(error: &str) -> bool {
    error.contains("onnection refused")
        || error.contains("No such file or directory")
        || error.contains("Socket not found")
        || error.contains("no daemon answers")
        || (error.contains("(Connect)") && error.contains("onnection reset"))
}

fn observed(step: &OpStep) -> Option<Outcome> {
    match step {
        OpStep::Ok { .. } => Some(Outcome::Done),
        OpStep::Fail { error } => Some(match status_in(error) {
            Some(code) => Outcome::Refused(Some(code)),
            None if no_daemon_listening(error) => Outcome::NoDaemon,
            None => Outcome::Refused(None),
        }),
        // The outcome is unknown: nothing to compare.
        OpStep::Info { .. } | OpStep::Invoke => None,
    }
}

/// Whether the daemon's outcome is the model's answer.
fn agrees(outcome: Outcome, answer: Answer) -> bool {
    match (outcome, answer) {
        (Outcome::Done, Answer::Status { code }) => code < 400,
        (Outcome::Refused(Some(seen)), Answer::Status { code }) => seen == code,
        (Outcome::Refused(None), Answer::Status { code }) => code >= 400,
        (Outcome::NoDaemon, Answer::NoDaemon | Answer::Dropped) => true,
        // A call the daemon dropped as it died may have reached it or not.
        (_, Answer::Dropped) => true,
        _ => false,
    }
}

fn describe(answer: Answer) -> String {
    match answer {
        Answer::Status { code } => format!("answers {code}"),
        Answer::NoDaemon => "has no daemon to answer".into(),
        Answer::Dropped => "drops the call".into(),
    }
}

/// The property for `service`, if the run made any API call to it.
pub(super) fn answers(
    history: &History,
    service: &str,
    replayed: &Replayed,
    slack: &Slack,
    first: Nanos,
) -> Option<CheckResult> {
    let ms = |at: Nanos| at.millis_since(first);
    // When the service's state changed, on either side.
    let mut changes: Vec<Nanos> = history
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Container {
                service: s, action, ..
            } if s == service
                && !matches!(
                    action,
                    ContainerAction::Create | ContainerAction::HealthStatus { .. }
                ) =>
            {
                Some(e.at)
            }
            _ => None,
        })
        .collect();
    changes.extend(
        replayed
            .events
            .get(service)
            .into_iter()
            .flatten()
            .map(|p| p.at),
    );
    let margin = (slack.late_ms + slack.early_ms) * 1_000_000;
    let (mut agreed, mut undecided) = (0usize, 0usize);
    let mut differences: Vec<Evidence> = Vec::new();
    let mut near_change: Vec<Evidence> = Vec::new();
    for span in history.op_spans() {
        let Op::Service {
            service: s,
            op: ServiceOp::Api(_),
        } = span.op
        else {
            continue;
        };
        if s != service {
            continue;
        }
        let (Some((ended, step)), Some(&answer)) = (span.ended, replayed.answers.get(&span.id))
        else {
            undecided += 1;
            continue;
        };
        let Some(outcome) = observed(step) else {
            undecided += 1;
            continue;
        };
        if agrees(outcome, answer) {
            agreed += 1;
            continue;
        }
        let said = match step {
            OpStep::Fail { error } => format!("refused it ({})", crate::text::one_line(error)),
            _ => "did it".to_owned(),
        };
        let evidence = Evidence {
            what: format!(
                "{}: the daemon {said}; the model {}",
                span.op,
                describe(answer)
            ),
            observed: Some(Mark {
                at_ms: ms(ended),
                position: None,
                text: said.clone(),
            }),
            predicted: None,
            op: Some(Mark {
                at_ms: ms(span.invoked),
                position: Some(span.position),
                text: span.op.to_string(),
            }),
        };
        let (from, to) = (Nanos(span.invoked.0 - margin), Nanos(ended.0 + margin));
        if changes.iter().any(|&c| from <= c && c <= to) {
            near_change.push(evidence);
        } else {
            differences.push(evidence);
        }
    }
    let calls = agreed + undecided + differences.len() + near_change.len();
    if calls == 0 {
        return None;
    }
    // A call that landed while the daemon and the model were between two states (a restart a
    // moment apart, say) cannot be decided either way: it is left out of the claim, and said.
    let undecided = undecided + near_change.len();
    let (verdict, detail) = if !differences.is_empty() {
        (
            Verdict::Fail,
            format!(
                "{} of {calls} calls answered otherwise than the model answers them",
                differences.len()
            ),
        )
    } else {
        (
            Verdict::Pass,
            format!(
                "{agreed} calls answered as the model answers them{}",
                match (near_change.len(), undecided) {
                    (0, 0) => String::new(),
                    (0, n) => format!(" ({n} with no answer to compare)"),
                    (k, n) => format!(
                        " ({n} not judged: {k} landed while the daemon and the model were between two states, within the run's slack of a change of the service)"
                    ),
                }
            ),
        )
    };
    let mut evidence = differences;
    evidence.extend(near_change);
    Some(
        CheckResult::new(NAME, service, verdict, detail)
            .fact("calls", calls)
            .fact("agreed", agreed)
            .with_evidence(evidence),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_read_from_either_runtime_s_error() {
        assert_eq!(
            status_in("Docker responded with status code 409: is not running"),
            Some(409)
        );
        assert_eq!(status_in("the daemon answered 500"), Some(500));
        assert_eq!(status_in("timed out"), None);
    }

    #[test]
    fn outcomes_agree_with_answers_by_class_and_status() {
        let done = Outcome::Done;
        assert!(agrees(done, Answer::status(204)));
        assert!(agrees(done, Answer::status(304)));
        assert!(!agrees(done, Answer::status(409)));
        assert!(agrees(Outcome::Refused(Some(409)), Answer::status(409)));
        assert!(!agrees(Outcome::Refused(Some(500)), Answer::status(409)));
        assert!(agrees(Outcome::Refused(Some(304)), Answer::status(304)));
        assert!(agrees(Outcome::NoDaemon, Answer::NoDaemon));
        assert!(no_daemon_listening(
            "killing container x with signal 9: Error in the hyper legacy client: client error \
             (Connect): Connection reset by peer (os error 104)"
        ));
        assert!(no_daemon_listening(
            "cannot reach a Docker daemon at unix:///l/docker.sock (Socket not found: \
             /l/docker.sock): is dockerd running there, and may this user open its socket?"
        ));
        assert!(!no_daemon_listening(
            "Error in the hyper legacy client: connection closed before message completed"
        ));
        assert!(!agrees(Outcome::Done, Answer::NoDaemon));
        assert!(!agrees(Outcome::NoDaemon, Answer::status(204)));
    }
}
