use super::*;
use crate::checks::{CheckResult, Evidence, Mark, Verdict};
use crate::testing::simulated;

fn failing_evidence() -> CheckResult {
    CheckResult::new(
        "events",
        "critical",
        Verdict::Fail,
        "a <script>start</script> the model does not predict".into(),
    )
    .with_evidence(vec![Evidence {
        what: "an extra start".into(),
        observed: Some(Mark {
            at_ms: 1500,
            position: Some(3),
            text: "start".into(),
        }),
        predicted: Some(Mark {
            at_ms: 1400,
            position: None,
            text: "start".into(),
        }),
        op: None,
    }])
}

#[test]
fn the_page_has_the_verdict_the_lanes_and_every_property() {
    let (_, mut report) = simulated("kill-vs-crash");
    report.checks.push(failing_evidence());
    let page = html(&report);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains(r#"<g class="lane" data-service="critical">"#));
    assert!(page.contains(r#"class="op crash""#) && page.contains(r#"class="op api-kill""#));
    assert!(page.contains("seed</th><td>0</td>"), "the simulator's seed");
    for check in &report.checks {
        let row = format!("id=\"check-{}-{}\"", check.subject, check.name);
        assert!(page.contains(&row), "{row}");
    }
    // Each evidence link points at a marker drawn on the timeline.
    for id in ["m1", "m2"] {
        assert!(page.contains(&format!("href=\"#{id}\"")), "{id}");
        assert!(
            page.contains(&format!(r#"<g class="mark" id="{id}">"#)),
            "{id}"
        );
    }
    assert!(!page.contains("<script>"), "foreign text is escaped");
    assert!(page.contains(r#"<rect class="bar" data-kind="crash""#));
    // Self-contained: nothing is fetched.
    for fetch in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(!page.contains(fetch), "{fetch}");
    }
}

#[test]
fn a_daemon_crash_is_shaded() {
    let (_, report) = simulated("daemon-crash");
    let page = html(&report);
    assert!(page.contains(r#"class="downtime""#));
    assert!(page.contains(r#"class="op daemon-crash""#));
}

#[test]
fn odd_reports_render() {
    let (_, mut report) = simulated("kill-vs-crash");
    report.history = halab_model::History::new();
    report.scenario = "\u{1b}[31m<x>".into();
    report.checks = vec![failing_evidence()];
    let page = html(&report);
    assert!(page.contains("&lt;x&gt;") && !page.contains('\u{1b}'));
}
