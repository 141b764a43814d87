//! halab's chaos side: scenario files, the runner that plays them against a daemon, the checks
//! that judge a run's history, and the report.
//!
//! - [`scenario`]: the TOML format, parameters and located errors;
//! - [`runner`]: set up, phases, checks, teardown (always);
//! - [`chaos`]: fault schedules drawn from a scenario's `[chaos]` table, from a seed;
//! - [`machine`]: the state machine of the property-based suites — cases drawn and shrunk by
//!   proptest, compiled to scenarios;
//! - [`checks`]: judgements of a history, the oracle's among them ([`oracle`]: the model
//!   replaying the run);
//! - [`report`]: the result, as JSON or a plain summary; [`metrics`]: its numbers (recovery,
//!   availability, restart delays, detection latency); [`junit`] and [`html`]: the same result
//!   for CI and for a browser;
//! - [`view`]: the live terminal view and plain progress lines;
//! - [`run_dir`]: a run's own directory and the record that it is halab's;
//! - [`gc`]: removing what killed runs left, by those records;
//! - [`text`]: foreign text made safe for a terminal.

pub mod bench;
pub mod chaos;
pub mod checks;
mod counter;
pub mod gc;
pub mod html;
mod judge;
pub mod junit;
pub mod machine;
pub mod metrics;
pub mod oracle;
pub mod program;
pub mod report;
pub mod report_dir;
pub mod run_dir;
pub mod runner;
pub mod scenario;
pub mod search;
pub mod side_by_side;
pub mod suite;
#[cfg(test)]
mod testing;
pub mod text;
pub mod view;

pub use checks::Verdict;
pub use judge::{judge_again, rejudge};
pub use report::Report;
pub use runner::{RunError, RunOptions, RuntimeChoice, Target, run};
pub use scenario::{Scenario, ScenarioError};
