//! A lab's metadata file, `<dir>/lab.json`: what `up` was asked for, so that `open`, `start` and
//! `list` can work from another process later.

use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::LabError;

/// What a lab's dockerd is started with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabOptions {
    /// dockerd `--live-restore`: containers keep running while dockerd is down.
    pub live_restore: bool,
    /// Passed as dockerd `--label k=v`, e.g. `halab.run=<id>`.
    pub labels: Vec<(String, String)>,
}

impl LabOptions {
    /// Rejects labels dockerd would misread: `--label` splits at the first `=`, so a key must be
    /// non-empty and free of `=`.
    pub fn validate(&self) -> Result<(), LabError> {
        for (key, value) in &self.labels {
            let reason = if key.is_empty() {
                Some("the key is empty")
            } else if key.contains('=') {
                Some("the key contains '='")
            } else if key.chars().chain(value.chars()).any(char::is_control) {
                Some("it contains a control character")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(LabError::InvalidLabel {
                    key: key.clone(),
                    value: value.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }
}

/// Bumped when the file's meaning changes incompatibly.
pub const META_VERSION: u32 = 1;

/// The contents of `lab.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabMeta {
    pub version: u32,
    pub name: String,
    pub netns: String,
    pub options: LabOptions,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

impl LabMeta {
    pub fn read(path: &Path) -> Result<LabMeta, LabError> {
        let text = std::fs::read(path).map_err(|e| LabError::io("read", path, e))?;
        serde_json::from_slice(&text).map_err(|source| LabError::BadMetadata {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes via a temporary file and a rename so a reader never sees half a file.
    pub fn write(&self, path: &Path) -> Result<(), LabError> {
        let text = serde_json::to_vec_pretty(self).map_err(|source| LabError::BadMetadata {
            path: path.to_owned(),
            source,
        })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| LabError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| LabError::io("rename into place", path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LabMeta {
        LabMeta {
            version: META_VERSION,
            name: "a1".into(),
            netns: "halab-a1".into(),
            options: LabOptions {
                live_restore: true,
                labels: vec![("halab.run".into(), "r-1".into())],
            },
            created: time::macros::datetime!(2026-01-02 03:04:05 UTC),
        }
    }

    #[test]
    fn metadata_round_trips_through_the_file() {
        let dir = std::env::temp_dir().join(format!("halab-lab-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lab.json");
        sample().write(&path).unwrap();
        assert_eq!(LabMeta::read(&path).unwrap(), sample());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"created\": \"2026-01-02T03:04:05Z\""),
            "{text}"
        );
        assert!(!path.with_extension("json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn broken_metadata_names_the_file() {
        let dir = std::env::temp_dir().join(format!("halab-lab-badmeta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lab.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = LabMeta::read(&path).unwrap_err();
        assert!(matches!(err, LabError::BadMetadata { .. }), "{err:?}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn labels_dockerd_would_misread_are_rejected() {
        let with = |key: &str, value: &str| LabOptions {
            live_restore: false,
            labels: vec![(key.into(), value.into())],
        };
        with("halab.run", "x=y").validate().unwrap();
        for (key, value) in [("", "v"), ("a=b", "v"), ("k", "line\nbreak")] {
            let err = with(key, value).validate().unwrap_err();
            assert!(matches!(err, LabError::InvalidLabel { .. }), "{err:?}");
        }
    }
}
