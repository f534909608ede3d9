"""Makes the runtime benchmark's models and rows, and times onnxruntime on them; prints the comparison table
with Steward's figures (from `runtime_bench`'s JSON lines) when given them.

    python3 scripts/bench_runtime.py make DIR          # models + rows (scikit-learn, skl2onnx)
    python3 scripts/bench_runtime.py time DIR STEWARD.jsonl

Models: iris RandomForest (100 trees), a RandomForest (100 trees, max_depth 12) trained on 100,000 rows x 20,
GradientBoosting (100 rounds, HistGradientBoosting) on the same rows, LogisticRegression on them. onnxruntime
runs with one intra-op thread (its single-thread figures are the reference) and with all threads.
"""

import json
import os
import statistics
import sys
import time

import numpy as np


def patch_skl2onnx_bool_flags():
    """skl2onnx 1.20 passes HistGradientBoosting's missing-value flags as booleans, which onnx 1.23 refuses for an
    ints attribute (see fixtures/onnx/make_onnx_fixtures.py)."""
    import onnx.helper
    import skl2onnx.common._container

    original = onnx.helper.make_attribute

    def make_attribute(key, value, *args, **kwargs):
        if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) for v in value]
        elif isinstance(value, np.ndarray) and value.dtype == np.bool_:
            value = value.astype(np.int64)
        return original(key, value, *args, **kwargs)

    onnx.helper.make_attribute = make_attribute
    skl2onnx.common._container.make_attribute = make_attribute


def make(out):
    patch_skl2onnx_bool_flags()
    os.makedirs(out, exist_ok=True)
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from skl2onnx import to_onnx

    here = os.path.dirname(os.path.abspath(__file__))
    iris = pd.read_csv(os.path.join(here, "..", "fixtures", "data", "iris.csv"))
    y_iris = iris.pop("species").to_numpy()
    x_iris = iris.to_numpy(np.float32)
    x, y = make_classification(n_samples=100_000, n_features=20, n_informative=8, random_state=0)
    x = x.astype(np.float32)
    models = {
        "iris_forest": (RandomForestClassifier(n_estimators=100, random_state=0).fit(x_iris, y_iris), x_iris),
        "forest_100k": (RandomForestClassifier(n_estimators=100, max_depth=12, n_jobs=2, random_state=0).fit(x, y), x),
        "boosting_100k": (HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0).fit(x, y), x),
        "logistic_100k": (LogisticRegression(max_iter=1000).fit(x, y), x),
    }
    for name, (model, data) in models.items():
        onx = to_onnx(model, data[:1], target_opset={"": 18, "ai.onnx.ml": 3}, options={id(model): {"zipmap": False}})
        with open(os.path.join(out, f"{name}.onnx"), "wb") as f:
            f.write(onx.SerializeToString())
        rows = np.ascontiguousarray(np.resize(data, (1000, data.shape[1])).astype(np.float32))
        rows.tofile(os.path.join(out, f"{name}.rows.f32"))
        with open(os.path.join(out, f"{name}.width"), "w") as f:
            f.write(str(data.shape[1]))


def time_ort(out, name, threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    path = os.path.join(out, f"{name}.onnx")
    start = time.perf_counter()
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    load = time.perf_counter() - start
    width = int(open(os.path.join(out, f"{name}.width")).read())
    rows = np.fromfile(os.path.join(out, f"{name}.rows.f32"), dtype=np.float32).reshape(-1, width)
    feed = session.get_inputs()[0].name
    singles = []
    for i in range(2000):
        row = rows[i % len(rows)][None, :]
        start = time.perf_counter()
        session.run(None, {feed: row})
        singles.append(time.perf_counter() - start)
    batches = []
    for _ in range(50):
        start = time.perf_counter()
        session.run(None, {feed: rows})
        batches.append(time.perf_counter() - start)
    return load, statistics.median(singles), statistics.median(batches) / len(rows)


def time_all(out, steward_path):
    steward = {}
    with open(steward_path) as lines:
        for line in lines:
            record = json.loads(line)
            steward[record["model"]] = record
    print("| model | Steward load | Steward single row | onnxruntime single row (1 thread) | ratio | Steward per row, batch of 1,000 (1 thread / all) | onnxruntime per row (1 thread / all) | ratio (1 thread) | ratio (Steward all / onnxruntime 1 thread) | tract single row / per row in batch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in sorted(steward):
        ours = steward[name]
        load, single, per_row = time_ort(out, name, 1)
        _, _, per_row_all = time_ort(out, name, 0)
        print(json.dumps({"runner": "onnxruntime", "model": name, "load_ms": load * 1e3, "single_row_us": single * 1e6,
                          "batch_us_per_row_1_thread": per_row * 1e6, "batch_us_per_row_all_threads": per_row_all * 1e6}),
              file=sys.stderr)
        print(
            f"| {name} | {ours['load_ms']:.2f} ms | {ours['single_row_us']:.1f} µs | {single * 1e6:.1f} µs | "
            f"{ours['single_row_us'] / (single * 1e6):.2f} | {ours['batch_us_per_row_1_thread']:.3g} / {ours['batch_us_per_row_all_threads']:.3g} µs | "
            f"{per_row * 1e6:.3g} / {per_row_all * 1e6:.3g} µs | {ours['batch_us_per_row_1_thread'] / (per_row * 1e6):.2f} | "
            f"{ours['batch_us_per_row_all_threads'] / (per_row * 1e6):.2f} | {tract_text(ours.get('tract'))} |"
        )


def tract_text(tract):
    if not tract:
        return "not measured"
    if "error" in tract:
        return "refused: " + tract["error"].replace("|", "/")[:80]
    return f"{tract['single_row_us']:.1f} µs / {tract['batch_us_per_row']:.2f} µs"


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        time_all(sys.argv[2], sys.argv[3])
