#!/usr/bin/env bash
# Runtime benchmark: the same ONNX files and rows through Steward's native runtime and onnxruntime, one run.
# Needs scikit-learn, skl2onnx, onnxruntime and pandas (pip install scikit-learn skl2onnx onnxruntime pandas).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
python3 scripts/bench_runtime.py make "$dir"
cargo build --release --quiet -p steward-runtime --example runtime_bench
target/release/examples/runtime_bench "$dir" | tee "$dir/steward.jsonl"
python3 scripts/bench_runtime.py time "$dir" "$dir/steward.jsonl"
