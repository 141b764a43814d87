//! Any history as a timeline with a lane per service: each service's states, its events and
//! every operation on it, the daemon's states and operations, the counters, the phases, the
//! daemon's down time shaded across everything, and vertical markers at given times.
//!
//! Drawn for a page to use, not only to look at: each lane is `<g class="lane"
//! data-service="…">`, each operation `<g class="op KIND" id="op-ID">` (a crash from the host is
//! `op crash`, a `docker kill` `op api-kill`, drawn differently), each state `rect class="state
//! running"`, each shaded outage `rect class="downtime"`, each marker `<g class="mark"
//! id="…">`, and every element has a `<title>` a browser shows on hover. Nothing in a history
//! can make it panic or loop for long: tick counts are bounded, times saturate.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use halab_model::{
    ApiCall, ContainerAction, Happening, History, Nanos, Op, OpStep, ServiceOp, Source,
};

use super::{
    DAEMON_CHANGING, DAEMON_DOWN, DAEMON_UP, DIE, DaemonState, Draw, Frame, LegendItem,
    NOT_RUNNING, RUNNING, counter_dot, daemon_segments, glyph_die, glyph_kill, glyph_start,
};
use crate::svg::{Svg, escape, n, text_width};

const LEFT: f64 = 130.0;
const RIGHT: f64 = 18.0;
const MARGIN: f64 = 14.0;
const PHASE_ROW: f64 = 20.0;
const COUNTER_TOP: f64 = 58.0;
const COUNTER_H: f64 = 96.0;
/// A service's block: its operations, its events, its state lane, its exit codes.
const SERVICE_BLOCK: f64 = 64.0;
const DAEMON_BLOCK: f64 = 44.0;
const LANE_H: f64 = 18.0;
const MARK_ROW: f64 = 24.0;
/// The longest service name shown whole beside its lane; longer ones are cut (and whole in
/// the lane's title).
const NAME_CHARS: usize = 17;

const CRASH: &str = "#d62728";
const API: &str = "#1f5fa8";
const API_KILL: &str = "#6a1b9a";
const PROGRAM: &str = "#333333";
const PAUSED: &str = "#e6c229";
const MARK: &str = "#c2185b";
/// The counters' lines, service by service.
const PALETTE: [&str; 6] = [
    "#222222", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf",
];

/// What to draw.
pub struct Lanes<'a> {
    pub history: &'a History,
    /// The services, a lane each, in this order; services the history names besides get lanes
    /// after them.
    pub services: &'a [String],
    /// The picture's title (a tooltip: a page shows its own heading).
    pub title: &'a str,
    /// In pixels; the picture scales, but text is sized for about this width.
    pub width: f64,
    /// Vertical markers (evidence, say) to draw across the lanes.
    pub marks: &'a [Marker],
}

/// A vertical marker at a moment of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Its element id, for a link to point at.
    pub id: String,
    /// Milliseconds since the history's first entry.
    pub at_ms: i64,
    /// A short label drawn by it (a number).
    pub label: String,
    /// What it marks, shown on hover.
    pub title: String,
}

