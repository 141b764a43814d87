//! The book's figures are what `halab-figures` draws now from the committed runs, and the
//! rendered state machine is the graph the model gives now. `just book-refresh` redraws them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn book() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../book")
}

fn generated() -> PathBuf {
    book().join("src/generated")
}

/// The figures of `book/captures.txt`: (file, program, arguments).
fn figures() -> Vec<(String, String, Vec<String>)> {
    let list = std::fs::read_to_string(book().join("captures.txt")).expect("book/captures.txt");
    list.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace().map(str::to_owned);
            let file = words.next()?;
            let program = words.next()?;
            (program == "halab-figures" || program == "dot")
                .then(|| (file, program, words.collect()))
        })
        .collect()
}

#[test]
fn every_figure_is_what_halab_figures_draws_from_the_committed_runs() {
    let figures = figures();
    let drawn: Vec<_> = figures
        .iter()
        .filter(|(_, program, _)| program == "halab-figures")
        .collect();
    assert!(drawn.len() >= 5, "only {} figures listed", drawn.len());
    let mut stale = Vec::new();
    for (file, _, args) in drawn {
        let out = Command::new(env!("CARGO_BIN_EXE_halab-figures"))
            .args(args)
            .current_dir(generated())
            .output()
            .expect("running halab-figures");
        assert!(
            out.status.success(),
            "halab-figures {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read(generated().join(file)).unwrap_or_default();
        if committed != out.stdout {
            stale.push(file.clone());
        }
    }
    assert!(
        stale.is_empty(),
        "not what halab-figures draws now: {stale:?}; run `just book-refresh figures/`"
    );
}

/// Graphviz's SVG names each edge `from->to` in a `<title>` and writes each label line as a
/// `<text>`: the rendered SVG must hold exactly the committed DOT's edges and label lines.
#[test]
fn the_rendered_state_machine_is_the_committed_graph() {
    for (file, _, args) in figures().iter().filter(|(_, p, _)| p == "dot") {
        let source = args.last().expect("dot's input file");
        let dot = std::fs::read_to_string(generated().join(source)).expect("the DOT file");
        let svg = std::fs::read_to_string(generated().join(file)).expect("the rendered SVG");
        let unescape = |s: &str| {
            s.replace("&#45;", "-")
                .replace("&gt;", ">")
                .replace("&lt;", "<")
                .replace("&amp;", "&")
                .replace("&#160;", " ")
        };
        let edges_in_dot: BTreeSet<String> = dot
            .lines()
            .filter_map(|l| {
                let (from, rest) = l.trim().split_once(" -> ")?;
                let to = rest.split_whitespace().next()?;
                Some(format!("{from}->{to}"))
            })
            .collect();
        let edges_in_svg: BTreeSet<String> = svg
            .split("<title>")
            .skip(1)
            .filter_map(|s| s.split_once("</title>").map(|(t, _)| unescape(t)))
            .filter_map(|t| {
                // A loop drawn with ports is titled `running:s->running:s`.
                let (from, to) = t.split_once("->")?;
                let node = |n: &str| n.split(':').next().unwrap_or_default().to_owned();
                Some(format!("{}->{}", node(from), node(to)))
            })
            .collect();
        assert_eq!(
            edges_in_dot, edges_in_svg,
            "{file} was not rendered from {source}: run `just book-refresh figures/`"
        );
        let texts: BTreeSet<String> = svg
            .split("<text")
            .skip(1)
            .filter_map(|s| {
                let (_, rest) = s.split_once('>')?;
                rest.split_once("</text>").map(|(t, _)| unescape(t))
            })
            .collect();
        for line in dot.lines().filter(|l| l.contains("label=\"")) {
            let label = line
                .split("label=\"")
                .nth(1)
                .and_then(|s| s.split_once('"'));
            for part in label.map(|(l, _)| l).unwrap_or_default().split("\\n") {
                assert!(
                    texts.contains(part),
                    "{file} lacks the label line `{part}` of {source}: run `just book-refresh figures/`"
                );
            }
        }
    }
}

#[test]
fn the_committed_state_machine_is_what_the_model_gives_now() {
    let committed = std::fs::read_to_string(generated().join("figures/restart-policies.dot"))
        .unwrap_or_default();
    assert_eq!(
        committed,
        halab_figures::states(),
        "figures/restart-policies.dot is not what the model gives now: run `just book-refresh figures/`"
    );
}
