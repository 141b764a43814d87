//! The restart-policy state machine, found by driving the restart model.
//!
//! From each state a container can be brought to (created, running, restarting, exited by
//! itself, stopped by hand), each input of [`INPUTS`] is applied under each policy, and the
//! state the model is in right after it is recorded. Transitions that lead to the same state
//! under several policies are drawn once, labelled with those policies. Nothing here decides a
//! transition: the model does, and this module only draws what it answered.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use halab_model::{
    ApiCall, ContainerAction, ContainerModel, DaemonOp, EngineVersion, Nanos, Observed, Op,
    RestartPolicy, ServiceOp, Status,
};

/// The states the diagram shows: `exited` is split by whether the container was stopped through
/// the API, which is what `unless-stopped` remembers across a daemon restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Created,
    Running,
    Restarting,
    Exited,
    StoppedByHand,
}

impl Node {
    fn of(state: &Observed) -> Option<Node> {
        Some(match state.status {
            Status::Created => Node::Created,
            Status::Running => Node::Running,
            Status::Restarting => Node::Restarting,
            Status::Exited if state.manually_stopped => Node::StoppedByHand,
            Status::Exited => Node::Exited,
            _ => return None,
        })
    }

    fn id(self) -> &'static str {
        match self {
            Node::Created => "created",
            Node::Running => "running",
            Node::Restarting => "restarting",
            Node::Exited => "exited",
            Node::StoppedByHand => "stopped",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Node::Created => "created",
            Node::Running => "running",
            Node::Restarting => "restarting\\n(back-off)",
            Node::Exited => "exited",
            Node::StoppedByHand => "exited\\n(docker stop or kill)",
        }
    }
}

/// What happens to the container, as the diagram names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    ExitsZero,
    ExitsNonZero,
    Crash,
    DockerStop,
    DockerKill,
    DockerStart,
    DaemonRestart,
    BackoffElapses,
    /// `on-failure:N` only: a failure after the N restarts it allows.
    ExitsNonZeroAfterRetries,
}

impl Event {
    fn label(self) -> &'static str {
        match self {
            Event::ExitsZero => "exits 0",
            Event::ExitsNonZero => "exits ≠ 0",
            Event::Crash => "crash",
            Event::DockerStop => "docker stop",
            Event::DockerKill => "docker kill",
            Event::DockerStart => "docker start",
            Event::DaemonRestart => "daemon restart",
            Event::BackoffElapses => "back-off ends",
            Event::ExitsNonZeroAfterRetries => "exits ≠ 0 after N restarts",
        }
    }

    /// Whether the daemon does it by itself (drawn solid) or someone asks it to (dashed).
    fn automatic(self) -> bool {
        !matches!(
            self,
            Event::DockerStop | Event::DockerKill | Event::DockerStart
        )
    }

    fn inputs(self) -> Vec<Op> {
        let on = |op| Op::on(C, op);
        match self {
            Event::ExitsZero => vec![on(ServiceOp::Exit { code: 0 })],
            Event::ExitsNonZero => vec![on(ServiceOp::Exit { code: 1 })],
            Event::Crash => vec![on(ServiceOp::Signal { signal: 9 })],
            Event::DockerStop => vec![on(ServiceOp::Api(ApiCall::Stop { timeout_s: None }))],
            Event::DockerKill => vec![on(ServiceOp::Api(ApiCall::Kill { signal: 0 }))],
            Event::DockerStart => vec![on(ServiceOp::Api(ApiCall::Start))],
            Event::DaemonRestart => vec![Op::Daemon(DaemonOp::Stop), Op::Daemon(DaemonOp::Start)],
            // Not an input: time passes to the model's next deadline.
            Event::BackoffElapses => vec![],
            // Driven step by step (see `drive`): N failures and restarts, then one more.
            Event::ExitsNonZeroAfterRetries => vec![on(ServiceOp::Exit { code: 1 })],
        }
    }
}

/// The inputs tried from every state.
pub const INPUTS: [Event; 9] = [
    Event::ExitsZero,
    Event::ExitsNonZero,
    Event::Crash,
    Event::DockerStop,
    Event::DockerKill,
    Event::DockerStart,
    Event::DaemonRestart,
    Event::BackoffElapses,
    Event::ExitsNonZeroAfterRetries,
];

/// The N of `on-failure:N` the diagram follows; the label says "N".
const ON_FAILURE_RETRIES: u32 = 2;

