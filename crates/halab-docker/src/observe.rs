//! Observation: the daemon's events stream, turned into history entries.
//!
//! The stream is the source of truth while it lasts. It ends when the daemon stops, and the
//! daemon's in-memory event ring dies with it, so every (re)connection does three things in order:
//!
//! 1. **replay** `since` the last event seen, `until` now: a finite request that catches up on
//!    what the daemon emitted while we were not listening (after a restart: the new daemon's
//!    `restore` starts);
//! 2. **reconcile** from `inspect`: a `StartedAt`/`FinishedAt` later than anything recorded for
//!    that container, and not later than the replay's end, is an event the ring lost (typically
//!    a `die` during the old daemon's shutdown); it is recorded with [`Source::Inspect`];
//! 3. **follow** the live stream `since` the replay's end, until it ends.
//!
//! Duplicates across replays are dropped by (time, container id, action).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use halab_model::{ContainerAction, Happening, HealthStatus, Nanos, Source};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::{Recorder, containers, labels, parse_docker_time};

/// How often a disconnected observer tries the daemon again when nobody tells it it is back.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// Where the observer is in its connect / follow cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Not (yet) following: the daemon is down or has not answered.
    Down,
    /// Replayed, reconciled, and following the live stream.
    Live,
}

/// A running observer of one run's containers on one daemon.
pub struct Observer {
    task: JoinHandle<()>,
    wake: Arc<Notify>,
    link: watch::Receiver<Link>,
}

impl Observer {
    /// Starts observing the containers labelled with `run_id` on daemon `node`, from `since`
    /// on. Each event is recorded for the service its container's `halab.service` label names.
    pub fn spawn(
        docker: Docker,
        node: &str,
        run_id: &str,
        recorder: Recorder,
        since: Nanos,
    ) -> Observer {
        let wake = Arc::new(Notify::new());
        let (link_tx, link) = watch::channel(Link::Down);
        let follower = Follower {
            docker,
            node: node.to_owned(),
            run_filter: labels::run_filter(run_id),
            recorder,
            last_seen: since,
            seen: HashSet::new(),
            link: link_tx,
        };
        let task = tokio::spawn(follower.run(wake.clone()));
        Observer { task, wake, link }
    }

    /// Tells the observer the daemon answers again, so it reconnects now rather than at its next
    /// retry.
    pub fn daemon_is_back(&self) {
        self.wake.notify_one();
    }

