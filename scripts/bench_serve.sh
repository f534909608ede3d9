#!/usr/bin/env bash
# Serving benchmark: wrk against `steward serve` (iris random forest, 100 trees, single-row requests) and, in
# the same run, a bare axum server that parses and echoes the same JSON body and `mlflow models serve` on a
# scikit-learn forest of the same size (skipped when mlflow is not installed). Steward runs three ways: with
# capture (the default), without (--no-capture), and with micro-batching. Needs wrk (apt-get install wrk).
# Prints markdown tables. DURATION (seconds per point) defaults to 10, ROUNDS (interleaved rounds) to 5.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
duration="${DURATION:-10}"
cargo build --release --quiet -p steward-cli
cargo build --release --quiet -p steward-server --example echo
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}" $(cat "$work/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
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

start_steward() { # name args... -> URL (runs in a command substitution, so the pid goes to a file for cleanup)
  local name=$1; shift
  $steward serve --addr 127.0.0.1:0 "$@" > "$work/$name.out" 2>/dev/null &
  echo "$!" >> "$work/pids"
  local url
  url=$(wait_url "$work/$name.out")
  until curl -sf "$url/v2/health/ready" >/dev/null; do sleep 0.005; done
  curl -sf -X POST "$url/v2/models/iris/infer" -d "$body" >/dev/null
  echo "$url"
}
plain_url=$(start_steward plain --no-capture --model iris)
batched_url=$(start_steward batched --no-capture --batch-max-rows 32 --batch-wait-us 100)

# Interleaved rounds: every server once per round, so that the machine's drift hits all of them alike; the
# table shows medians over the rounds, and the ratio is the median of the per-round ratios (paired samples).
rounds="${ROUNDS:-5}"
servers=(echo steward plain batched)
declare -A url=([echo]="$echo_url" [steward]="$steward_url" [plain]="$plain_url" [batched]="$batched_url")
declare -A label=(
  [echo]="axum echo (parse + echo the JSON)"
  [steward]="steward serve (iris forest, 100 trees; capture on)"
  [plain]="steward serve --no-capture"
  [batched]="steward serve --no-capture --batch-max-rows 32 --batch-wait-us 100"
)
: > "$work/samples"
for c in 1 32; do
  for round in $(seq 1 "$rounds"); do
    for name in "${servers[@]}"; do
      [ "$name" = batched ] && [ "$c" = 1 ] && continue
      echo "$c $round $name $(run "${url[$name]}" "$c")" >> "$work/samples"
    done
  done
done
python3 - "$work/samples" "$rounds" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
labels = {
    "echo": "axum echo (parse + echo the JSON)",
    "steward": "steward serve (iris forest, 100 trees; capture on)",
    "plain": "steward serve --no-capture",
    "batched": "steward serve --no-capture --batch-max-rows 32 --batch-wait-us 100",
}
def ms(text):
    return float(text[:-2]) if text.endswith("ms") else float(text[:-2]) / 1000 if text.endswith("us") else float(text[:-1]) * 1000
print(f"Medians of {sys.argv[2]} interleaved rounds.")
print()
print("| server | connections | requests/s | p50 | p99 | non-2xx (all rounds) |")
print("|---|---|---|---|---|---|")
for c in ("1", "32"):
    for name in labels:
        got = [r for r in rows if r[0] == c and r[2] == name]
        if not got:
            continue
        rps = statistics.median(float(r[3]) for r in got)
        p50 = statistics.median(ms(r[4]) for r in got)
        p99 = statistics.median(ms(r[5]) for r in got)
        errors = sum(int(r[6]) for r in got)
        print(f"| {labels[name]} | {c} | {rps:,.0f} | {p50:.3f} ms | {p99:.3f} ms | {errors} |")