/// The policies, with the letters the diagram names them by (its legend spells them out).
pub const POLICIES: [(RestartPolicy, &str, &str); 4] = [
    (RestartPolicy::No, "no", "N"),
    (
        RestartPolicy::OnFailure {
            max_retries: ON_FAILURE_RETRIES,
        },
        "on-failure:N",
        "F",
    ),
    (RestartPolicy::Always, "always", "A"),
    (RestartPolicy::UnlessStopped, "unless-stopped", "U"),
];

/// The one container the diagram follows, as ops name it.
const C: &str = "c";

/// How to bring a fresh container to each state.
fn fixtures() -> Vec<Vec<Op>> {
    let on = |op| Op::on(C, op);
    let start = on(ServiceOp::Api(ApiCall::Start));
    vec![
        vec![],
        vec![start.clone()],
        vec![start.clone(), on(ServiceOp::Exit { code: 1 })],
        vec![start.clone(), on(ServiceOp::Exit { code: 0 })],
        vec![start, on(ServiceOp::Api(ApiCall::Stop { timeout_s: None }))],
    ]
}

const MS: i64 = 1_000_000;

/// Applies `event`; returns whether the daemon started the container on the way.
fn drive(model: &mut ContainerModel, now: &mut Nanos, event: Event) -> bool {
    let mut outputs = Vec::new();
    if event == Event::BackoffElapses
        && let Some(deadline) = model.next_deadline()
    {
        *now = deadline;
        outputs.extend(model.advance(deadline));
    }
    if event == Event::ExitsNonZeroAfterRetries {
        // Use up the retries first: each failure is restarted when its back-off ends.
        for _ in 0..ON_FAILURE_RETRIES {
            *now = Nanos(now.0 + MS);
            model.apply_op(&Op::on(C, ServiceOp::Exit { code: 1 }), *now);
            if let Some(deadline) = model.next_deadline() {
                *now = deadline;
                model.advance(deadline);
            }
        }
    }
    for input in event.inputs() {
        *now = Nanos(now.0 + MS);
        outputs.extend(model.apply_op(&input, *now));
    }
    outputs
        .iter()
        .any(|o| matches!(o.action(), Some(ContainerAction::Start)))
}

/// One arrow: `from` —`event`→ `to`, under `policies` (indices into [`POLICIES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Node,
    pub event: Event,
    pub to: Node,
    pub policies: Vec<usize>,
}

/// Every state change the model makes, merged over policies. Inputs that leave the container as
/// it was are left out.
pub fn transitions() -> Vec<Transition> {
    let mut found: BTreeMap<(Node, Event, Node), Vec<usize>> = BTreeMap::new();
    for (p, &(policy, _, _)) in POLICIES.iter().enumerate() {
        for script in fixtures() {
            let mut model = ContainerModel::new(policy, EngineVersion::V20_10);
            let mut now = Nanos(1_000_000 * MS);
            for input in &script {
                now = Nanos(now.0 + MS);
                model.apply_op(input, now);
            }
            let Some(from) = Node::of(&model.state()) else {
                continue;
            };
            for event in INPUTS {
                if event == Event::ExitsNonZeroAfterRetries
                    && !(from == Node::Running && matches!(policy, RestartPolicy::OnFailure { .. }))
                {
                    continue;
                }
                let mut m = model.clone();
                let mut t = now;
                let started = drive(&mut m, &mut t, event);
                let Some(to) = Node::of(&m.state()) else {
                    continue;
                };
                // A state left as it was is no transition, unless the container was stopped
                // and started again on the way (a daemon restart).
                if to != from || started {
                    let policies = found.entry((from, event, to)).or_default();
                    if !policies.contains(&p) {
                        policies.push(p);
                    }
                }
            }
        }
    }
    found
        .into_iter()
        .map(|((from, event, to), policies)| Transition {
            from,
            event,
            to,
            policies,
        })
        .collect()
}