    /// Waits until the observer follows the live stream (replayed and reconciled).
    pub async fn wait_live(&self, timeout: Duration) -> bool {
        let mut link = self.link.clone();
        tokio::time::timeout(timeout, link.wait_for(|l| *l == Link::Live))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Where the observer is now, as a receiver that wakes on every change.
    pub fn link(&self) -> watch::Receiver<Link> {
        self.link.clone()
    }

    /// Waits until the observer has noticed that the stream ended.
    pub async fn wait_down(&self, timeout: Duration) -> bool {
        let mut link = self.link.clone();
        tokio::time::timeout(timeout, link.wait_for(|l| *l == Link::Down))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Follower {
    docker: Docker,
    node: String,
    run_filter: String,
    recorder: Recorder,
    /// The newest event time recorded: where the next replay starts.
    last_seen: Nanos,
    /// (time, container id, action) of every event recorded.
    seen: HashSet<(i64, String, String)>,
    link: watch::Sender<Link>,
}

impl Follower {
    async fn run(mut self, wake: Arc<Notify>) {
        loop {
            if self.docker.ping().await.is_ok() {
                match self.connect_and_follow().await {
                    Ok(()) => tracing::info!("events stream ended (daemon stopping?)"),
                    Err(e) => tracing::info!(error = %e, "events stream lost"),
                }
            }
            self.link.send_replace(Link::Down);
            let _ = tokio::time::timeout(RETRY_EVERY, wake.notified()).await;
        }
    }

    async fn connect_and_follow(&mut self) -> Result<(), bollard::errors::Error> {
        let replay_end = crate::now();
        let mut replay = self
            .docker
            .events(Some(self.options(self.last_seen, Some(replay_end))));
        while let Some(event) = replay.next().await {
            self.record(&event?);
        }
        self.reconcile(replay_end).await;
        let mut live = self.docker.events(Some(self.options(replay_end, None)));
        self.link.send_replace(Link::Live);
        while let Some(event) = live.next().await {
            self.record(&event?);
        }
        Ok(())
    }

    fn options(&self, since: Nanos, until: Option<Nanos>) -> EventsOptions {
        EventsOptions {
            since: Some(docker_timestamp(since)),
            until: until.map(docker_timestamp),
            filters: Some(HashMap::from([
                ("type".to_owned(), vec!["container".to_owned()]),
                ("label".to_owned(), vec![self.run_filter.clone()]),
            ])),
        }
    }

    fn record(&mut self, event: &EventMessage) {
        let Some(seen) = container_event(event) else {
            return;
        };
        let key = (seen.at.0, seen.id.clone(), seen.action.name().to_owned());
        if !self.seen.insert(key) {
            return;
        }
        self.last_seen = self.last_seen.max(seen.at);
        self.recorder.record(
            seen.at,
            Source::Events,
            Happening::Container {
                node: self.node.clone(),
                service: seen.service,
                action: seen.action,
            },
        );
    }

    /// Records what `inspect` shows happened up to `until` that no event told us.
    async fn reconcile(&mut self, until: Nanos) {
        let names = match containers::list_labelled(&self.docker, &self.run_filter).await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(error = %e, "could not list containers to reconcile");
                return;
            }
        };
        for name in names {
            let Ok(inspected) = containers::inspect(&self.docker, &name).await else {
                continue;
            };
            // Only a service's container is reconciled: not the probe, nor anything else that
            // carries the run's label without being one of its services.
            let labels = inspected.config.as_ref().and_then(|c| c.labels.as_ref());
            if labels.is_some_and(|l| l.contains_key(labels::PROBE)) {
                continue;
            }
            let Some(service) = labels.and_then(|l| l.get(labels::SERVICE).cloned()) else {
                continue;
            };
            let Some(state) = inspected.state else {
                continue;
            };
            let (last_start, last_die) = self.recorder.with(|h| {
                let last = |want: fn(&ContainerAction) -> bool| {
                    h.container_actions(&service)
                        .filter(|(_, a)| want(a))
                        .map(|(at, _)| at)
                        .last()
                };
                (
                    last(|a| matches!(a, ContainerAction::Start)),
                    last(|a| matches!(a, ContainerAction::Die { .. })),
                )
            });
            let missed = |at: Option<Nanos>, last: Option<Nanos>| {
                at.filter(|&at| at <= until && last.is_none_or(|last| at > last))
            };
            if let Some(at) = missed(
                state.started_at.as_deref().and_then(parse_docker_time),
                last_start,
            ) {
                tracing::info!(container = %name, "reconciled a start the events stream lost");
                self.recorder.record(
                    at,
                    Source::Inspect,
                    Happening::Container {
                        node: self.node.clone(),
                        service: service.clone(),
                        action: ContainerAction::Start,
                    },
                );
            }
            if let Some(at) = missed(
                state.finished_at.as_deref().and_then(parse_docker_time),
                last_die,
            ) {
                tracing::info!(container = %name, "reconciled a die the events stream lost");
                let exit_code = state.exit_code.unwrap_or_default();
                self.recorder.record(
                    at,
                    Source::Inspect,
                    Happening::Container {
                        node: self.node.clone(),
                        service: service.clone(),
                        action: ContainerAction::Die { exit_code },
                    },
                );
            }
        }
    }
}

/// A container event, as halab records it.
#[derive(Debug, PartialEq)]
pub struct ContainerEvent {
    pub at: Nanos,
    pub id: String,
    pub name: String,
    /// Its container's `halab.service` label, else the container's name.
    pub service: String,
    pub action: ContainerAction,
}

/// Reads a container event off the stream; `None` for other types and for actions halab does not
/// record (`exec_*` — each health probe is an exec —, `attach`, an action it does not know, …).
/// A health probe that changes the container's health logs `health_status: STATUS`
/// (`handleProbeResult`), the status inside the action.
pub fn container_event(event: &EventMessage) -> Option<ContainerEvent> {
    if event.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let actor = event.actor.as_ref()?;
    let attributes = actor.attributes.as_ref();
    let attribute = |key: &str| attributes.and_then(|a| a.get(key)).cloned();
    // The probe's events, and those of anything that is not one of the run's services.
    if attribute(labels::PROBE).is_some() {
        return None;
    }
    let service = attribute(labels::SERVICE)?;
    let action = match event.action.as_deref()? {
        "create" => ContainerAction::Create,
        "start" => ContainerAction::Start,
        "die" => ContainerAction::Die {
            exit_code: attribute("exitCode")?.parse().ok()?,
        },
        "kill" => ContainerAction::Kill {
            signal: attribute("signal").unwrap_or_default(),
        },
        "stop" => ContainerAction::Stop,
        "oom" => ContainerAction::Oom,
        "pause" => ContainerAction::Pause,
        "unpause" => ContainerAction::Unpause,
        "restart" => ContainerAction::Restart,
        "destroy" => ContainerAction::Destroy,
        other => ContainerAction::HealthStatus {
            status: HealthStatus::parse(other.strip_prefix("health_status: ")?)?,
        },
    };
    let at = event
        .time_nano
        .or_else(|| event.time.map(|s| s * 1_000_000_000))?;
    let name = attribute("name").unwrap_or_default();
    Some(ContainerEvent {
        at: Nanos(at),
        id: actor.id.clone().unwrap_or_default(),
        service,
        name,
        action,
    })
}

/// A time as the events API takes it in `since` and `until`: `seconds.nanoseconds`.
fn docker_timestamp(at: Nanos) -> String {
    format!(
        "{}.{:09}",
        at.0.div_euclid(1_000_000_000),
        at.0.rem_euclid(1_000_000_000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn event(action: &str, attributes: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some(
                    attributes
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            time: Some(1),
            time_nano: Some(1_000_000_123),
            ..Default::default()
        }
    }

    #[test]
    fn die_carries_its_exit_code_and_name() {
        let seen = container_event(&event(
            "die",
            &[
                ("exitCode", "137"),
                ("name", "halab-r-svc"),
                ("halab.service", "svc"),
            ],
        ))
        .unwrap();
        assert_eq!(seen.action, ContainerAction::Die { exit_code: 137 });
        assert_eq!(seen.name, "halab-r-svc");
        assert_eq!(seen.service, "svc");
        assert_eq!(seen.at, Nanos(1_000_000_123));
    }

    #[test]
    fn the_probe_and_containers_of_no_service_are_skipped() {
        let probe = event(
            "die",
            &[
                ("exitCode", "0"),
                ("halab.probe", "1"),
                ("halab.service", "x"),
            ],
        );
        assert_eq!(container_event(&probe), None);
        assert_eq!(container_event(&event("start", &[("name", "other")])), None);
    }

    #[test]
    fn unrecorded_actions_and_types_are_skipped() {
        assert_eq!(container_event(&event("exec_create: sh", &[])), None);
        let mut network = event("connect", &[]);
        network.typ = Some(EventMessageTypeEnum::NETWORK);
        assert_eq!(container_event(&network), None);
    }

    #[test]
    fn health_status_carries_its_status_and_an_unknown_one_is_skipped() {
        let labelled = [("halab.service", "svc")];
        let seen = container_event(&event("health_status: unhealthy", &labelled)).unwrap();
        assert_eq!(
            seen.action,
            ContainerAction::HealthStatus {
                status: HealthStatus::Unhealthy
            }
        );
        let healthy = container_event(&event("health_status: healthy", &labelled)).unwrap();
        assert_eq!(healthy.action.short(), "health_status: healthy");
        assert_eq!(
            container_event(&event("health_status: sleepy", &labelled)),
            None
        );
        assert_eq!(container_event(&event("health_status", &labelled)), None);
        assert_eq!(container_event(&event("exec_die", &labelled)), None);
    }

    #[test]
    fn timestamps_keep_nanoseconds() {
        assert_eq!(
            docker_timestamp(Nanos(1_795_714_668_000_000_042)),
            "1795714668.000000042"
        );
    }
}