/// The timeline of `what.history`, as SVG.
pub fn lanes(what: &Lanes<'_>) -> String {
    let history = what.history;
    let services = lane_services(what);
    let t0 = history.entries().first().map_or(Nanos(0), |e| e.at);
    let end = history.entries().last().map_or(t0, |e| e.at);
    let width = what.width.clamp(400.0, 4000.0);
    let end_s = (end.0.saturating_sub(t0.0) as f64 / 1e9).max(1.0);
    let step = nice_step(end_s, (width - LEFT - RIGHT) / 60.0);
    let f = Frame {
        t0,
        axis_end_s: (end_s / step).ceil() * step,
        left: LEFT,
        right: width - RIGHT,
    };
    let counters = services
        .iter()
        .any(|s| history.counter_readings(s).next().is_some());
    let lanes_top = if counters {
        COUNTER_TOP + COUNTER_H + 18.0
    } else {
        COUNTER_TOP
    };
    let daemon_top = lanes_top + SERVICE_BLOCK * services.len() as f64;
    let marks_y = daemon_top + DAEMON_BLOCK;
    let axis_y = marks_y + if what.marks.is_empty() { 0.0 } else { MARK_ROW } + 6.0;
    let legend = legend_layout(width);
    let rows = legend.iter().map(|i| i.row).max().unwrap_or(0) + 1;
    let height = axis_y + 50.0 + 22.0 * rows as f64 + 6.0;

    let mut svg = Svg::new(width, height, what.title);
    let daemon = daemon_segments(history, t0, end);
    // The shading first, under everything: the daemon down (or on its way) across the picture.
    for &(a, b, state) in &daemon {
        let opacity = match state {
            DaemonState::Up => continue,
            DaemonState::Down => "0.13",
            _ => "0.16",
        };
        let (x1, x2) = (f.x(a), f.x(b));
        svg.raw(&format!(
            r#"<rect class="downtime" data-state="{}" x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="{opacity}"><title>daemon {} from {} s to {} s</title></rect>"#,
            state.label(),
            n(x1),
            n(COUNTER_TOP - 6.0),
            n((x2 - x1).max(0.0)),
            n(marks_y - COUNTER_TOP + 6.0),
            state.colour(),
            state.label(),
            secs(&f, a),
            secs(&f, b)
        ));
    }
    phases(&mut svg, &f, history, marks_y);
    if counters {
        counter_plot(&mut svg, &f, history, &services, end);
    }
    for (i, service) in services.iter().enumerate() {
        service_lane(
            &mut svg,
            &f,
            history,
            service,
            lanes_top + SERVICE_BLOCK * i as f64,
            end,
        );
    }
    daemon_lane(&mut svg, &f, history, &daemon, daemon_top);
    marks(&mut svg, &f, what.marks, COUNTER_TOP - 6.0, marks_y);
    x_axis(&mut svg, &f, step, axis_y);
    for item in &legend {
        let y = axis_y + 58.0 + 22.0 * item.row as f64;
        (item.draw)(&mut svg, item.x + 7.0, y - 4.0);
        svg.text(item.x + 18.0, y, item.label, "");
    }
    svg.finish()
}

/// The lanes: the services asked for, then any other the history names.
fn lane_services(what: &Lanes<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut known = BTreeSet::new();
    let named = what.history.entries().iter().filter_map(|e| match &e.what {
        Happening::Container { service, .. } | Happening::Counter { service, .. } => {
            Some(service.as_str())
        }
        Happening::Op { op, .. } => op.service(),
        _ => None,
    });
    for s in what.services.iter().map(String::as_str).chain(named) {
        if known.insert(s.to_owned()) {
            out.push(s.to_owned());
        }
    }
    out
}

/// A tick step for `span` giving at most `max_ticks` ticks: 1, 2 or 5 times a power of ten.
fn nice_step(span: f64, max_ticks: f64) -> f64 {
    let max_ticks = max_ticks.clamp(2.0, 40.0);
    if !span.is_finite() || span <= 0.0 {
        return 1.0;
    }
    let raw = span / max_ticks;
    let base = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|s| span / s <= max_ticks)
        .unwrap_or(base * 10.0)
        .max(1e-3)
}

fn secs(f: &Frame, at: Nanos) -> String {
    format!("{:.3}", f.secs(at))
}

fn phases(svg: &mut Svg, f: &Frame, history: &History, bottom: f64) {
    // Labels go in the first of three rows where they fit, else where they overlap least,
    // pushed right of the label before them: close phases stay readable.
    let mut row_ends = [f64::MIN; 3];
    let mut i = 0;
    for e in history.entries() {
        let Happening::Phase { name } = &e.what else {
            continue;
        };
        i += 1;
        let x = f.x(e.at);
        svg.line(
            x,
            PHASE_ROW - 12.0,
            x,
            bottom,
            r##"class="phase" stroke="#888888" stroke-dasharray="3,3""##,
        );
        let label = format!("{i} {name}");
        let row = row_ends.iter().position(|&end| end < x).unwrap_or_else(|| {
            (0..row_ends.len())
                .min_by(|&a, &b| row_ends[a].total_cmp(&row_ends[b]))
                .unwrap_or(0)
        });
        let at = (x + 4.0).max(row_ends[row] + 4.0);
        row_ends[row] = at + text_width(&label, 12.0) + 6.0;
        svg.text(
            at,
            PHASE_ROW + row as f64 * 13.0,
            &label,
            r#"font-weight="bold" font-size="11""#,
        );
    }
}

