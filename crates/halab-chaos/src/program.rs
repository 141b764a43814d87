//! The script halab writes for a service that has no script of its own: busybox `sh` doing
//! what the service's `program` says, run after run — the same description the simulator
//! plays and the oracle expects, so the three cannot drift apart.
//!
//! The script runs as the container's PID 1. It counts its start in the counter file (which
//! also tells it which run this is), then does that run: sleeps and exits, waits to be told
//! (polling the order file [`ORDER_FILE`] every 50 ms, which the harness writes), or runs for
//! ever. Sleeps run in the background under `wait`, which a trapped signal interrupts (a
//! foreground `sleep` would delay the trap until it ends). The stop signal is trapped only when
//! the program answers it (PID 1 without a handler ignores SIGTERM, as busybox `sh` does).

use std::fmt::Write as _;

use halab_model::{Run, SignalResponse};

use crate::scenario::Service;

/// In the service's directory: what the harness tells a program waiting to be told — an exit
/// code, or `oom`.
pub const ORDER_FILE: &str = ".order";

/// What a program allocates to exceed its memory limit when told `oom`: far above any limit a
/// scenario may set ([`crate::scenario::limits::MEMORY_MB`]).
const OOM_BYTES: u64 = 70 * 1024 * 1024 * 1024;

/// The script for `service`: its own, or the one written from its program.
pub fn script(service: &Service) -> String {
    match &service.script {
        Some(script) => script.clone(),
        None => written(service),
    }
}

fn written(service: &Service) -> String {
    let dir = service.counter_dir.trim_end_matches('/');
    let counter = format!("{dir}/{}", service.counter_file);
    let order = format!("{dir}/{ORDER_FILE}");
    let mut s = String::from("s() { sleep \"$1\" & wait $!; }\n");
    match service.on_stop_signal {
        SignalResponse::Ignore => {}
        SignalResponse::Die => s += "trap 'exit 143' TERM\n",
        SignalResponse::Exit { code } => {
            let _ = writeln!(s, "trap 'exit {code}' TERM");
        }
    }
    let _ = writeln!(
        s,
        "n=$(cat {counter} 2>/dev/null || echo {initial}); n=$((n+1)); echo $n > {counter}",
        initial = service.counter_initial
    );
    let _ = writeln!(
        s,
        "told() {{ until [ -e {order} ]; do s 0.05; done; o=$(cat {order}); rm -f {order}; \
         if [ \"$o\" = oom ]; then x=$(head -c {OOM_BYTES} /dev/zero | tr '\\0' x); fi; exit $o; }}"
    );
    let _ = writeln!(s, "case $((n-{})) in", service.counter_initial);
    let runs = &service.program.runs;
    for (i, run) in runs.iter().enumerate() {
        let pattern = if i + 1 == runs.len() {
            "*".to_owned()
        } else {
            (i + 1).to_string()
        };
        let body = match *run {
            Run::Exit { after_ms: 0, code } => format!("exit {code}"),
            Run::Exit { after_ms, code } => {
                format!("s {}.{:03}; exit {code}", after_ms / 1000, after_ms % 1000)
            }
            Run::UntilTold => "told".to_owned(),
            Run::Forever => "while :; do s 3600; done".to_owned(),
        };
        let _ = writeln!(s, "{pattern}) {body};;");
    }
    if runs.is_empty() {
        s += "*) while :; do s 3600; done;;\n";
    }
    s + "esac\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use halab_model::{RestartPolicy, ServiceBehaviour};

    fn service(runs: Vec<Run>, on_stop_signal: SignalResponse) -> Service {
        Service {
            name: "svc".into(),
            image: "lab".into(),
            restart: RestartPolicy::Always,
            script: None,
            program: ServiceBehaviour { runs, counts: true },
            on_stop_signal,
            stop_timeout: None,
            memory_mb: None,
            start: true,
            counter_dir: "/halab".into(),
            counter_file: "starts".into(),
            counter_initial: 0,
            healthcheck: None,
        }
    }

    #[test]
    fn each_run_of_the_program_is_a_case_of_the_script() {
        let s = script(&service(
            vec![
                Run::Exit {
                    after_ms: 300,
                    code: 3,
                },
                Run::UntilTold,
                Run::Forever,
            ],
            SignalResponse::Exit { code: 143 },
        ));
        assert!(s.contains("trap 'exit 143' TERM"), "{s}");
        assert!(s.contains("1) s 0.300; exit 3;;"), "{s}");
        assert!(s.contains("2) told;;"), "{s}");
        assert!(s.contains("*) while :; do s 3600; done;;"), "{s}");
        assert!(s.contains("echo $n > /halab/starts"), "{s}");
        let plain = script(&service(
            vec![Run::Exit {
                after_ms: 0,
                code: 1,
            }],
            SignalResponse::Ignore,
        ));
        assert!(!plain.contains("trap"), "{plain}");
        assert!(plain.contains("*) exit 1;;"), "{plain}");
    }
}
