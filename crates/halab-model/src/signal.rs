//! Linux signal numbers the model talks about, and the exit code of a process a signal killed.
//!
//! Signals are plain `i32`s, as the Engine API and the `kill` event's `signal` attribute carry
//! them; these constants only name the ones the model treats specially.

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGTERM: i32 = 15;

/// The exit code Docker records for a process killed by `signal`: the shell convention 128+N,
/// which is what containerd reports for a signalled init (137 for SIGKILL, 143 for SIGTERM).
pub const fn killed_by(signal: i32) -> i64 {
    128 + signal as i64
}

/// The signal's short name when it has one the model uses, for tables and messages.
pub fn name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        SIGHUP => "SIGHUP",
        SIGINT => "SIGINT",
        SIGQUIT => "SIGQUIT",
        SIGKILL => "SIGKILL",
        SIGUSR1 => "SIGUSR1",
        SIGTERM => "SIGTERM",
        _ => return None,
    })
}