fn counter_plot(svg: &mut Svg, f: &Frame, history: &History, services: &[String], end: Nanos) {
    let bottom = COUNTER_TOP + COUNTER_H;
    let max = services
        .iter()
        .flat_map(|s| history.counter_readings(s).map(|(_, v)| v))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let step = nice_step(max, 5.0).max(1.0);
    let top = (max / step).ceil() * step;
    let y = |v: f64| bottom - v / top * COUNTER_H;
    let mut v = 0.0;
    while v <= top + 1e-9 {
        svg.line(
            f.left,
            y(v),
            f.right,
            y(v),
            r##"stroke="#e6e6e6" stroke-width="1""##,
        );
        svg.text(
            f.left - 8.0,
            y(v) + 4.0,
            &n(v),
            r##"text-anchor="end" fill="#555555""##,
        );
        v += step;
    }
    svg.text(
        MARGIN,
        COUNTER_TOP + COUNTER_H / 2.0,
        "counter",
        r#"font-weight="bold""#,
    );
    for (i, service) in services.iter().enumerate() {
        let readings: Vec<(Nanos, u64)> = history.counter_readings(service).collect();
        let Some(&(first_at, first)) = readings.first() else {
            continue;
        };
        let colour = PALETTE[i % PALETTE.len()];
        let mut d = format!("M{},{}", n(f.x(first_at)), n(y(first as f64)));
        for &(at, value) in &readings[1..] {
            let _ = write!(d, " H{} V{}", n(f.x(at)), n(y(value as f64)));
        }
        let _ = write!(d, " H{}", n(f.x(end)));
        let last = readings.last().map_or(first, |&(_, v)| v);
        svg.raw(&format!(
            r#"<g class="counter" data-service="{s}"><title>{s}: counter, last {last}</title><path d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            s = escape(service)
        ));
        for &(at, value) in &readings {
            counter_dot(svg, f.x(at), y(value as f64));
        }
        if services.len() > 1 {
            svg.text(
                f.right - 2.0,
                y(last as f64) - 5.0,
                service,
                &format!(r#"text-anchor="end" font-size="11" fill="{colour}""#),
            );
        }
        svg.raw("</g>");
    }
}

/// A service's states, from its events: (from, to, state name).
fn states(history: &History, service: &str, end: Nanos) -> Vec<(Nanos, Nanos, &'static str)> {
    let mut out = Vec::new();
    let mut current: Option<(Nanos, &'static str)> = None;
    for (at, action) in history.container_actions(service) {
        let next = match action {
            ContainerAction::Create => "created",
            ContainerAction::Start | ContainerAction::Unpause => "running",
            ContainerAction::Die { .. } => "exited",
            ContainerAction::Pause => "paused",
            ContainerAction::Destroy => "removed",
            _ => continue,
        };
        if let Some((from, state)) = current {
            if state == next {
                continue;
            }
            out.push((from, at, state));
        }
        current = Some((at, next));
    }
    if let Some((from, state)) = current {
        out.push((from, end, state));
    }
    out.retain(|(a, b, s)| b.0 > a.0 && *s != "removed");
    out
}

fn service_lane(svg: &mut Svg, f: &Frame, history: &History, service: &str, top: f64, end: Nanos) {
    let (op_y, glyph_y, lane_y) = (top + 9.0, top + 22.0, top + 28.0);
    svg.raw(&format!(
        r#"<g class="lane" data-service="{}"><title>service {}</title>"#,
        escape(service),
        escape(service)
    ));
    let shown: String = if service.chars().count() > NAME_CHARS {
        let cut: String = service.chars().take(NAME_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        service.to_owned()
    };
    svg.text(
        f.left - 8.0,
        lane_y + 13.0,
        &shown,
        r#"text-anchor="end" font-weight="bold""#,
    );
    svg.text(
        f.left - 8.0,
        op_y + 4.0,
        "ops",
        r##"text-anchor="end" font-size="10" fill="#777777""##,
    );
    for (a, b, state) in states(history, service, end) {
        let (x1, x2) = (f.x(a), f.x(b));
        let fill = match state {
            "running" => format!(r#"fill="{RUNNING}""#),
            "paused" => format!(r#"fill="{PAUSED}""#),
            _ => format!(r##"fill="{NOT_RUNNING}" stroke="#bdbdbd" stroke-width="0.5""##),
        };
        svg.raw(&format!(
            r#"<rect class="state {state}" x="{}" y="{}" width="{}" height="{}" {fill}><title>{} {state} from {} s to {} s</title></rect>"#,
            n(x1),
            n(lane_y),
            n((x2 - x1).max(0.0)),
            n(LANE_H),
            escape(service),
            secs(f, a),
            secs(f, b)
        ));
    }
    let mut last_code_x = f64::MIN;
    for (position, e) in history.entries().iter().enumerate() {
        let Happening::Container {
            service: s, action, ..
        } = &e.what
        else {
            continue;
        };
        if s != service {
            continue;
        }
        let x = f.x(e.at);
        let hollow = e.source == Source::Inspect;
        let open = format!(
            r#"<g class="event {}" id="h{position}"><title>{} {} at {} s{}</title>"#,
            action.name(),
            escape(service),
            escape(&action.short()),
            secs(f, e.at),
            if hollow {
                " (reconstructed from inspect)"
            } else {
                ""
            }
        );
        match action {
            ContainerAction::Start => {
                svg.raw(&open);
                glyph_start(svg, x, glyph_y, hollow);
            }
            ContainerAction::Die { exit_code } => {
                svg.raw(&open);
                glyph_die(svg, x, glyph_y, hollow);
                if x - last_code_x > 18.0 {
                    svg.text(
                        x,
                        lane_y + LANE_H + 11.0,
                        &exit_code.to_string(),
                        &format!(r#"text-anchor="middle" font-size="10" fill="{DIE}""#),
                    );
                    last_code_x = x;
                }
            }
            ContainerAction::Kill { .. } => {
                svg.raw(&open);
                glyph_kill(svg, x, glyph_y);
            }
            _ => continue,
        }
        svg.raw("</g>");
    }
    ops(svg, f, history, Some(service), op_y);
    svg.raw("</g>");
}

fn daemon_lane(
    svg: &mut Svg,
    f: &Frame,
    history: &History,
    daemon: &[(Nanos, Nanos, DaemonState)],
    top: f64,
) {
    let (op_y, lane_y) = (top + 8.0, top + 16.0);
    svg.raw(r#"<g class="daemon-lane"><title>the daemon</title>"#);
    svg.text(
        f.left - 8.0,
        lane_y + 13.0,
        "daemon",
        r#"text-anchor="end" font-weight="bold""#,
    );
    for &(a, b, state) in daemon {
        let (x1, x2) = (f.x(a), f.x(b));
        svg.raw(&format!(
            r#"<rect class="daemon-state" data-state="{label}" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>daemon {label} from {} s to {} s</title></rect>"#,
            n(x1),
            n(lane_y),
            n((x2 - x1).max(0.0)),
            n(LANE_H),
            state.colour(),
            secs(f, a),
            secs(f, b),
            label = state.label(),
        ));
        let label = state.label();
        if x2 - x1 > text_width(label, 11.0) + 8.0 {
            svg.text(
                (x1 + x2) / 2.0,
                lane_y + 13.0,
                label,
                r##"text-anchor="middle" font-size="11" fill="#ffffff""##,
            );
        }
    }
    ops(svg, f, history, None, op_y);
    svg.raw("</g>");
}

/// The kind of an operation, as its marker's class names it.
fn op_class(op: &Op) -> Option<String> {
    Some(match op {
        Op::Daemon(d) => d.name().to_owned(),
        Op::Service { op, .. } => match op {
            ServiceOp::Signal { .. } => "crash".to_owned(),
            ServiceOp::Exit { .. } => "exit".to_owned(),
            ServiceOp::Oom => "oom".to_owned(),
            ServiceOp::Inspect => "inspect".to_owned(),
            ServiceOp::BindSource { present: false } => "remove-bind-source".to_owned(),
            ServiceOp::BindSource { present: true } => "restore-bind-source".to_owned(),
            ServiceOp::Api(call) => format!(
                "api-{}",
                match call {
                    ApiCall::Start => "start",
                    ApiCall::Stop { .. } => "stop",
                    ApiCall::Kill { .. } => "kill",
                    ApiCall::Restart { .. } => "restart",
                    ApiCall::Pause => "pause",
                    ApiCall::Unpause => "unpause",
                    ApiCall::RemoveForce => "rm",
                    ApiCall::UpdateRestartPolicy { .. } => "update",
                }
            ),
        },
        Op::Wait(_) => return None,
    })
}

/// The operations on `service` (the daemon's, for `None`), each a marker at its invoke and a
/// thin line to its end.
fn ops(svg: &mut Svg, f: &Frame, history: &History, service: Option<&str>, y: f64) {
    for span in history.op_spans() {
        let ours = match span.op {
            Op::Daemon(_) => service.is_none(),
            Op::Service { service: s, .. } => service == Some(s.as_str()),
            Op::Wait(_) => false,
        };
        let Some(class) = op_class(span.op).filter(|_| ours) else {
            continue;
        };
        let (outcome, extra) = match span.ended {
            Some((_, OpStep::Ok { .. })) => ("ok".to_owned(), ""),
            Some((_, OpStep::Fail { error })) => (format!("failed: {error}"), " failed"),
            Some((_, OpStep::Info { error })) => (format!("outcome unknown: {error}"), " unknown"),
            Some((_, OpStep::Invoke)) | None => ("never ended".to_owned(), " unknown"),
        };
        let x = f.x(span.invoked);
        svg.raw(&format!(
            r#"<g class="op {class}{extra}" id="op-{}" data-position="{}"{}><title>{} at {} s: {}</title>"#,
            span.id,
            span.position,
            service.map_or(String::new(), |s| format!(r#" data-service="{}""#, escape(s))),
            escape(&span.op.to_string()),
            secs(f, span.invoked),
            escape(&outcome),
        ));
        if let Some((ended, _)) = span.ended {
            let x2 = f.x(ended);
            if x2 - x > 3.0 {
                svg.line(
                    x,
                    y,
                    x2,
                    y,
                    r##"stroke="#777777" stroke-width="1.2" stroke-opacity="0.7""##,
                );
            }
        }
        let opacity = if extra.is_empty() { "1" } else { "0.45" };
        op_glyph(svg, &class, x, y, opacity);
        svg.raw("</g>");
    }
}

/// An operation's marker centred at (x, y). A crash from the host is a red bolt, an API call a
/// square (filled for `docker kill`), the program's own exit or OOM a circle, a daemon
/// operation a triangle, a change on the host's disk (the bind source removed, restored) a grey
/// bar: a glance tells who did it.
fn op_glyph(svg: &mut Svg, class: &str, x: f64, y: f64, opacity: &str) {
    let p = |dx: f64, dy: f64| format!("{},{}", n(x + dx), n(y + dy));
    let shape = match class {
        "crash" => format!(
            r#"<path d="M{} L{} L{} L{} L{} L{} Z" fill="{CRASH}" stroke="{CRASH}" stroke-width="0.6""#,
            p(-1.5, -7.5),
            p(4.0, -1.0),
            p(0.8, -0.2),
            p(2.5, 7.5),
            p(-4.0, 0.8),
            p(-0.6, 0.0)
        ),
        "api-kill" => format!(
            r#"<rect x="{}" y="{}" width="9" height="9" fill="{API_KILL}""#,
            n(x - 4.5),
            n(y - 4.5)
        ),
        "inspect" => format!(
            r##"<path d="M{} L{} L{} L{} Z" fill="#ffffff" stroke="#888888" stroke-width="1""##,
            p(0.0, -3.5),
            p(3.5, 0.0),
            p(0.0, 3.5),
            p(-3.5, 0.0)
        ),
        "exit" => format!(
            r##"<circle cx="{}" cy="{}" r="4" fill="#ffffff" stroke="{PROGRAM}" stroke-width="1.6""##,
            n(x),
            n(y)
        ),
        "oom" => format!(
            r##"<circle cx="{}" cy="{}" r="4.2" fill="#ff7f0e" stroke="#b35300" stroke-width="1""##,
            n(x),
            n(y)
        ),
        "remove-bind-source" | "restore-bind-source" => format!(
            r##"<rect x="{}" y="{}" width="10" height="4" fill="{}" stroke="#666666" stroke-width="1""##,
            n(x - 5.0),
            n(y - 2.0),
            if class == "remove-bind-source" {
                "#666666"
            } else {
                "#ffffff"
            }
        ),
        "daemon-start" => format!(
            r#"<path d="M{} L{} L{} Z" fill="{DAEMON_UP}""#,
            p(0.0, -5.0),
            p(5.0, 4.0),
            p(-5.0, 4.0)
        ),
        "daemon-stop" | "daemon-crash" | "power-loss" => {
            let fill = match class {
                "daemon-stop" => DAEMON_CHANGING,
                "daemon-crash" => DAEMON_DOWN,
                _ => "#000000",
            };
            format!(
                r#"<path d="M{} L{} L{} Z" fill="{fill}""#,
                p(-5.0, -4.0),
                p(5.0, -4.0),
                p(0.0, 5.0)
            )
        }
        _ => format!(
            r##"<rect x="{}" y="{}" width="8" height="8" fill="#ffffff" stroke="{API}" stroke-width="1.6""##,
            n(x - 4.0),
            n(y - 4.0)
        ),
    };
    svg.raw(&format!(r#"{shape} opacity="{opacity}"/>"#));
}

/// The markers: a dashed line each (its own element, for a link to highlight), and one label
/// for the markers that fall together (`3–9`), on two rows so that neighbours do not collide.
fn marks(svg: &mut Svg, f: &Frame, marks: &[Marker], top: f64, bottom: f64) {
    let x_of = |m: &Marker| f.xs(m.at_ms as f64 / 1000.0).clamp(f.left, f.right);
    let mut groups: Vec<(f64, Vec<&Marker>)> = Vec::new();
    let mut sorted: Vec<&Marker> = marks.iter().collect();
    sorted.sort_by(|a, b| x_of(a).total_cmp(&x_of(b)));
    for m in sorted {
        let x = x_of(m);
        match groups.last_mut() {
            Some((gx, list)) if x - *gx < 4.0 => list.push(m),
            _ => groups.push((x, vec![m])),
        }
    }
    let mut row_ends = [f64::MIN; 2];
    for (x, list) in groups {
        for m in &list {
            svg.raw(&format!(
                r#"<g class="mark" id="{}"><title>{}</title>"#,
                escape(&m.id),
                escape(&m.title)
            ));
            svg.line(
                x_of(m),
                top,
                x_of(m),
                bottom + 2.0,
                &format!(
                    r#"stroke="{MARK}" stroke-width="1.5" stroke-opacity="0.45" stroke-dasharray="4,3""#
                ),
            );
            svg.raw("</g>");
        }
        let label = match (list.first(), list.last()) {
            (Some(a), Some(b)) if list.len() > 1 => format!("{}–{}", a.label, b.label),
            (Some(a), _) => a.label.clone(),
            _ => continue,
        };
        let width = text_width(&label, 10.0);
        let row = if row_ends[0] < x - width / 2.0 { 0 } else { 1 };
        row_ends[row] = x + width / 2.0 + 3.0;
        svg.text(
            x,
            bottom + 11.0 + row as f64 * 10.0,
            &label,
            &format!(r#"text-anchor="middle" font-size="10" fill="{MARK}""#),
        );
    }
}

fn x_axis(svg: &mut Svg, f: &Frame, step: f64, y: f64) {
    svg.line(f.left, y, f.right, y, r##"stroke="#333333""##);
    let mut s = 0.0;
    let mut ticks = 0;
    while s <= f.axis_end_s + 1e-9 && ticks <= 100 {
        let x = f.xs(s);
        svg.line(x, y, x, y + 5.0, r##"stroke="#333333""##);
        svg.text(x, y + 18.0, &n(s), r#"text-anchor="middle""#);
        s += step;
        ticks += 1;
    }
    svg.text(
        (f.left + f.right) / 2.0,
        y + 34.0,
        "seconds since the run began",
        r##"text-anchor="middle" fill="#333333""##,
    );
}

fn legend_layout(width: f64) -> Vec<LegendItem> {
    fn swatch(colour: &'static str, opacity: &'static str) -> Draw {
        Box::new(move |svg: &mut Svg, x: f64, y: f64| {
            svg.rect(
                x - 7.0,
                y - 6.0,
                14.0,
                12.0,
                &format!(r#"fill="{colour}" fill-opacity="{opacity}""#),
            )
        })
    }
    fn op(class: &'static str) -> Draw {
        Box::new(move |svg: &mut Svg, x: f64, y: f64| op_glyph(svg, class, x, y, "1"))
    }
    let entries: Vec<(Draw, &'static str)> = vec![
        (swatch(RUNNING, "1"), "running"),
        (swatch(NOT_RUNNING, "1"), "created / exited"),
        (swatch(PAUSED, "1"), "paused"),
        (swatch(DAEMON_UP, "1"), "daemon up"),
        (swatch(DAEMON_CHANGING, "1"), "daemon stopping / starting"),
        (swatch(DAEMON_DOWN, "1"), "daemon down"),
        (swatch(DAEMON_DOWN, "0.13"), "shaded: daemon down"),
        (op("crash"), "crash: a signal from the host"),
        (op("api-kill"), "docker kill (Engine API)"),
        (op("api-stop"), "other API call"),
        (op("exit"), "the program exits"),
        (op("oom"), "OOM kill"),
        (op("inspect"), "inspect"),
        (op("daemon-crash"), "daemon stop / crash"),
        (op("daemon-start"), "daemon start"),
        (
            Box::new(|s: &mut Svg, x, y| glyph_start(s, x, y, false)),
            "start event",
        ),
        (
            Box::new(|s: &mut Svg, x, y| glyph_die(s, x, y, false)),
            "die event (exit code below)",
        ),
        (Box::new(glyph_kill), "kill event"),
        (
            Box::new(|s: &mut Svg, x, y| glyph_start(s, x, y, true)),
            "hollow: reconstructed from inspect",
        ),
        (
            Box::new(|s: &mut Svg, x, y| {
                s.line(
                    x,
                    y - 7.0,
                    x,
                    y + 7.0,
                    &format!(r#"stroke="{MARK}" stroke-width="1.5" stroke-dasharray="4,3""#),
                )
            }),
            "evidence",
        ),
    ];
    let mut placed = Vec::new();
    let (mut x, mut row) = (MARGIN, 0);
    for (draw, label) in entries {
        let w = 18.0 + text_width(label, 12.0) + 16.0;
        if x + w > width - RIGHT && x > MARGIN {
            x = MARGIN;
            row += 1;
        }
        placed.push(LegendItem {
            x,
            row,
            draw,
            label,
        });
        x += w;
    }
    placed
}

#[cfg(test)]
mod tests {
    use halab_model::{
        ApiCall, ContainerAction, DaemonOp, Entry, Happening, History, Nanos, Op, OpStep,
        ServiceOp, Source,
    };

    use super::*;

    fn entry(ms: i64, what: Happening) -> Entry {
        Entry::new(Nanos::from_millis(ms), Source::Events, what)
    }

    fn op(ms: i64, id: u64, step: OpStep, op: Op) -> Entry {
        entry(
            ms,
            Happening::Op {
                node: "lab".into(),
                id,
                step,
                op,
            },
        )
    }

    fn event(ms: i64, service: &str, action: ContainerAction) -> Entry {
        entry(
            ms,
            Happening::Container {
                node: "lab".into(),
                service: service.into(),
                action,
            },
        )
    }

    fn draw(history: &History, services: &[String], marks: &[Marker]) -> String {
        lanes(&Lanes {
            history,
            services,
            title: "t",
            width: 1000.0,
            marks,
        })
    }

    #[test]
    fn a_lane_per_service_and_ops_by_kind() {
        let crash = Op::on("web", ServiceOp::Signal { signal: 9 });
        let kill = Op::on("db", ServiceOp::Api(ApiCall::Kill { signal: 0 }));
        let history = History::from(vec![
            event(0, "web", ContainerAction::Start),
            event(0, "db", ContainerAction::Start),
            op(1000, 1, OpStep::Invoke, crash.clone()),
            op(1001, 1, OpStep::Ok { read: None }, crash),
            event(1002, "web", ContainerAction::Die { exit_code: 137 }),
            op(2000, 2, OpStep::Invoke, kill.clone()),
            op(
                2001,
                2,
                OpStep::Fail {
                    error: "<409>".into(),
                },
                kill,
            ),
            op(3000, 3, OpStep::Invoke, Op::Daemon(DaemonOp::Crash)),
            op(
                3001,
                3,
                OpStep::Ok { read: None },
                Op::Daemon(DaemonOp::Crash),
            ),
            op(5000, 4, OpStep::Invoke, Op::Daemon(DaemonOp::Start)),
            op(
                5500,
                4,
                OpStep::Ok { read: None },
                Op::Daemon(DaemonOp::Start),
            ),
        ]);
        let marks = [Marker {
            id: "ev-1".into(),
            at_ms: 1002,
            label: "1".into(),
            title: "the die".into(),
        }];
        let svg = draw(&history, &["web".into()], &marks);
        assert_eq!(svg.matches(r#"<g class="lane""#).count(), 2, "{svg}");
        assert!(svg.contains(r#"<g class="lane" data-service="web">"#));
        assert!(svg.contains(r#"<g class="lane" data-service="db">"#));
        assert!(svg.contains(r#"class="op crash" id="op-1""#), "{svg}");
        assert!(
            svg.contains(r#"class="op api-kill failed" id="op-2""#),
            "{svg}"
        );
        assert!(svg.contains(r#"class="op daemon-crash" id="op-3""#));
        assert!(svg.contains(r#"class="downtime""#));
        assert!(svg.contains(r#"<g class="mark" id="ev-1">"#));
        assert!(svg.contains("&lt;409&gt;"), "foreign text is escaped");
        assert!(svg.contains(r#"id="h4""#), "events have ids by position");
    }

    #[test]
    fn odd_histories_draw_without_panicking() {
        let odd = [
            event(
                i64::MIN / 1_000_000,
                "a",
                ContainerAction::Die { exit_code: -1 },
            ),
            op(0, 9, OpStep::Ok { read: None }, Op::Daemon(DaemonOp::Start)),
            op(0, 9, OpStep::Invoke, Op::Daemon(DaemonOp::PowerLoss)),
            entry(
                5,
                Happening::Counter {
                    node: "n".into(),
                    service: "\"><script>".into(),
                    value: u64::MAX,
                },
            ),
            event(i64::MAX / 1_000_000, "a", ContainerAction::Start),
        ];
        for k in 0..=odd.len() {
            let history = History::from(odd[..k].to_vec());
            let svg = draw(&history, &[], &[]);
            assert!(svg.ends_with("</svg>\n"));
            assert!(!svg.contains("<script>"));
        }
        assert!(draw(&History::new(), &["x".repeat(200)], &[]).contains("…"));
    }

    #[test]
    fn steps_are_bounded() {
        assert_eq!(nice_step(10.0, 10.0), 1.0);
        assert_eq!(nice_step(0.0, 10.0), 1.0);
        assert_eq!(nice_step(f64::INFINITY, 10.0), 1.0);
        assert!(1e300 / nice_step(1e300, 10.0) <= 40.0);
    }
}
