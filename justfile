# halab's recipes. `just` alone lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list --unsorted

# Run a scenario by name on a fresh lab daemon, e.g. `just scenario restart-always --set sleep=1`.
scenario NAME *ARGS:
    cargo run --quiet --release -p halab -- scenario run {{NAME}} {{ARGS}}

# Run a scenario in the simulator (the reference model in virtual time), e.g. `just sim restart-always`.
sim NAME *ARGS:
    cargo run --quiet --release -p halab -- scenario run {{NAME}} --runtime sim {{ARGS}}

# List the scenarios.
scenarios:
    cargo run --quiet --release -p halab -- scenario list

# Everything CI runs: format, lints, every test (real daemons), the fuzz harness, then proof
# that nothing is left.
test: lint book-test
    cargo nextest run --workspace --no-fail-fast -E 'not binary(fuzz)'
    just fuzz-ci
    cargo test --workspace --doc --quiet
    just check-clean

# The fuzz harness (parser, --set values, simulator) for a fixed number of executions, as CI
# runs it; it prints how many ran.
fuzz-ci:
    FUZZ_CASES=8000 cargo nextest run -p halab-chaos --test fuzz --success-output immediate

# The fuzz harness for longer, optimised, e.g. `just fuzz 200000`.
fuzz CASES="100000":
    FUZZ_CASES={{CASES}} cargo test --release --quiet -p halab-chaos --test fuzz -- --nocapture

# Formatting and clippy, warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings

# Fail if any container, namespace or lab daemon made by halab is still on the machine.
check-clean:
    #!/usr/bin/env bash
    set -euo pipefail
    left=$(docker ps -aq --filter label=halab.run)
    ns=$(ip netns list | grep -o '^halab-[^ ]*' || true)
    dockerds=$(pgrep -af 'dockerd .*halab' || true)
    runs=$(ls -d "${TMPDIR:-/tmp}"/halab-*/run.json 2>/dev/null || true)
    if [ -n "$left$ns$dockerds$runs" ]; then
        echo "check-clean: halab left things behind:"
        [ -z "$left" ] || docker ps -a --filter label=halab.run
        [ -z "$ns" ] || echo "namespaces: $ns"
        [ -z "$dockerds" ] || echo "lab daemons: $dockerds"
        [ -z "$runs" ] || echo "run directories: $runs"
        exit 1
    fi
    echo "check-clean: no labelled container, no halab namespace, no lab daemon, no run directory left"

# Throughput of the model and the simulator, with the machine it ran on.
bench:
    cargo bench --quiet -p halab-model --bench throughput

# Regenerate the reference pages that are generated from the code (a test checks they are current).
reference:
    for engine in 20.10 29; do cargo run --quiet -p halab -- model table --engine $engine > book/src/reference/restart-model-$engine.md; done
    cargo run --quiet -p halab -- scenario limits > book/src/reference/scenario-limits.txt

# Start a named lab daemon (needs root), e.g. `just lab-up demo`.
lab-up NAME *ARGS:
    cargo run --quiet --release -p halab -- lab up {{NAME}} {{ARGS}}

# Remove a named lab daemon and everything it made.
lab-down NAME:
    cargo run --quiet --release -p halab -- lab down {{NAME}}

# Remove everything halab left behind (containers, labs, work directories).
gc:
    cargo run --quiet --release -p halab -- gc

# Build the book (mdBook 0.5) into book/book.
book:
    mdbook build book

# Build the book and test its Rust code blocks; tests/integration/book.rs checks the rest.
book-test:
    mdbook build book
    mdbook test book

# Re-capture the output the book shows from real runs (lab daemons: root) and redraw its figures,
# e.g. `just book-refresh` or `just book-refresh runs/backoff`. Review the diff, then commit it.
book-refresh *PATTERN:
    cargo build --quiet --release -p halab -p halab-figures
    book/refresh.sh {{PATTERN}}
