#!/usr/bin/env bash
# Runs the registry/tracking benchmark on SQLite and (when STEWARD_TEST_POSTGRES_URL or
# STEWARD_BENCH_POSTGRES_URL is set) PostgreSQL, then MLflow's tracking server as the reference, in one run.
# Results go to stdout; BENCHMARKS.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p steward-service --bench registry
if python3 -c "import mlflow" 2>/dev/null; then
  python3 scripts/bench_mlflow.py --batches "${MLFLOW_BATCHES:-100}"
else
  echo "MLflow reference skipped: pip install mlflow"
fi
