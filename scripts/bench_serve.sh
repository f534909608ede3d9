#!/usr/bin/env bash
# Serving benchmark: wrk against `steward serve` (iris random forest, 100 trees, single-row Open Inference
# Protocol requests) and, in the same run, a bare axum server that parses and echoes the same JSON body.
# Needs wrk (apt-get install wrk). Prints a markdown table. DURATION (seconds per point) defaults to 10.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
duration="${DURATION:-10}"
cargo build --release --quiet -p steward-cli
cargo build --release --quiet -p steward-server --example echo
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export STEWARD_HOME="$work/home"
steward=target/release/steward
$steward train --data fixtures/data/iris.csv --target species --algo random_forest --register iris --json >/dev/null

body='{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.9,3.0,5.1,1.8]}]}'
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA

wait_url() { # file -> the URL the server printed
  local url=""
  for _ in $(seq 1 1000); do
    url=$(grep -o 'http://[0-9.:]*' "$1" 2>/dev/null || true)
    [ -n "$url" ] && break
    sleep 0.005
  done
  echo "$url"
}

# Cold start: spawn to the first ready answer, and idle memory.
t0=$(date +%s%N)
$steward serve --addr 127.0.0.1:0 > "$work/steward.out" 2>/dev/null &
steward_pid=$!
pids+=("$steward_pid")
steward_url=$(wait_url "$work/steward.out")
until curl -sf "$steward_url/v2/health/ready" >/dev/null; do sleep 0.005; done
t1=$(date +%s%N)
cold_ms=$(( (t1 - t0) / 1000000 ))
idle_rss=$(awk '/VmRSS/ {print $2}' /proc/$steward_pid/status)
curl -sf -X POST "$steward_url/v2/models/iris/infer" -d "$body" >/dev/null   # load the model
loaded_rss=$(awk '/VmRSS/ {print $2}' /proc/$steward_pid/status)
target/release/examples/echo 127.0.0.1:0 > "$work/echo.out" 2>/dev/null &
pids+=("$!")
echo_url=$(wait_url "$work/echo.out")

run() { # url connections -> "req/s p50 p99"
  local out
  out=$(wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"${duration}s" --latency -s "$work/post.lua" "$1/v2/models/iris/infer")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  local errors
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps $p50 $p99 ${errors:-0}"
}

echo "| server | connections | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
for c in 1 32; do
  read -r rps p50 p99 errors <<<"$(run "$echo_url" "$c")"
  echo "| axum echo (parse + echo the JSON) | $c | $rps | $p50 | $p99 | $errors |"
  read -r rps p50 p99 errors <<<"$(run "$steward_url" "$c")"
  echo "| steward serve (iris forest, 100 trees) | $c | $rps | $p50 | $p99 | $errors |"
done
echo
echo "steward serve: cold start to ready ${cold_ms} ms; RSS idle $(( idle_rss / 1024 )) MB, with the model loaded $(( loaded_rss / 1024 )) MB"
