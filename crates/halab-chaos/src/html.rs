//! A run's report as one self-contained HTML page (`report.html`): the verdict and the run's
//! facts, the timeline (drawn by `halab-figures`, a lane per service), the recovery times and
//! the other metrics, and the oracle's verdict on each property with its evidence — each
//! piece linked to a marker on the timeline.
//!
//! Self-contained because it is opened from a run's directory, on a machine that may have no
//! network: no script, no external style sheet, font or image; the figures are inline SVG.
//! Everything from outside (a daemon's error, a service's name, a parameter) is escaped.

use std::fmt::Write as _;

use halab_figures::{Lanes, Marker};

use crate::checks::{CheckResult, Evidence, Mark, Verdict};
use crate::metrics::{Distribution, human_ms};
use crate::report::Report;

/// The timeline's width in pixels; the page scales it down to fit, never sideways.
const TIMELINE_WIDTH: f64 = 1100.0;

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", Verdana, sans-serif; font-size: 14px; color: #222;
  margin: 0 auto; padding: 16px 24px 48px; max-width: 1180px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
header { padding: 12px 16px; border-radius: 6px; border-left: 8px solid #999; background: #f4f4f4; }
header.pass { border-color: #2e8b3e; background: #eef7ef; }
header.fail { border-color: #d62728; background: #fbeeee; }
header.unknown { border-color: #e0a000; background: #fdf6e3; }
header p { margin: 2px 0; color: #444; }
.badge { display: inline-block; min-width: 64px; text-align: center; font-weight: bold;
  border-radius: 4px; padding: 1px 6px; color: #fff; background: #888; font-size: 12px; }
.badge.pass { background: #2e8b3e; } .badge.fail { background: #d62728; }
.badge.unknown { background: #c98a00; } .badge.not-run { background: #888; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; }
th { font-size: 12px; color: #555; border-bottom: 1px solid #ccc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.facts th { border: none; padding-right: 16px; }
tr.check.fail td { background: #fdf0f0; } tr.check.unknown td { background: #fdf8e8; }
.detail { color: #444; overflow-wrap: anywhere; }
ul.evidence { margin: 4px 0 2px; padding-left: 18px; }
ul.evidence a { color: #c2185b; }
.figure { overflow-x: hidden; }
.figure svg { width: 100%; height: auto; display: block; }
.figure.chart svg { max-width: 760px; }
.note { color: #666; font-size: 12px; }
.mark:target line { stroke-opacity: 1; stroke-width: 3; stroke-dasharray: none; }
.mark:target text { font-weight: bold; font-size: 13px; }
.op.failed, .op.unknown { opacity: 0.6; }
code { font-size: 13px; }
"#;

/// The report as an HTML page.
pub fn html(report: &Report) -> String {
    let marks = evidence_marks(report);
    let mut out = String::new();
    let verdict = verdict_class(report.verdict);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} {} — halab</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        report.verdict.label(),
        esc(&report.scenario)
    );
    let _ = write!(
        out,
        "<header class=\"{verdict}\" id=\"verdict\"><h1><span class=\"badge {verdict}\">{}</span> {}</h1>\n\
         <p>{}</p></header>\n",
        report.verdict.label(),
        esc(&report.scenario),
        esc(&verdict_sentence(report))
    );
    facts(&mut out, report);
    out.push_str("<h2 id=\"timeline\">Timeline</h2>\n<div class=\"figure\">\n");
    let services: Vec<String> = report.services.keys().cloned().collect();
    out.push_str(&halab_figures::lanes(&Lanes {
        history: &report.history,
        services: &services,
        title: &format!("{}: run {}", report.scenario, report.run_id),
        width: TIMELINE_WIDTH,
        marks: &marks.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>(),
    }));
    out.push_str(
        "</div>\n<p class=\"note\">Hover over a mark for what it is; each evidence link below \
         highlights its point in time (dashed lines).</p>\n",
    );
    out.push_str("<h2 id=\"recovery\">Recovery</h2>\n");
    out.push_str("<div class=\"figure chart\">\n");
    out.push_str(&recovery_chart(report));
    out.push_str("</div>\n");
    metrics_table(&mut out, report);
    restarts_table(&mut out, report);
    properties(&mut out, report, &marks);
    out.push_str("</body>\n</html>\n");
    out
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Unknown => "unknown",
        Verdict::NotRun => "not-run",
    }
}

fn verdict_sentence(report: &Report) -> String {
    let count = |v: Verdict| report.checks.iter().filter(|c| c.verdict == v).count();
    format!(
        "{} properties and checks: {} pass, {} fail, {} unknown, {} not run.",
        report.checks.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Unknown),
        count(Verdict::NotRun)
    )
}

/// HTML text (and attribute values) escaped.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The seed of a run: a `seed` parameter, or the simulator's (its target is named `seed N`).
fn seed(report: &Report) -> Option<String> {
    report.params.get("seed").cloned().or_else(|| {
        let rest = report.target.name.strip_prefix("seed ")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty()).then_some(digits)
    })
}

fn facts(out: &mut String, report: &Report) {
    let mut rows: Vec<(&str, String)> = vec![
        ("scenario", report.scenario.clone()),
        ("file", report.scenario_path.clone()),
        ("run", report.run_id.clone()),
        (
            "target",
            format!("{} {}", report.target.kind, report.target.name),
        ),
        ("engine", report.target.engine_version.clone()),
    ];
    if let Some(seed) = seed(report) {
        rows.push(("seed", seed));
    }
    if !report.params.is_empty() {
        let params: Vec<String> = report
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(("parameters", params.join(", ")));
    }
    rows.push((
        "took",
        format!(
            "{}{}",
            human_ms(report.timings.total_ms as f64),
            if report.target.kind == "sim" {
                " of virtual time"
            } else {
                ""
            }
        ),
    ));
    rows.push((
        "tolerance",
        format!(
            "restart delays -{}/+{} ms (from the run's own starts)",
            report.slack.early_ms, report.slack.late_ms
        ),
    ));
    out.push_str("<table class=\"facts\" id=\"facts\">\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    out.push_str("</table>\n");
    for p in report
        .phases
        .iter()
        .filter(|p| p.skipped || p.problem.is_some())
    {
        let what = p
            .problem
            .as_deref()
            .unwrap_or("skipped: halab does not stop a daemon it does not own");
        let _ = writeln!(
            out,
            "<p class=\"note\">phase {}: {}</p>",
            esc(&p.name),
            esc(what)
        );
    }
}

/// Every recovery time of the run, one bar per fault, by kind.
fn recovery_chart(report: &Report) -> String {
    let mut bars = Vec::new();
    let mut lost = 0;
    for (service, s) in &report.metrics.services {
        for f in &s.faults {
            match f.recovered_ms {
                Some(ms) => bars.push(halab_figures::Bar {
                    kind: f.kind.name().to_owned(),
                    value_ms: ms,
                    title: format!(
                        "{service}: {} at {:.3} s, back after {}",
                        f.kind.name(),
                        f.at_ms / 1000.0,
                        human_ms(ms)
                    ),
                }),
                None => lost += 1,
            }
        }
    }
    let caption = if lost == 0 {
        "Time to recover, per fault".to_owned()
    } else {
        format!("Time to recover, per fault ({lost} not recovered, not drawn)")
    };
    halab_figures::bars(&caption, &bars)
}

fn dist_cells(d: Option<Distribution>) -> String {
    match d {
        Some(d) => format!(
            "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            human_ms(d.p50_ms),
            human_ms(d.p90_ms),
            human_ms(d.p99_ms),
            human_ms(d.max_ms)
        ),
        None => "<td class=\"num\">-</td>".repeat(4),
    }
}

fn metrics_table(out: &mut String, report: &Report) {
    let m = &report.metrics;
    out.push_str(
        "<table class=\"metrics\" id=\"metrics\">\n<tr><th>service</th><th class=\"num\">up</th>\
         <th>fault</th><th class=\"num\">faults</th><th class=\"num\">not recovered</th>\
         <th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p99</th>\
         <th class=\"num\">max</th></tr>\n",
    );
    for (service, s) in &m.services {
        let up = s
            .availability
            .map_or("-".to_owned(), |a| format!("{:.2}%", a * 100.0));
        if s.recovery.is_empty() {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{up}</td><td>no fault</td><td></td><td></td>{}</tr>",
                esc(service),
                "<td></td>".repeat(4)
            );
        }
        for (i, (kind, r)) in s.recovery.iter().enumerate() {
            let (name, up) = if i == 0 {
                (esc(service), up.clone())
            } else {
                (String::new(), String::new())
            };
            let _ = writeln!(
                out,
                "<tr><td>{name}</td><td class=\"num\">{up}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>{}</tr>",
                esc(kind),
                r.faults,
                r.not_recovered,
                dist_cells(r.time_to_recover)
            );
        }
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">Time to recover: from the fault's invoke to the service's next start. \
         Up: running time over the phases ({} to {}).</p>",
        human_ms(m.window.from_ms),
        human_ms(m.window.to_ms)
    );
    match m.detection {
        Some(d) => {
            let _ = writeln!(
                out,
                "<p id=\"detection\">Detection latency (daemon event to halab, {} events): \
                 p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms.</p>",
                d.count, d.p50_ms, d.p99_ms, d.max_ms
            );
        }
        None => out.push_str(
            "<p class=\"note\" id=\"detection\">No detection latency: no event carries when \
             halab saw it (a simulated run has none).</p>\n",
        ),
    }
}

fn restarts_table(out: &mut String, report: &Report) {
    let any = report
        .metrics
        .services
        .values()
        .any(|s| !s.restarts.is_empty());
    out.push_str("<h2 id=\"restarts\">Automatic restarts</h2>\n");
    if !any {
        out.push_str("<p class=\"note\">No automatic restart.</p>\n");
        return;
    }
    out.push_str(
        "<table class=\"restarts\">\n<tr><th>service</th><th class=\"num\">#</th>\
         <th class=\"num\">died at</th><th class=\"num\">die → start</th>\
         <th class=\"num\">model's back-off</th><th class=\"num\">difference</th></tr>\n",
    );
    for (service, s) in &report.metrics.services {
        for (i, r) in s.restarts.iter().enumerate() {
            let (expected, diff) = match r.expected_ms {
                Some(e) => (
                    format!("{e:.0} ms"),
                    format!("{:+.1} ms", r.observed_ms - e),
                ),
                None => ("-".to_owned(), "-".to_owned()),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3} s</td>\
                 <td class=\"num\">{:.1} ms</td><td class=\"num\">{expected}</td>\
                 <td class=\"num\">{diff}</td></tr>",
                esc(service),
                i + 1,
                r.at_ms / 1000.0,
                r.observed_ms
            );
        }
    }
    out.push_str("</table>\n");
}

/// A marker on the timeline for each point the evidence names, with the link text for it.
fn evidence_marks(report: &Report) -> Vec<(Marker, String)> {
    let mut marks = Vec::new();
    for check in &report.checks {
        for e in &check.evidence {
            for (label, mark) in evidence_points(e) {
                let n = marks.len() + 1;
                let text = format!(
                    "{label} {} at {:.3} s",
                    mark.text,
                    mark.at_ms as f64 / 1000.0
                );
                marks.push((
                    Marker {
                        id: format!("m{n}"),
                        at_ms: mark.at_ms,
                        label: n.to_string(),
                        title: format!("{n}: {} {}: {}", check.subject, check.name, text),
                    },
                    text,
                ));
            }
        }
    }
    marks
}

fn evidence_points(e: &Evidence) -> Vec<(&'static str, &Mark)> {
    [
        ("observed", &e.observed),
        ("predicted", &e.predicted),
        ("after", &e.op),
    ]
    .into_iter()
    .filter_map(|(label, m)| m.as_ref().map(|m| (label, m)))
    .collect()
}

fn properties(out: &mut String, report: &Report, marks: &[(Marker, String)]) {
    out.push_str(
        "<h2 id=\"properties\">Properties</h2>\n<table class=\"properties\">\n\
         <tr><th>verdict</th><th>subject</th><th>property</th><th>what was measured</th></tr>\n",
    );
    let mut next = marks.iter();
    for check in &report.checks {
        let v = verdict_class(check.verdict);
        let _ = write!(
            out,
            "<tr class=\"check {v}\" id=\"check-{}-{}\" data-verdict=\"{v}\"><td><span class=\"badge {v}\">{}</span></td>\
             <td>{}</td><td>{}</td><td class=\"detail\">{}",
            esc(&check.subject),
            esc(check.name),
            check.verdict.label(),
            esc(&check.subject),
            esc(check.name),
            esc(&check.detail)
        );
        evidence_list(out, check, &mut next);
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
}

fn evidence_list<'m>(
    out: &mut String,
    check: &CheckResult,
    marks: &mut impl Iterator<Item = &'m (Marker, String)>,
) {
    if check.evidence.is_empty() {
        return;
    }
    out.push_str("<ul class=\"evidence\">");
    for e in &check.evidence {
        let _ = write!(out, "<li>{}", esc(&e.what));
        for _ in evidence_points(e) {
            if let Some((m, text)) = marks.next() {
                let _ = write!(
                    out,
                    " · <a href=\"#{}\">[{}] {}</a>",
                    esc(&m.id),
                    esc(&m.label),
                    esc(text)
                );
            }
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

#[cfg(test)]
mod tests;
