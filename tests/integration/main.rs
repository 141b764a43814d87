//! halab's integration tests: the `halab` binary against real daemons — lab daemons it starts
//! (root) and the machine's own daemon (never stopped). One test binary, as in jj and nextest;
//! nextest serialises the heavy ones (see .config/nextest.toml).
//!
//! No test skips: without a daemon, or without root where a lab is needed, they fail and say why.

#[macro_use]
mod support;

mod bad_input;
mod book;
mod chaos_run;
mod chaos_suite;
mod cli;
mod differential;
mod faults;
mod foreign;
mod hostile;
mod lab;
mod mutants;
mod observe;
mod reference;
mod report_html;
mod scenarios;
mod seed;
mod sim;
mod suites;
mod translation;
