#!/usr/bin/env bash
# Training benchmark: Steward's learners, then scikit-learn on exactly the same rows and split, in one run.
# Needs scikit-learn and pandas (pip install scikit-learn pandas). Prints JSON lines and a markdown table.
#   scripts/bench_training.sh [--rows N] [--only random_forest,gradient_boosting,...] [--repeat N]
# --repeat N: the best of N fits on both sides (Steward repeats boosting only; scikit-learn every model it runs).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cargo build --release --quiet -p steward-ml --example train_bench
target/release/examples/train_bench --write-csv "$dir" "$@" | tee "$dir/steward.jsonl"
only=""
repeat=1
for ((i = 1; i <= $#; i++)); do
  if [[ "${!i}" == "--only" ]]; then j=$((i + 1)); only="${!j}"; fi
  if [[ "${!i}" == "--repeat" ]]; then j=$((i + 1)); repeat="${!j}"; fi
done
python3 scripts/bench_training.py "$dir" "$dir/steward.jsonl" --only "$only" --repeats "$repeat"
