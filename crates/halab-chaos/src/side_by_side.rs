//! A prediction and a real run of one scenario, side by side: each service's events as the
//! simulator played them (in virtual time) beside the events a real daemon logged, aligned as
//! a diff aligns lines, so that what Docker did differently from the prediction stands out.
//!
//! The alignment is by the events' short spelling (`start`, `die(0)`, `kill(9)`): a longest
//! common subsequence, so one missing restart shows as one marked row, not as every row after
//! it differing. Times are what each run measured from its own first entry; they are shown, not
//! compared — the oracle is what judges timing, with its tolerances.

use std::fmt::Write as _;

use halab_model::{ContainerAction, History, Nanos};

use crate::report::Report;

/// One row of a service's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// The same event on both sides, with each side's time in ms.
    Same {
        event: String,
        predicted_ms: i64,
        real_ms: i64,
    },
    /// Predicted, and not seen on the real daemon.
    OnlyPredicted { event: String, at_ms: i64 },
    /// Seen on the real daemon, and not predicted.
    OnlyReal { event: String, at_ms: i64 },
}

impl Row {
    pub fn differs(&self) -> bool {
        !matches!(self, Row::Same { .. })
    }
}

/// Both runs' events of every service, aligned.
#[derive(Debug)]
pub struct SideBySide {
    pub predicted: String,
    pub real: String,
    /// By service, in the scenario's order.
    pub services: Vec<(String, Vec<Row>)>,
}

impl SideBySide {
    /// Lines the two runs disagree on, over all services.
    pub fn differences(&self) -> usize {
        self.services
            .iter()
            .map(|(_, rows)| rows.iter().filter(|r| r.differs()).count())
            .sum()
    }

    /// The tables, one per service, for a terminal: `≠` marks a row where the runs disagree.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "side by side: predicted by {} | observed on {}",
            self.predicted, self.real
        );
        for (service, rows) in &self.services {
            out.push('\n');
            line(
                &mut out,
                format!(
                    "  {service:<16} {:>10}  {:10}   {:>10}",
                    "predicted", "", "observed"
                ),
            );
            for row in rows {
                let (mark, left, right) = match row {
                    Row::Same {
                        event,
                        predicted_ms,
                        real_ms,
                    } => (" ", cell(*predicted_ms, event), cell(*real_ms, event)),
                    Row::OnlyPredicted { event, at_ms } => ("≠", cell(*at_ms, event), blank()),
                    Row::OnlyReal { event, at_ms } => ("≠", blank(), cell(*at_ms, event)),
                };
                line(&mut out, format!("  {mark} {:14} {left}   {right}", ""));
            }
            if rows.is_empty() {
                let _ = writeln!(out, "    (no events on either side)");
            }
        }
        let differences = self.differences();
        let _ = writeln!(
            out,
            "\n{}",
            if differences == 0 {
                "the real daemon did what the simulator predicted, event for event".to_owned()
            } else {
                format!("{differences} event(s) differ (marked ≠)")
            }
        );
        out
    }
}

/// One line of the table, without the padding its last column leaves.
fn line(out: &mut String, text: String) {
    out.push_str(text.trim_end());
    out.push('\n');
}

fn cell(ms: i64, event: &str) -> String {
    format!("{:>9.1}s  {event:<10}", ms as f64 / 1000.0)
}

fn blank() -> String {
    format!("{:>10}  {:<10}", "—", "")
}

/// Aligns `predicted` (a simulator's report) with `real` (a real daemon's), service by service.
pub fn side_by_side(services: &[String], predicted: &Report, real: &Report) -> SideBySide {
    let describe = |r: &Report| format!("{} {}", r.target.kind, r.target.name);
    SideBySide {
        predicted: describe(predicted),
        real: describe(real),
        services: services
            .iter()
            .map(|s| {
                let rows = align(&events(&predicted.history, s), &events(&real.history, s));
                (s.clone(), rows)
            })
            .collect(),
    }
}

/// A service's events worth comparing (not its creation or removal, which halab does), as
/// (ms since the run's first entry, short spelling).
fn events(history: &History, service: &str) -> Vec<(i64, String)> {
    let origin = history.entries().first().map_or(Nanos(0), |e| e.at);
    history
        .container_actions(service)
        .filter(|(_, a)| !matches!(a, ContainerAction::Create | ContainerAction::Destroy))
        .map(|(at, a)| (at.millis_since(origin), a.short()))
        .collect()
}

/// A longest-common-subsequence alignment of two event lists.
fn align(predicted: &[(i64, String)], real: &[(i64, String)]) -> Vec<Row> {
    let (n, m) = (predicted.len(), real.len());
    // common[i][j]: the longest common subsequence of predicted[i..] and real[j..].
    let mut common = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if predicted[i].1 == real[j].1 {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut rows = Vec::with_capacity(n.max(m));
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && predicted[i].1 == real[j].1 {
            rows.push(Row::Same {
                event: predicted[i].1.clone(),
                predicted_ms: predicted[i].0,
                real_ms: real[j].0,
            });
            i += 1;
            j += 1;
        } else if j == m || (i < n && common[i + 1][j] >= common[i][j + 1]) {
            rows.push(Row::OnlyPredicted {
                event: predicted[i].1.clone(),
                at_ms: predicted[i].0,
            });
            i += 1;
        } else {
            rows.push(Row::OnlyReal {
                event: real[j].1.clone(),
                at_ms: real[j].0,
            });
            j += 1;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(events: &[&str]) -> Vec<(i64, String)> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| (i as i64 * 1000, (*e).to_owned()))
            .collect()
    }

    #[test]
    fn equal_runs_align_row_for_row() {
        let a = list(&["start", "die(0)", "start"]);
        let rows = align(&a, &a);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| !r.differs()));
    }

    #[test]
    fn a_missing_restart_is_one_marked_row_not_a_shifted_tail() {
        let predicted = list(&["start", "die(1)", "start", "die(1)", "start"]);
        let real = list(&["start", "die(1)", "start", "die(1)"]);
        let rows = align(&predicted, &real);
        let differing: Vec<&Row> = rows.iter().filter(|r| r.differs()).collect();
        assert_eq!(
            differing,
            [&Row::OnlyPredicted {
                event: "start".into(),
                at_ms: 4000
            }]
        );
        let unexpected = align(
            &list(&["start", "kill(9)", "die(137)"]),
            &list(&["start", "kill(9)", "die(137)", "start"]),
        );
        assert_eq!(unexpected.iter().filter(|r| r.differs()).count(), 1);
        assert!(matches!(unexpected.last(), Some(Row::OnlyReal { event, .. }) if event == "start"));
    }

    #[test]
    fn a_different_exit_code_shows_on_both_sides() {
        let rows = align(&list(&["start", "die(0)"]), &list(&["start", "die(137)"]));
        assert_eq!(rows.iter().filter(|r| r.differs()).count(), 2);
        assert!(align(&[], &[]).is_empty());
    }
}
