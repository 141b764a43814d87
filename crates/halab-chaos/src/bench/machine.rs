//! The machine a benchmark ran on, named in its output: figures mean nothing without it.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub memory_mib: Option<u64>,
}

impl Machine {
    pub fn this() -> Machine {
        let read = |path: &str| std::fs::read_to_string(Path::new(path)).unwrap_or_default();
        Machine {
            cpu: cpu_model(&read("/proc/cpuinfo")).unwrap_or_else(|| "unknown CPU".into()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: Some(read("/proc/sys/kernel/osrelease").trim().to_owned())
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "unknown".into()),
            memory_mib: read("/proc/meminfo")
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kib| kib / 1024),
        }
    }

    /// `AMD EPYC 7B13, 2 cores, 7.8 GiB, Linux 6.1.0`.
    pub fn describe(&self) -> String {
        let memory = self
            .memory_mib
            .map(|mib| format!(", {:.1} GiB", mib as f64 / 1024.0))
            .unwrap_or_default();
        format!(
            "{}, {} core{}{memory}, Linux {}",
            self.cpu,
            self.cores,
            if self.cores == 1 { "" } else { "s" },
            self.kernel
        )
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_model_is_read() {
        let info = "processor\t: 0\nmodel name\t: AMD EPYC   7B13 64-Core Processor\n";
        assert_eq!(
            cpu_model(info).as_deref(),
            Some("AMD EPYC 7B13 64-Core Processor")
        );
        assert_eq!(cpu_model(""), None);
        let machine = Machine {
            cpu: "X".into(),
            cores: 2,
            kernel: "6.1".into(),
            memory_mib: None,
        };
        assert_eq!(machine.describe(), "X, 2 cores, Linux 6.1");
    }
}
