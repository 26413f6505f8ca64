#!/usr/bin/env bash
# Runs every test of coffre: formatting, lints, unit and integration tests (which start the
# real binary on loopback ports), and the compatibility suite driven by the unmodified Python
# hvac client. Installs what it needs itself (a Python venv with hvac and pytest under .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "python venv with hvac (tests/compat/requirements.txt)"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/compat/requirements.txt

step "promtool (Debian's prometheus package) for the metrics test"
if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 \
            || (apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1) \
            || echo "could not install prometheus: the metrics test will say SKIPPED for promtool"
    else
        echo "promtool missing and not root: the metrics test will say SKIPPED for promtool"
    fi
fi

step "database services (PostgreSQL, MariaDB)"
# shellcheck source=scripts/services.sh
. scripts/services.sh

step "cargo test (unit, property and integration tests)"
cargo test --workspace --locked

step "hvac compatibility suite"
cargo build --locked -p coffre-cli
COFFRE_BIN="$PWD/target/debug/coffre" .venv/bin/python -m pytest -q tests/compat
