//! A sorted bar chart of durations: one bar per sample, shortest first, each with a class for
//! its kind, coloured by kind, with a legend. The HTML report draws its recovery times with it.

use std::collections::BTreeMap;

use crate::svg::{Svg, escape, n, text_width};

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Its kind: the bar's class and colour, and a legend entry.
    pub kind: String,
    pub value_ms: f64,
    /// Shown on hover.
    pub title: String,
}

const WIDTH: f64 = 760.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 40.0;
const PLOT_H: f64 = 150.0;
const COLOURS: [&str; 8] = [
    "#d62728", "#6a1b9a", "#1f5fa8", "#ff7f0e", "#2e8b3e", "#8c564b", "#17becf", "#7f7f7f",
];

/// The chart, as SVG; `caption` is drawn above it.
pub fn bars(caption: &str, samples: &[Bar]) -> String {
    let mut sorted: Vec<&Bar> = samples.iter().filter(|b| b.value_ms.is_finite()).collect();
    sorted.sort_by(|a, b| a.value_ms.total_cmp(&b.value_ms));
    let kinds: BTreeMap<&str, &str> = {
        let mut names: Vec<&str> = sorted.iter().map(|b| b.kind.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, kind_colour(k).unwrap_or(COLOURS[i % COLOURS.len()])))
            .collect()
    };
    let legend_y = TOP + PLOT_H + 44.0;
    let height = legend_y + if kinds.is_empty() { 0.0 } else { 20.0 };
    let mut svg = Svg::new(WIDTH, height, caption);
    svg.text(14.0, 20.0, caption, r#"font-weight="bold""#);
    let max = sorted.last().map_or(0.0, |b| b.value_ms).max(0.0);
    let (unit, scale) = if max >= 10_000.0 {
        ("s", 1000.0)
    } else {
        ("ms", 1.0)
    };
    let top = nice_top(max / scale);
    let y = |v: f64| TOP + PLOT_H - (v / scale / top * PLOT_H).clamp(0.0, PLOT_H);
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let yy = TOP + PLOT_H - PLOT_H * f64::from(i) / 4.0;
        svg.line(LEFT, yy, WIDTH - RIGHT, yy, r##"stroke="#e6e6e6""##);
        svg.text(
            LEFT - 6.0,
            yy + 4.0,
            &format!("{} {unit}", n(v)),
            r##"text-anchor="end" font-size="11" fill="#555555""##,
        );
    }
    if sorted.is_empty() {
        svg.text(
            (LEFT + WIDTH - RIGHT) / 2.0,
            TOP + PLOT_H / 2.0,
            "no fault the service came back from",
            r##"text-anchor="middle" fill="#777777""##,
        );
    }
    let slot = (WIDTH - LEFT - RIGHT) / sorted.len().max(1) as f64;
    let bar_w = (slot * 0.8).min(28.0);
    for (i, b) in sorted.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let top_y = y(b.value_ms);
        svg.raw(&format!(
            r#"<rect class="bar" data-kind="{}" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>"#,
            escape(&b.kind),
            n(x),
            n(top_y),
            n(bar_w.max(0.5)),
            n((TOP + PLOT_H - top_y).max(0.5)),
            kinds.get(b.kind.as_str()).copied().unwrap_or("#7f7f7f"),
            escape(&b.title)
        ));
        // Each bar's value above it while there is room: a short recovery beside a long one is
        // otherwise a bar too short to see.
        if slot >= 34.0 {
            svg.text(
                x + bar_w / 2.0,
                top_y - 4.0,
                &human(b.value_ms),
                r##"text-anchor="middle" font-size="10" fill="#333333""##,
            );
        }
    }
    svg.line(
        LEFT,
        TOP + PLOT_H,
        WIDTH - RIGHT,
        TOP + PLOT_H,
        r##"stroke="#333333""##,
    );
    svg.text(
        (LEFT + WIDTH - RIGHT) / 2.0,
        TOP + PLOT_H + 18.0,
        &format!("{} faults, shortest recovery first", sorted.len()),
        r##"text-anchor="middle" fill="#333333""##,
    );
    let mut x = 14.0;
    for (kind, colour) in kinds {
        svg.rect(
            x,
            legend_y - 10.0,
            12.0,
            12.0,
            &format!(r#"fill="{colour}""#),
        );
        svg.text(x + 16.0, legend_y, kind, "");
        x += 16.0 + text_width(kind, 12.0) + 18.0;
    }
    svg.finish()
}

/// A duration for a label: ms below ten seconds, else seconds.
fn human(ms: f64) -> String {
    if ms.abs() < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// The colours of the kinds of fault halab knows, the same as their markers on the timeline.
fn kind_colour(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "crash" => "#d62728",
        "api-kill" => "#6a1b9a",
        "api-stop" | "api-restart" => "#1f5fa8",
        "exit" => "#444444",
        "oom" => "#ff7f0e",
        "daemon-stop" => "#f0a33a",
        "daemon-crash" => "#8b1a1a",
        "power-loss" => "#000000",
        _ => return None,
    })
}

/// The axis' top: 1, 2 or 5 times a power of ten, at least `max`.
fn nice_top(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let base = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|t| *t >= max)
        .unwrap_or(base * 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_per_sample_and_odd_values_drawn_safely() {
        let bar = |kind: &str, v: f64| Bar {
            kind: kind.into(),
            value_ms: v,
            title: format!("<{kind}>"),
        };
        let svg = bars(
            "recovery",
            &[
                bar("crash", 120.0),
                bar("daemon-crash", 9000.0),
                bar("x", f64::NAN),
            ],
        );
        assert_eq!(svg.matches(r#"<rect class="bar""#).count(), 2, "{svg}");
        assert!(svg.contains(r#"data-kind="crash""#));
        assert!(svg.contains("&lt;crash&gt;"));
        assert!(bars("none", &[]).contains("no fault"));
        assert!(bars("huge", &[bar("a", f64::MAX), bar("b", -1.0)]).ends_with("</svg>\n"));
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(nice_top(120.0), 200.0);
    }
}
