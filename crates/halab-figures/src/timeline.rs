//! A run's history as a timeline: the counter above, the service's and the daemon's state below,
//! the phases on top, the daemon's down time shaded across everything.
//!
//! [`timeline`] draws the book's figure of a run: one service. [`lanes`] draws any history
//! with a lane per service and every operation marked, each element with an id and classes a
//! page can link to and style (the HTML report of `halab-chaos` embeds it); both share the
//! frame, the daemon's states and the glyphs below.

mod lanes;

pub use lanes::{Lanes, Marker, lanes};

use halab_model::{
    ContainerAction, DaemonAction, DaemonOp, Happening, History, Nanos, Op, OpStep, Source,
};

use crate::run::Run;
use crate::svg::{Svg, n, text_width, tick_step};

const WIDTH: f64 = 760.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 14.0;
/// Where the title and the legend start.
const MARGIN: f64 = 14.0;
const PHASE_ROW: f64 = 62.0;
const PLOT_TOP: f64 = 96.0;
const PLOT_BOTTOM: f64 = 236.0;
const GLYPH_ROW: f64 = 256.0;
const SERVICE_LANE: f64 = 266.0;
const DAEMON_LANE: f64 = 306.0;
const LANE_H: f64 = 18.0;
const AXIS_Y: f64 = 336.0;
const LEGEND_Y: f64 = 382.0;

const RUNNING: &str = "#2e8b3e";
const NOT_RUNNING: &str = "#d9d9d9";
const DAEMON_UP: &str = "#4c78a8";
const DAEMON_CHANGING: &str = "#f0a33a";
const DAEMON_DOWN: &str = "#d62728";
const KILL: &str = "#7b3fa0";
const DIE: &str = "#444444";

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DaemonState {
    Up,
    Stopping { crash: bool },
    Down,
    Starting,
}

impl DaemonState {
    pub(crate) fn label(self) -> &'static str {
        match self {
            DaemonState::Up => "up",
            DaemonState::Stopping { crash: false } => "stopping",
            DaemonState::Stopping { crash: true } => "killed",
            DaemonState::Down => "down",
            DaemonState::Starting => "starting",
        }
    }

    pub(crate) fn colour(self) -> &'static str {
        match self {
            DaemonState::Up => DAEMON_UP,
            DaemonState::Down => DAEMON_DOWN,
            _ => DAEMON_CHANGING,
        }
    }
}

/// Time across the picture: `t0` at `left`, `axis_end_s` seconds later at `right`.
pub(crate) struct Frame {
    pub(crate) t0: Nanos,
    pub(crate) axis_end_s: f64,
    pub(crate) left: f64,
    pub(crate) right: f64,
}

impl Frame {
    pub(crate) fn secs(&self, at: Nanos) -> f64 {
        at.0.saturating_sub(self.t0.0) as f64 / 1e9
    }

    pub(crate) fn x(&self, at: Nanos) -> f64 {
        self.xs(self.secs(at))
    }

    pub(crate) fn xs(&self, s: f64) -> f64 {
        self.left + s / self.axis_end_s * (self.right - self.left)
    }
}