print()
for c in ("1", "32"):
    for name in ("steward", "plain", "batched"):
        pairs = []
        for round_ in sorted({r[1] for r in rows}):
            e = [float(r[3]) for r in rows if r[0] == c and r[1] == round_ and r[2] == "echo"]
            s = [float(r[3]) for r in rows if r[0] == c and r[1] == round_ and r[2] == name]
            if e and s:
                pairs.append(s[0] / e[0])
        if pairs:
            print(f"- {labels[name]} / echo at {c} connections: median {statistics.median(pairs):.2f} "
                  f"(rounds: {', '.join(f'{p:.2f}' for p in pairs)})")
PY
echo
echo "steward serve: cold start to ready ${cold_ms} ms; RSS idle $(( idle_rss / 1024 )) MB, with the model loaded $(( loaded_rss / 1024 )) MB"
captured=$($steward predictions list --limit 1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
echo "capture: $(curl -sf "$steward_url/metrics" | grep '^steward_capture_records_total' | tr '\n' ' ')(sample read back: $captured)"

# MLflow's scoring server on the same model family, with its own request format.
if python3 -c 'import mlflow, sklearn, pandas' 2>/dev/null; then
  python3 - "$work/mlflow_iris" <<'PY'
import sys
import pandas as pd
import mlflow.sklearn
from sklearn.ensemble import RandomForestClassifier
df = pd.read_csv("fixtures/data/iris.csv")
X, y = df.drop(columns=["species"]), df["species"]
model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
mlflow.sklearn.save_model(model, sys.argv[1], input_example=X.head(1),
                          skops_trusted_types=["sklearn.tree._tree.Tree"])
PY
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  t0=$(date +%s%N)
  mlflow models serve -m "$work/mlflow_iris" --env-manager local -h 127.0.0.1 -p "$port" > "$work/mlflow.out" 2>&1 &
  mlflow_pid=$!
  pids+=("$mlflow_pid")
  until curl -sf "http://127.0.0.1:$port/ping" >/dev/null; do sleep 0.05; done
  t1=$(date +%s%N)
  mlflow_cold_ms=$(( (t1 - t0) / 1000000 ))
  mlflow_rss=0
  for p in $(pgrep -P "$mlflow_pid") "$mlflow_pid" $(pgrep -P "$(pgrep -P "$mlflow_pid" | head -1)" 2>/dev/null); do
    r=$(awk '/VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
    mlflow_rss=$(( mlflow_rss + r ))
  done
  mlflow_body='{"dataframe_split":{"columns":["sepal_length_cm","sepal_width_cm","petal_length_cm","petal_width_cm"],"data":[[5.9,3.0,5.1,1.8]]}}'
  cat > "$work/mlflow.lua" <<LUA
wrk.method = "POST"
wrk.body = '$mlflow_body'
wrk.headers["Content-Type"] = "application/json"
LUA
  invocations() { # url connections -> "req/s p50 p99 errors"
    local out rps p50 p99 errors
    out=$(wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"${duration}s" --latency -s "$work/mlflow.lua" "$1/invocations")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    echo "$rps $p50 $p99 ${errors:-0}"
  }
  echo
  echo "MLflow's /invocations body (dataframe_split), both servers:"
  echo
  echo "| server | connections | requests/s | p50 | p99 | non-2xx |"
  echo "|---|---|---|---|---|---|"
  for c in 1 32; do
    read -r rps p50 p99 errors <<<"$(invocations "http://127.0.0.1:$port" "$c")"
    echo "| mlflow models serve (scikit-learn forest, 100 trees) | $c | $rps | $p50 | $p99 | $errors |"
    read -r rps p50 p99 errors <<<"$(invocations "$plain_url" "$c")"
    echo "| steward serve --no-capture, /invocations | $c | $rps | $p50 | $p99 | $errors |"
  done
  echo
  echo "mlflow models serve: cold start to /ping ${mlflow_cold_ms} ms; RSS idle (server and workers) $(( mlflow_rss / 1024 )) MB"
else
  echo "(mlflow, scikit-learn or pandas not installed: MLflow's server not measured)"
fi
