//! Observation against real daemons: events become history, and what the events stream loses
//! when a daemon stops is reconciled from `inspect`.

use std::time::Duration;

use halab_docker::image::LabImage;
use halab_docker::observe::Observer;
use halab_docker::{Recorder, labels};
use halab_model::{ContainerAction, Source};
use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::support::*;

/// The node the observers here record for.
const NODE: &str = "machine";

fn actions(recorder: &Recorder, service: &str) -> Vec<(ContainerAction, Source)> {
    recorder.with(|h| {
        h.entries()
            .iter()
            .filter_map(|e| match &e.what {
                halab_model::Happening::Container {
                    node,
                    service: s,
                    action,
                } if s == service && node == NODE => Some((action.clone(), e.source)),
                _ => None,
            })
            .collect()
    })
}

/// The machine's daemon, with the lab image built on it.
async fn machine_daemon_with_lab_image() -> (halab_docker::Docker, String) {
    require_machine_daemon();
    let (docker, _) = halab_docker::connect(MACHINE_DAEMON).await.unwrap();
    let tag = LabImage::from_busybox(None)
        .unwrap()
        .ensure(&docker)
        .await
        .unwrap()
        .to_owned();
    (docker, tag)
}

/// A fixture container running `cmd` in the lab image `tag`, labelled with `run_id` as the
/// service `fixture`; testcontainers removes it when it is dropped. Returns the service name.
async fn fixture(tag: &str, run_id: &str, cmd: &[&str]) -> (ContainerAsync<GenericImage>, String) {
    let (repository, version) = tag.split_once(':').unwrap();
    let service = "fixture".to_owned();
    let name = format!("halab-{run_id}-{service}");
    let container = GenericImage::new(repository, version)
        .with_wait_for(WaitFor::Nothing)
        .with_cmd(cmd.iter().copied())
        .with_label(labels::RUN, run_id)
        .with_label(labels::SERVICE, &service)
        .with_container_name(&name)
        .start()
        .await
        .expect("starting the fixture container");
    (container, service)
}

/// An observer of `run_id`'s containers from now on, with the history it records.
fn observe(docker: &halab_docker::Docker, run_id: &str) -> (Recorder, Observer) {
    let recorder = Recorder::new();
    let observer = Observer::spawn(
        docker.clone(),
        NODE,
        run_id,
        recorder.clone(),
        halab_docker::now(),
    );
    (recorder, observer)
}

/// A fixture container (testcontainers, removed on drop) that exits with 3 on the machine's
/// daemon: the observer records its start and its die with exit code 3, from the stream.
#[tokio::test]
async fn the_events_stream_becomes_history() {
    let (docker, tag) = machine_daemon_with_lab_image().await;
    let run_id = format!("observe-{}", std::process::id());
    let (recorder, observer) = observe(&docker, &run_id);
    assert!(
        observer.wait_live(Duration::from_secs(10)).await,
        "the observer never followed the stream"
    );

    let (fixture, name) = fixture(&tag, &run_id, &["sh", "-c", "exit 3"]).await;

    let died = recorder
        .wait_until(Duration::from_secs(10), |h| {
            h.container_actions(&name)
                .any(|(_, a)| matches!(a, ContainerAction::Die { .. }))
        })
        .await;
    assert!(died, "no die recorded: {:?}", actions(&recorder, &name));
    let seen = actions(&recorder, &name);
    let order: Vec<&ContainerAction> = seen.iter().map(|(a, _)| a).collect();
    let start = order
        .iter()
        .position(|a| **a == ContainerAction::Start)
        .expect("a start");
    let die = order
        .iter()
        .position(|a| **a == ContainerAction::Die { exit_code: 3 })
        .expect("die with exit code 3");
    assert!(start < die, "{order:?}");
    assert!(seen.iter().all(|(_, s)| *s == Source::Events));
    drop(fixture);
    observer.stop();
}

/// What the events stream did not deliver is reconciled from `inspect`: an observer that starts
/// listening after a fixture started (as after a daemon restart, when the ring is gone) still
/// records that start, marked as coming from `inspect`, at the time the daemon reports.
#[tokio::test]
async fn a_start_the_stream_missed_is_reconciled_from_inspect() {
    let (docker, tag) = machine_daemon_with_lab_image().await;
    let run_id = format!("reconcile-{}", std::process::id());
    let (fixture, name) = fixture(&tag, &run_id, &["sleep", "30"]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let (recorder, observer) = observe(&docker, &run_id);
    assert!(observer.wait_live(Duration::from_secs(10)).await);
    let seen = actions(&recorder, &name);
    assert_eq!(
        seen,
        [(ContainerAction::Start, Source::Inspect)],
        "{seen:?}"
    );

    let inspected = halab_docker::containers::inspect(&docker, &format!("halab-{run_id}-{name}"))
        .await
        .unwrap();
    let started_at =
        halab_docker::parse_docker_time(&inspected.state.unwrap().started_at.unwrap()).unwrap();
    let recorded_at = recorder.with(|h| h.starts(&name).next()).unwrap();
    assert_eq!(recorded_at, started_at);
    drop(fixture);
    observer.stop();
}
