"""The MLflow reference for Steward's tracking benchmark, measured on the same machine in the same run.

Starts `mlflow server` on SQLite, then logs metrics in batches of 1,000 through its REST API
(POST /api/2.0/mlflow/runs/log-batch), one request at a time, and prints metrics/s and request latency.
Needs `pip install mlflow requests`. Usage: python3 scripts/bench_mlflow.py [--batches 100]
"""
import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"{}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{work}/mlflow.db", "--default-artifact-root", f"{work}/artifacts"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while True:
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=2)
                    break
                except Exception:
                    if time.time() > deadline:
                        raise SystemExit("mlflow server did not start")
                    time.sleep(0.5)
            experiment = call(base, "/api/2.0/mlflow/experiments/create", {"name": "bench"})["experiment_id"]
            run = call(base, "/api/2.0/mlflow/runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
            latencies = []
            start = time.perf_counter()
            for batch in range(args.batches):
                metrics = [
                    {"key": f"metric_{i % 10}", "value": (batch * 1000 + i) * 1e-6,
                     "timestamp": 1_700_000_000_000 + batch * 1000 + i, "step": batch * 100 + i // 10}
                    for i in range(1000)
                ]
                t = time.perf_counter()
                call(base, "/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": metrics})
                latencies.append(time.perf_counter() - t)
            elapsed = time.perf_counter() - start
            rows = args.batches * 1000
            print(json.dumps({
                "mlflow_version": subprocess.run([sys.executable, "-c", "import mlflow; print(mlflow.__version__)"],
                                                 capture_output=True, text=True).stdout.strip(),
                "metrics": rows,
                "metrics_per_second": round(rows / elapsed),
                "requests_per_second": round(args.batches / elapsed, 2),
                "p50_ms": round(statistics.median(latencies) * 1000, 1),
            }))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