/// The timeline of a run, as SVG.
pub fn timeline(run: &Run) -> anyhow::Result<String> {
    let service = run
        .service()
        .ok_or_else(|| anyhow::anyhow!("the history names no container"))?
        .to_owned();
    let (t0, end) = (run.start(), run.end());
    let end_s = ((end.0 - t0.0) as f64 / 1e9).max(1.0);
    let step = tick_step(
        end_s,
        16.0,
        &[0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0],
    );
    let f = Frame {
        t0,
        axis_end_s: (end_s / step).ceil() * step,
        left: LEFT,
        right: WIDTH - RIGHT,
    };

    let title = format!("{}: a run on {}", run.scenario, run.target_phrase());
    let with_inspect = run
        .history
        .entries()
        .iter()
        .any(|e| e.source == Source::Inspect);
    let legend = legend_layout(with_inspect);
    let rows = legend.iter().map(|item| item.row).max().unwrap_or(0) + 1;
    let mut svg = Svg::new(WIDTH, LEGEND_Y + 22.0 * rows as f64 + 8.0, &title);
    svg.text(MARGIN, 22.0, &title, r#"font-size="15" font-weight="bold""#);
    svg.text(
        MARGIN,
        40.0,
        &format!(
            "{}verdict {} · run {}",
            run.params_phrase(),
            run.verdict,
            run.run_id
        ),
        r##"fill="#555555""##,
    );

    let daemon = daemon_segments(&run.history, run.start(), end);
    shade_daemon(&mut svg, &f, &daemon);
    let last_phase_end = phases(&mut svg, &f, run, end);
    if let Some(teardown) = last_phase_end.filter(|&t| end.0 - t.0 > 50_000_000) {
        let (x1, x2) = (f.x(teardown), f.x(end));
        svg.rect(
            x1,
            PHASE_ROW - 14.0,
            x2 - x1,
            DAEMON_LANE + LANE_H - PHASE_ROW + 14.0,
            r##"fill="#9e9e9e" fill-opacity="0.14""##,
        );
        svg.text(
            x1 + 3.0,
            PHASE_ROW,
            "teardown",
            r##"fill="#777777" font-style="italic""##,
        );
    }
    counter_plot(&mut svg, &f, run, &service, end);
    service_lane(&mut svg, &f, run, &service, end);
    daemon_lane(&mut svg, &f, &daemon);
    x_axis(&mut svg, &f, step);
    for item in &legend {
        let y = LEGEND_Y + 8.0 + 22.0 * item.row as f64;
        (item.draw)(&mut svg, item.x + 6.0, y - 4.0);
        svg.text(item.x + 16.0, y, item.label, "");
    }
    Ok(svg.finish())
}

/// The daemon's states from `start` to `end`, as its operations and its own actions tell.
pub(crate) fn daemon_segments(
    history: &History,
    start: Nanos,
    end: Nanos,
) -> Vec<(Nanos, Nanos, DaemonState)> {
    let mut segments = Vec::new();
    let mut state = DaemonState::Up;
    let mut since = start;
    // What the harness did to the daemon (its ops, begun and ended) and what it did by itself.
    let changes = history.entries().iter().filter_map(|e| {
        let next = match &e.what {
            Happening::Op {
                op: Op::Daemon(op),
                step,
                ..
            } => match (op, step) {
                (DaemonOp::Start, OpStep::Invoke) => DaemonState::Starting,
                (DaemonOp::Start, OpStep::Ok { .. }) => DaemonState::Up,
                (op, OpStep::Invoke) => DaemonState::Stopping {
                    crash: *op != DaemonOp::Stop,
                },
                (_, OpStep::Ok { .. }) => DaemonState::Down,
                _ => return None,
            },
            Happening::Daemon { action, .. } => match action {
                DaemonAction::Stopped | DaemonAction::Lost { .. } => DaemonState::Down,
                DaemonAction::Ready => DaemonState::Up,
            },
            _ => return None,
        };
        Some((e.at, next))
    });
    for (at, next) in changes {
        segments.push((since, at, state));
        state = next;
        since = at;
    }
    segments.push((since, end, state));
    segments.retain(|(a, b, _)| b.0 > a.0);
    segments
}

fn shade_daemon(svg: &mut Svg, f: &Frame, daemon: &[(Nanos, Nanos, DaemonState)]) {
    for &(a, b, state) in daemon {
        let opacity = match state {
            DaemonState::Up => continue,
            DaemonState::Down => "0.13",
            _ => "0.16",
        };
        let (x1, x2) = (f.x(a), f.x(b));
        svg.rect(
            x1,
            PLOT_TOP - 6.0,
            x2 - x1,
            DAEMON_LANE + LANE_H - PLOT_TOP + 6.0,
            &format!(r#"fill="{}" fill-opacity="{opacity}""#, state.colour()),
        );
    }
}

/// Draws the phase labels and boundaries; returns when the last phase ended.
fn phases(svg: &mut Svg, f: &Frame, run: &Run, end: Nanos) -> Option<Nanos> {
    let starts: Vec<(Nanos, &str)> = run
        .history
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Phase { name } => Some((e.at, name.as_str())),
            _ => None,
        })
        .collect();
    let mut row_ends = [f64::MIN; 2];
    for (i, &(at, name)) in starts.iter().enumerate() {
        let x = f.x(at);
        svg.line(
            x,
            PHASE_ROW - 14.0,
            x,
            DAEMON_LANE + LANE_H,
            r##"stroke="#888888" stroke-dasharray="3,3""##,
        );
        let label = format!("{} {name}", i + 1);
        let width = text_width(&label, 12.0);
        let row = if row_ends[0] < x { 0 } else { 1 };
        row_ends[row] = x + width + 10.0;
        svg.text(
            x + 4.0,
            PHASE_ROW + row as f64 * 15.0,
            &label,
            r#"font-weight="bold""#,
        );
    }
    let (last_at, last_name) = *starts.last()?;
    let duration = run
        .phases
        .iter()
        .find(|p| p.name == last_name)
        .map_or(0, |p| p.duration_ms);
    Some(Nanos((last_at.0 + duration * 1_000_000).min(end.0)))
}

