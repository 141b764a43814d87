//! The parts of a run's JSON report (`halab scenario run … --json`) that the figures draw.

use std::collections::BTreeMap;

use halab_model::{ContainerAction, Happening, History, Nanos};
use serde::Deserialize;

/// A run's report, as much of it as the figures need; other fields are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub scenario: String,
    pub run_id: String,
    pub target: Target,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    pub verdict: String,
    #[serde(default)]
    pub phases: Vec<PhaseReport>,
    pub history: History,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    /// `lab`, `host` or `sim`.
    pub kind: String,
    pub engine_version: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PhaseReport {
    pub name: String,
    pub duration_ms: i64,
}

impl Run {
    pub fn from_json(text: &str) -> anyhow::Result<Run> {
        Ok(serde_json::from_str(text)?)
    }

    /// The service the figure follows: the first the history names.
    pub fn service(&self) -> Option<&str> {
        self.history.entries().iter().find_map(|e| match &e.what {
            Happening::Container { service, .. } => Some(service.as_str()),
            _ => None,
        })
    }

    /// When the history begins.
    pub fn start(&self) -> Nanos {
        self.history.entries().first().map_or(Nanos(0), |e| e.at)
    }

    /// When the history ends.
    pub fn end(&self) -> Nanos {
        self.history.entries().last().map_or(Nanos(0), |e| e.at)
    }

    /// "a lab daemon (Docker 20.10.24)", "the simulator (model of 20.10)", …
    pub fn target_phrase(&self) -> String {
        match self.target.kind.as_str() {
            "lab" => format!("a lab daemon, Docker {}", self.target.engine_version),
            "sim" => format!("the simulator, {}", self.target.engine_version),
            _ => format!("Docker {}", self.target.engine_version),
        }
    }

    /// `parameters sleep=1, restarts=3 · ` — the parameters the run used, if it has any.
    pub fn params_phrase(&self) -> String {
        if self.params.is_empty() {
            return String::new();
        }
        let list: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("parameters {} · ", list.join(", "))
    }

    /// The delays from each `die` of the service to its next `start`, in milliseconds, within
    /// the phase `phase` (by position, as the checks count), or in the whole run.
    pub fn restart_gaps_ms(&self, phase: Option<&str>) -> anyhow::Result<Vec<f64>> {
        let service = self
            .service()
            .ok_or_else(|| anyhow::anyhow!("the history names no container"))?;
        let entries = match phase {
            Some(name) => {
                let span = self.history.phase_span(name).ok_or_else(|| {
                    anyhow::anyhow!("the run has no phase `{name}` in its history")
                })?;
                &self.history.entries()[span]
            }
            None => self.history.entries(),
        };
        let mut gaps = Vec::new();
        let mut last_die: Option<Nanos> = None;
        for e in entries {
            if let Happening::Container {
                service: s, action, ..
            } = &e.what
            {
                if s != service {
                    continue;
                }
                match action {
                    ContainerAction::Die { .. } => last_die = Some(e.at),
                    ContainerAction::Start => {
                        if let Some(die) = last_die.take() {
                            gaps.push((e.at.0 - die.0) as f64 / 1e6);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(gaps)
    }
}