fn policy_list(policies: &[usize]) -> String {
    policies
        .iter()
        .map(|&i| POLICIES[i].2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The state machine as Graphviz DOT: render it with `dot -Tsvg`.
pub fn states() -> String {
    let transitions = transitions();
    // Arrows between the same two states under the same policies share one label.
    let mut arrows: BTreeMap<(Node, Node, Vec<usize>, bool), Vec<Event>> = BTreeMap::new();
    for t in &transitions {
        arrows
            .entry((t.from, t.to, t.policies.clone(), t.event.automatic()))
            .or_default()
            .push(t.event);
    }
    let mut dot = String::new();
    dot.push_str(
        "// The restart-policy state machine of Docker Engine 20.10, as the halab restart\n",
    );
    dot.push_str("// model answers: generated by `halab-figures states`; do not edit.\n");
    dot.push_str("digraph restart_policies {\n");
    // Top to bottom: a narrow figure is shown nearer its own size, so its labels stay readable.
    dot.push_str("  rankdir=TB;\n  nodesep=0.6;\n  ranksep=0.7;\n");
    dot.push_str("  labelloc=b;\n  fontname=\"DejaVu Sans\";\n  fontsize=14;\n");
    let letters: Vec<String> = POLICIES
        .iter()
        .map(|(_, name, letter)| format!("{letter} {name}"))
        .collect();
    let _ = writeln!(
        dot,
        "  label=\"[{}]\\nsolid: the process or the daemon does it · dashed: a docker command\";",
        letters.join(" · ")
    );
    dot.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"DejaVu Sans\", fontsize=16, fillcolor=\"#f4f4f4\", color=\"#666666\"];\n");
    dot.push_str("  edge [fontname=\"DejaVu Sans\", fontsize=14, color=\"#444444\"];\n");
    for node in [
        Node::Created,
        Node::Running,
        Node::Restarting,
        Node::Exited,
        Node::StoppedByHand,
    ] {
        let fill = match node {
            Node::Running => "#d7efd9",
            Node::Restarting => "#fdebd0",
            _ => "#f4f4f4",
        };
        let _ = writeln!(
            dot,
            "  {} [label=\"{}\", fillcolor=\"{fill}\"];",
            node.id(),
            node.label()
        );
    }
    // One arrow per pair of states and kind (automatic or asked for), a line per group of
    // events with the policies it holds for: fewer arrows keep the figure narrow enough to be
    // shown near its own size.
    let mut lines: BTreeMap<(Node, Node, bool), Vec<String>> = BTreeMap::new();
    for ((from, to, policies, automatic), events) in &arrows {
        let what = events
            .iter()
            .map(|e| e.label())
            .collect::<Vec<_>>()
            .join(", ");
        lines
            .entry((*from, *to, *automatic))
            .or_default()
            .push(format!("{what}\\n[{}]", policy_list(policies)));
    }
    for ((from, to, automatic), lines) in &lines {
        let style = if *automatic { "solid" } else { "dashed" };
        // A loop is drawn on its state's right, away from the arrows into it from above.
        let ports = if from == to {
            ", tailport=e, headport=e"
        } else {
            ""
        };
        let _ = writeln!(
            dot,
            "  {} -> {} [label=\"{}\", style={style}{ports}];",
            from.id(),
            to.id(),
            lines.join("\\n")
        );
    }
    dot.push_str("}\n");
    dot
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(from: Node, event: Event, to: Node, policy: &str) -> bool {
        let p = POLICIES.iter().position(|(_, n, _)| *n == policy).unwrap();
        transitions()
            .iter()
            .any(|t| t.from == from && t.event == event && t.to == to && t.policies.contains(&p))
    }

    #[test]
    fn a_crash_restarts_always_and_docker_kill_does_not() {
        assert!(has(Node::Running, Event::Crash, Node::Restarting, "always"));
        assert!(has(
            Node::Running,
            Event::DockerKill,
            Node::StoppedByHand,
            "always"
        ));
        assert!(has(
            Node::Restarting,
            Event::BackoffElapses,
            Node::Running,
            "always"
        ));
    }

    #[test]
    fn only_unless_stopped_stays_stopped_across_a_daemon_restart() {
        assert!(has(
            Node::StoppedByHand,
            Event::DaemonRestart,
            Node::Running,
            "always"
        ));
        assert!(!has(
            Node::StoppedByHand,
            Event::DaemonRestart,
            Node::Running,
            "unless-stopped"
        ));
    }

    #[test]
    fn on_failure_gives_up_after_its_retries_and_only_it_is_drawn_so() {
        assert!(has(
            Node::Running,
            Event::ExitsNonZeroAfterRetries,
            Node::Exited,
            "on-failure:N"
        ));
        assert!(
            transitions()
                .iter()
                .filter(|t| t.event == Event::ExitsNonZeroAfterRetries)
                .all(|t| t.policies == [1])
        );
    }

    #[test]
    fn the_dot_is_stable() {
        assert_eq!(states(), states());
        assert!(states().starts_with("// The restart-policy state machine"));
    }
}
