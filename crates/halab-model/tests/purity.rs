//! The model crate stays pure: no I/O, no async runtime, no clock but the one passed in. This
//! test reads the crate's own manifest and sources, so a new dependency or a stray `std::fs`
//! fails the build's tests rather than a review.

use std::path::Path;

/// The only crates the model may depend on (outside dev-dependencies).
const ALLOWED_DEPENDENCIES: [&str; 2] = ["serde", "thiserror"];

/// Paths that mean I/O, threads, or reading a clock.
const FORBIDDEN: [&str; 10] = [
    "std::fs",
    "std::net",
    "std::io",
    "std::process",
    "std::thread",
    "std::env",
    "Instant",
    "SystemTime",
    "tokio",
    "rand::",
];

#[test]
fn the_model_depends_on_no_io_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    let deps = manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .expect("a [dependencies] table");
    for name in deps.keys() {
        assert!(
            ALLOWED_DEPENDENCIES.contains(&name.as_str()),
            "halab-model must stay pure, but depends on `{name}`"
        );
    }
}

#[test]
fn the_model_sources_do_no_io_and_read_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offences = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    offences.push(format!("{}:{}: {word}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the model must stay pure:\n{}",
        offences.join("\n")
    );
}