fn counter_plot(svg: &mut Svg, f: &Frame, run: &Run, service: &str, end: Nanos) {
    let readings: Vec<(Nanos, u64)> = run.history.counter_readings(service).collect();
    let max = readings.iter().map(|&(_, v)| v).max().unwrap_or(1).max(1) as f64;
    let step = tick_step(max, 8.0, &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0]);
    let top = (max / step).ceil() * step;
    let y = |v: f64| PLOT_BOTTOM - v / top * (PLOT_BOTTOM - PLOT_TOP);
    let mut v = 0.0;
    while v <= top + 1e-9 {
        svg.line(
            LEFT,
            y(v),
            WIDTH - RIGHT,
            y(v),
            r##"stroke="#e6e6e6" stroke-width="1""##,
        );
        svg.text(
            LEFT - 8.0,
            y(v) + 4.0,
            &n(v),
            r##"text-anchor="end" fill="#555555""##,
        );
        v += step;
    }
    let (lx, ly) = (LEFT - 44.0, (PLOT_TOP + PLOT_BOTTOM) / 2.0);
    svg.text(
        lx,
        ly,
        "counter",
        &format!(
            r#"text-anchor="middle" font-weight="bold" transform="rotate(-90 {} {})""#,
            n(lx),
            n(ly)
        ),
    );
    let Some(&(first_at, first)) = readings.first() else {
        return;
    };
    let mut d = format!("M{},{}", n(f.x(first_at)), n(y(first as f64)));
    for &(at, value) in &readings[1..] {
        d.push_str(&format!(" H{} V{}", n(f.x(at)), n(y(value as f64))));
    }
    d.push_str(&format!(" H{}", n(f.x(end))));
    svg.raw(&format!(
        r##"<path d="{d}" fill="none" stroke="#222222" stroke-width="2"/>"##
    ));
    for &(at, value) in &readings {
        counter_dot(svg, f.x(at), y(value as f64));
    }
}

