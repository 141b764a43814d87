//! What the model says happened: the events the daemon logs, the answers the API gives, and the
//! daemon coming and going.

use serde::{Deserialize, Serialize};

use crate::history::{ContainerAction, DaemonAction};
use crate::op::ApiCall;

/// How an API call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum Answer {
    /// An HTTP status: 204 (or 200 for update) done, 304 already in that state, 404 no such
    /// container, 409 conflict with the container's state, 500 an error without a type.
    Status { code: u16 },
    /// No daemon answered: it is down, shutting down (its listener is closed) or still restoring
    /// containers (its listener does not serve yet).
    NoDaemon,
    /// The daemon died while the call was in progress; the connection dropped without an answer.
    Dropped,
}

impl Answer {
    pub const fn status(code: u16) -> Answer {
        Answer::Status { code }
    }
}

/// One thing the model reports, in the order the daemon would have done it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "output", rename_all = "kebab-case")]
pub enum Output {
    /// An event the daemon logged, as `/events` streams it. Events logged while the daemon
    /// restores containers (during [`crate::DaemonOp::Start`], before `Ready`) are only in its
    /// in-memory ring: a client sees them by subscribing afterwards with `since`.
    Event(ContainerAction),
    /// The `update` event, which [`ContainerAction`] has no variant for.
    UpdateEvent,
    /// The answer to an API call. Calls that wait for the container (stop, restart) are answered
    /// when the wait ends, possibly in a later step.
    Reply { call: ApiCall, answer: Answer },
    /// The daemon process exited ([`DaemonAction::Stopped`]) or answers its API again after
    /// restoring containers ([`DaemonAction::Ready`]).
    Daemon(DaemonAction),
}

impl Output {
    /// The container action, if this is a container event.
    pub fn action(&self) -> Option<&ContainerAction> {
        match self {
            Output::Event(action) => Some(action),
            _ => None,
        }
    }

    /// A short spelling for tables and failure messages: `die(143)`, `kill(15)`, `→204`.
    pub fn short(&self) -> String {
        match self {
            Output::Event(action) => action.short(),
            Output::UpdateEvent => "update".to_owned(),
            Output::Reply { answer, .. } => match answer {
                Answer::Status { code } => format!("→{code}"),
                Answer::NoDaemon => "→no-daemon".to_owned(),
                Answer::Dropped => "→dropped".to_owned(),
            },
            Output::Daemon(DaemonAction::Stopped) => "[daemon down]".to_owned(),
            Output::Daemon(DaemonAction::Ready) => "[daemon ready]".to_owned(),
            Output::Daemon(other) => format!("[daemon {other:?}]"),
        }
    }
}
