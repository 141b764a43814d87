//! Just enough SVG: a string builder with deterministic number formatting.

use std::fmt::Write as _;

/// A number with at most one decimal, without a trailing `.0`: stable output for tests.
pub fn n(x: f64) -> String {
    let rounded = (x * 10.0).round() / 10.0;
    if rounded == rounded.trunc() {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded:.1}")
    }
}

/// Text made safe for XML: markup escaped, and control characters (which XML 1.0 cannot
/// hold at all) shown as `\u{..}`.
pub fn escape(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The width a string takes in the figures' sans-serif font, roughly.
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.58
}

pub struct Svg {
    out: String,
}

impl Svg {
    pub fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">"#,
            w = n(width),
            h = n(height)
        );
        let _ = writeln!(out, "<title>{}</title>", escape(title));
        let _ = writeln!(
            out,
            r##"<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##,
            n(width),
            n(height)
        );
        Svg { out }
    }

    pub fn raw(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, style: &str) {
        self.raw(&format!(
            r#"<rect x="{}" y="{}" width="{}" height="{}" {style}/>"#,
            n(x),
            n(y),
            n(w.max(0.0)),
            n(h.max(0.0))
        ));
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        self.raw(&format!(
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" {style}/>"#,
            n(x1),
            n(y1),
            n(x2),
            n(y2)
        ));
    }

    pub fn text(&mut self, x: f64, y: f64, text: &str, style: &str) {
        self.raw(&format!(
            r#"<text x="{}" y="{}" {style}>{}</text>"#,
            n(x),
            n(y),
            escape(text)
        ));
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// A tick step for an axis spanning `span` units, giving at most `max_ticks` ticks.
pub fn tick_step(span: f64, max_ticks: f64, steps: &[f64]) -> f64 {
    steps
        .iter()
        .copied()
        .find(|s| span / s <= max_ticks)
        .unwrap_or_else(|| *steps.last().unwrap_or(&1.0))
}
