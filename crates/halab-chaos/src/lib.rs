//! halab's chaos side: scenario files, the runner that plays them against a daemon, the checks
//! that judge a run's history, and the report.
//!
//! - [`scenario`]: the TOML format, parameters and located errors;
//! - [`runner`]: set up, phases, checks, teardown (always);
//! - [`checks`]: pure functions from a history to verdicts;
//! - [`report`]: the result, as JSON or a plain summary;
//! - [`view`]: the live terminal view and plain progress lines.

pub mod checks;
mod counter;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod view;

pub use checks::Verdict;
pub use report::Report;
pub use runner::{RunError, RunOptions, RuntimeChoice, Target, run};
pub use scenario::{Scenario, ScenarioError};
