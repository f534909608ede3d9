#!/usr/bin/env bash
# The project's tests: formatting, lints, and every unit and integration test.
# PostgreSQL tests run when STEWARD_TEST_POSTGRES_URL is set (scripts/start-postgres.sh prints one); otherwise
# they print SKIPPED. .ci/run sets it and also STEWARD_REQUIRE_POSTGRES=1, which turns a skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