fn service_lane(svg: &mut Svg, f: &Frame, run: &Run, service: &str, end: Nanos) {
    lane_label(svg, SERVICE_LANE, "service");
    let actions: Vec<(Nanos, &ContainerAction, Source)> = run
        .history
        .entries()
        .iter()
        .filter_map(|e| match &e.what {
            Happening::Container {
                service: s, action, ..
            } if s == service => Some((e.at, action, e.source)),
            _ => None,
        })
        .collect();
    // Intervals: from `create` (or the first event) not running; `start` to `die` running.
    let mut since: Option<(Nanos, bool)> = actions.first().map(|&(at, _, _)| (at, false));
    let mut bars = Vec::new();
    for &(at, action, _) in &actions {
        let running = match action {
            ContainerAction::Start => true,
            ContainerAction::Die { .. } => false,
            ContainerAction::Destroy => {
                if let Some((from, was)) = since.take() {
                    bars.push((from, at, was));
                }
                continue;
            }
            _ => continue,
        };
        if let Some((from, was)) = since
            && was != running
        {
            bars.push((from, at, was));
            since = Some((at, running));
        }
    }
    if let Some((from, was)) = since {
        bars.push((from, end, was));
    }
    for (a, b, running) in bars {
        let (x1, x2) = (f.x(a), f.x(b));
        let style = if running {
            format!(r#"fill="{RUNNING}""#)
        } else {
            format!(r##"fill="{NOT_RUNNING}" stroke="#bdbdbd" stroke-width="0.5""##)
        };
        svg.rect(x1, SERVICE_LANE, x2 - x1, LANE_H, &style);
    }
    let mut last_code_x = f64::MIN;
    let mut last_kill_x = f64::MIN;
    for (at, action, source) in actions {
        let x = f.x(at);
        let hollow = source == Source::Inspect;
        match action {
            ContainerAction::Start => glyph_start(svg, x, GLYPH_ROW, hollow),
            ContainerAction::Die { exit_code } => {
                glyph_die(svg, x, GLYPH_ROW, hollow);
                if x - last_code_x > 18.0 {
                    svg.text(
                        x,
                        SERVICE_LANE + LANE_H + 12.0,
                        &exit_code.to_string(),
                        &format!(r#"text-anchor="middle" font-size="10" fill="{DIE}""#),
                    );
                    last_code_x = x;
                }
            }
            ContainerAction::Kill { signal } => {
                glyph_kill(svg, x, GLYPH_ROW - 11.0);
                if x - last_kill_x > 18.0 {
                    svg.text(
                        x + 6.0,
                        GLYPH_ROW - 8.0,
                        signal,
                        &format!(r#"font-size="10" fill="{KILL}""#),
                    );
                    last_kill_x = x;
                }
            }
            _ => {}
        }
    }
}

fn daemon_lane(svg: &mut Svg, f: &Frame, daemon: &[(Nanos, Nanos, DaemonState)]) {
    lane_label(svg, DAEMON_LANE, "daemon");
    for &(a, b, state) in daemon {
        let (x1, x2) = (f.x(a), f.x(b));
        svg.rect(
            x1,
            DAEMON_LANE,
            x2 - x1,
            LANE_H,
            &format!(r#"fill="{}""#, state.colour()),
        );
        let label = state.label();
        if x2 - x1 > text_width(label, 11.0) + 8.0 {
            svg.text(
                (x1 + x2) / 2.0,
                DAEMON_LANE + 13.0,
                label,
                r##"text-anchor="middle" font-size="11" fill="#ffffff""##,
            );
        }
    }
}

fn lane_label(svg: &mut Svg, y: f64, label: &str) {
    svg.text(
        LEFT - 8.0,
        y + 13.0,
        label,
        r#"text-anchor="end" font-weight="bold""#,
    );
}

fn x_axis(svg: &mut Svg, f: &Frame, step: f64) {
    svg.line(LEFT, AXIS_Y, WIDTH - RIGHT, AXIS_Y, r##"stroke="#333333""##);
    let mut s = 0.0;
    while s <= f.axis_end_s + 1e-9 {
        let x = f.xs(s);
        svg.line(x, AXIS_Y, x, AXIS_Y + 5.0, r##"stroke="#333333""##);
        svg.text(x, AXIS_Y + 18.0, &n(s), r#"text-anchor="middle""#);
        s += step;
    }
    svg.text(
        (LEFT + WIDTH - RIGHT) / 2.0,
        AXIS_Y + 34.0,
        "seconds since the run began",
        r##"text-anchor="middle" fill="#333333""##,
    );
}

/// Draws a legend entry's mark centred at (x, y).
type Draw = Box<dyn Fn(&mut Svg, f64, f64)>;

/// One entry of the legend, placed.
struct LegendItem {
    x: f64,
    row: usize,
    draw: Draw,
    label: &'static str,
}

/// The legend's entries, wrapped to the figure's width.
fn legend_layout(with_inspect: bool) -> Vec<LegendItem> {
    fn swatch(colour: &'static str) -> Draw {
        Box::new(move |svg: &mut Svg, x: f64, y: f64| {
            svg.rect(x - 7.0, y - 6.0, 14.0, 12.0, &format!(r#"fill="{colour}""#))
        })
    }
    let mut entries: Vec<(Draw, &'static str)> = vec![
        (swatch(RUNNING), "service running"),
        (swatch(NOT_RUNNING), "not running"),
        (swatch(DAEMON_UP), "daemon up"),
        (swatch(DAEMON_CHANGING), "stopping / starting"),
        (swatch(DAEMON_DOWN), "daemon down"),
        (
            Box::new(|s: &mut Svg, x, y| glyph_start(s, x, y, false)),
            "start",
        ),
        (
            Box::new(|s: &mut Svg, x, y| glyph_die(s, x, y, false)),
            "die (exit code below)",
        ),
        (Box::new(glyph_kill), "kill (signal beside)"),
        (Box::new(counter_dot), "counter read"),
    ];
    if with_inspect {
        entries.push((
            Box::new(|s: &mut Svg, x, y| glyph_start(s, x, y, true)),
            "hollow: reconstructed from inspect",
        ));
    }
    let mut placed = Vec::new();
    let (mut x, mut row) = (MARGIN, 0);
    for (draw, label) in entries {
        let width = 16.0 + text_width(label, 12.0) + 14.0;
        if x + width > WIDTH - RIGHT && x > MARGIN {
            x = MARGIN;
            row += 1;
        }
        placed.push(LegendItem {
            x,
            row,
            draw,
            label,
        });
        x += width;
    }
    placed
}

pub(crate) fn counter_dot(svg: &mut Svg, x: f64, y: f64) {
    svg.raw(&format!(
        r##"<circle cx="{}" cy="{}" r="2.6" fill="#222222"/>"##,
        n(x),
        n(y)
    ));
}

pub(crate) fn glyph_start(svg: &mut Svg, x: f64, y: f64, hollow: bool) {
    let fill = if hollow { "#ffffff" } else { RUNNING };
    svg.raw(&format!(
        r#"<path d="M{},{} L{},{} L{},{} Z" fill="{fill}" stroke="{RUNNING}" stroke-width="1.2"/>"#,
        n(x),
        n(y - 5.0),
        n(x + 4.5),
        n(y + 3.0),
        n(x - 4.5),
        n(y + 3.0)
    ));
}

pub(crate) fn glyph_die(svg: &mut Svg, x: f64, y: f64, hollow: bool) {
    let dash = if hollow {
        r#" stroke-dasharray="1.5,1""#
    } else {
        ""
    };
    svg.raw(&format!(
        r#"<path d="M{},{} L{},{} M{},{} L{},{}" stroke="{DIE}" stroke-width="1.8"{dash}/>"#,
        n(x - 3.5),
        n(y - 3.5),
        n(x + 3.5),
        n(y + 3.5),
        n(x - 3.5),
        n(y + 3.5),
        n(x + 3.5),
        n(y - 3.5)
    ));
}

pub(crate) fn glyph_kill(svg: &mut Svg, x: f64, y: f64) {
    svg.raw(&format!(
        r#"<path d="M{},{} L{},{} L{},{} L{},{} Z" fill="{KILL}"/>"#,
        n(x),
        n(y - 4.5),
        n(x + 4.0),
        n(y),
        n(x),
        n(y + 4.5),
        n(x - 4.0),
        n(y)
    ));
}
