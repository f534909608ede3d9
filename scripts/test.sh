#!/usr/bin/env bash
# The project's tests: formatting, lints, and every unit and integration test.
# PostgreSQL tests run when STEWARD_TEST_POSTGRES_URL is set (scripts/start-postgres.sh prints one); otherwise
# they print SKIPPED. .ci/run sets it and also STEWARD_REQUIRE_POSTGRES=1, which turns a skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# One closing line over every test binary (cargo prints one per binary, the last being the doc tests').
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
