//! The book's figures, drawn by code so that they cannot drift from what they show.
//!
//! - [`timeline`]: a run's history over time — the counter, the service's state, the daemon's
//!   state, the phases — from the JSON that `halab scenario run … --json` prints. Periods when
//!   the daemon is down are shaded across the whole picture, as Jepsen shades its faults; and
//!   [`lanes`], any history with a lane per service, every operation marked, for a page to
//!   link into (the HTML report).
//! - [`backoff`]: the delays between a service's exits and its restarts in a real run, next to
//!   the delays of the restart model (`halab_model::backoff`).
//! - [`bars`]: durations as a sorted bar chart (the HTML report's recovery times).
//! - [`states`]: the restart-policy state machine as Graphviz DOT, found by driving the model
//!   (`halab_model::ContainerModel`) from each state with each input under each policy.
//!
//! Output is deterministic: the same input gives the same bytes, so a test can check that the
//! committed figures are the ones the committed runs produce.

pub mod backoff;
pub mod bars;
pub mod run;
pub mod states;
mod svg;
pub mod timeline;

pub use backoff::backoff;
pub use bars::{Bar, bars};
pub use run::Run;
pub use states::states;
pub use timeline::{Lanes, Marker, lanes, timeline};
