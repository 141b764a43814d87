//! Bad input in a scenario, located: `file:line:col: field `a.b`: what is wrong`.

use std::path::{Path, PathBuf};

/// Bad input in a scenario, or in the values given for it. Displays as `file:line:col: field: what`.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}:{line}:{col}: {field}{message}", path = .path.display(), field = field_prefix(.field))]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        field: Option<String>,
        message: String,
    },
    #[error("reading {path}: {source}", path = .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} cannot be a scenario file: {reason}", path = .path.display())]
    NotAScenarioFile { path: PathBuf, reason: String },
    #[error("no scenario named `{name}` in {dir}{hint}; known scenarios: {known}", dir = .dir.display(), known = .known.join(", "), hint = .closest.as_ref().map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default())]
    Unknown {
        name: String,
        dir: PathBuf,
        known: Vec<String>,
        /// The known name nearest to `name`, when it is near enough to be a typo of it.
        closest: Option<String>,
    },
    #[error("--set {key}: scenario `{scenario}` has no parameter `{key}`; its parameters: {known}", known = if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
    UnknownParam {
        scenario: String,
        key: String,
        known: Vec<String>,
    },
    #[error("--set `{given}`: {reason}")]
    BadSet { given: String, reason: String },
    #[error("--set {key}={value}: parameter `{key}` takes {kind} (its default is {default})")]
    BadParamValue {
        key: String,
        value: String,
        kind: &'static str,
        default: String,
    },
}

fn field_prefix(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!("field `{f}`: "))
        .unwrap_or_default()
}

/// An error at byte `offset` of `source`; the field is found from the text when not given.
pub(super) fn invalid(
    path: &Path,
    source: &str,
    offset: usize,
    field: Option<&str>,
    message: String,
) -> ScenarioError {
    let (line, col) = line_col(source, offset);
    ScenarioError::Invalid {
        path: path.to_path_buf(),
        line,
        col,
        field: field
            .map(str::to_owned)
            .or_else(|| field_at(source, offset)),
        message,
    }
}

/// 1-based line and column of a byte offset (a column counts characters).
pub(super) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted key written at `offset` (`[table]` header + `key =` on that line), if any: TOML's
/// own messages say what is wrong but not always where in the document's structure.
fn field_at(source: &str, offset: usize) -> Option<String> {
    let (line_no, _) = line_col(source, offset);
    let lines: Vec<&str> = source.lines().collect();
    let line = lines.get(line_no.checked_sub(1)?)?;
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['))?;
    let table = lines[..line_no - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn an_offset_inside_a_character_does_not_panic() {
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(field_at("é = 1", 1), Some("é".into()));
    }
}
