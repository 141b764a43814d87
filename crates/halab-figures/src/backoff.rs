//! The restart back-off: for each restart in a run, the delay from the service's `die` to its
//! next `start`, beside the delay the restart model waits (`halab_model::backoff`).

use halab_model::backoff::nth_delay_ns;

use crate::run::Run;
use crate::svg::{Svg, n, tick_step};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 318.0;

const MODEL: &str = "#9ecae1";
const MEASURED: &str = "#1f5f99";

/// The back-off figure for the restarts of `phase` (or the whole run), as SVG.
pub fn backoff(run: &Run, phase: Option<&str>) -> anyhow::Result<String> {
    let gaps = run.restart_gaps_ms(phase)?;
    anyhow::ensure!(
        !gaps.is_empty(),
        "the run has no die → start pair to measure"
    );
    let model: Vec<f64> = (0..gaps.len())
        .map(|i| nth_delay_ns(i as u32) as f64 / 1e6)
        .collect();
    let max = gaps.iter().chain(&model).copied().fold(0.0, f64::max);
    let step = tick_step(
        max,
        8.0,
        &[
            100.0, 200.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0, 20_000.0,
        ],
    );
    let top = (max / step).ceil() * step;
    let y = |ms: f64| BOTTOM - ms / top * (BOTTOM - TOP);

    let title = format!("{}: the restart back-off, measured", run.scenario);
    let mut svg = Svg::new(WIDTH, HEIGHT, &title);
    svg.text(LEFT, 24.0, &title, r#"font-size="15" font-weight="bold""#);
    svg.text(
        LEFT,
        42.0,
        &format!(
            "a run on {} · {}run {}",
            run.target_phrase(),
            run.params_phrase(),
            run.run_id
        ),
        r##"fill="#555555""##,
    );

    let mut v = 0.0;
    while v <= top + 1e-9 {
        svg.line(LEFT, y(v), WIDTH - RIGHT, y(v), r##"stroke="#e6e6e6""##);
        svg.text(
            LEFT - 8.0,
            y(v) + 4.0,
            &format!("{}", v as i64),
            r##"text-anchor="end" fill="#555555""##,
        );
        v += step;
    }
    svg.text(
        20.0,
        (TOP + BOTTOM) / 2.0,
        "milliseconds",
        &format!(
            r#"text-anchor="middle" transform="rotate(-90 20 {})""#,
            n((TOP + BOTTOM) / 2.0)
        ),
    );

    let group = (WIDTH - LEFT - RIGHT) / gaps.len() as f64;
    let bar = (group * 0.34).min(44.0);
    for (i, (&measured, &expected)) in gaps.iter().zip(&model).enumerate() {
        let centre = LEFT + group * (i as f64 + 0.5);
        let (xm, xg) = (centre - bar - 2.0, centre + 2.0);
        svg.rect(
            xm,
            y(expected),
            bar,
            BOTTOM - y(expected),
            &format!(r#"fill="{MODEL}""#),
        );
        svg.rect(
            xg,
            y(measured),
            bar,
            BOTTOM - y(measured),
            &format!(r#"fill="{MEASURED}""#),
        );
        svg.text(
            xm + bar / 2.0,
            y(expected) - 4.0,
            &format!("{}", expected.round() as i64),
            r##"text-anchor="middle" font-size="10" fill="#4a7fa6""##,
        );
        svg.text(
            xg + bar / 2.0,
            y(measured) - 4.0,
            &format!("{}", measured.round() as i64),
            &format!(r#"text-anchor="middle" font-size="10" font-weight="bold" fill="{MEASURED}""#),
        );
        svg.text(
            centre,
            BOTTOM + 17.0,
            &format!("restart {}", i + 1),
            r#"text-anchor="middle""#,
        );
    }
    svg.line(LEFT, BOTTOM, WIDTH - RIGHT, BOTTOM, r##"stroke="#333333""##);

    let ly = BOTTOM + 48.0;
    svg.rect(LEFT, ly - 10.0, 14.0, 12.0, &format!(r#"fill="{MODEL}""#));
    svg.text(
        LEFT + 19.0,
        ly,
        "the model's back-off: 100 ms, doubled at each restart",
        "",
    );
    svg.rect(LEFT, ly + 8.0, 14.0, 12.0, &format!(r#"fill="{MEASURED}""#));
    svg.text(
        LEFT + 19.0,
        ly + 18.0,
        "measured: from the service's die event to its next start event",
        "",
    );
    Ok(svg.finish())
}
