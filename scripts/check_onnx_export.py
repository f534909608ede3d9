"""Checks Steward's ONNX exports with onnxruntime: every model in DIR/cases.json (written by
crates/steward-service/tests/export.rs) must give the native model's labels, probabilities within 1e-5 and
values within 1e-5 relative.

    python3 scripts/check_onnx_export.py DIR
"""

import json
import os
import sys

import numpy as np
import onnxruntime as ort


def main(directory):
    cases = json.load(open(os.path.join(directory, "cases.json")))
    failures = []
    for case in cases:
        name = case["name"]
        session = ort.InferenceSession(os.path.join(directory, f"{name}.onnx"), providers=["CPUExecutionProvider"])
        if case.get("columns"):
            # One [N, 1] input per column: numbers (None = missing = NaN) or strings.
            feeds = {}
            for column, values in case["columns"].items():
                if values and isinstance(values[0], str):
                    feeds[column] = np.array(values, dtype=object).reshape(-1, 1)
                else:
                    feeds[column] = np.array([np.nan if v is None else v for v in values], dtype=np.float32).reshape(-1, 1)
        else:
            x = np.fromfile(os.path.join(directory, f"{name}.x.f32"), dtype=np.float32).reshape(case["rows"], case["width"])
            feeds = {"X": x}
        outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
        if case["labels"] is not None:
            labels = [str(v) for v in outputs["label"]]
            probabilities = np.asarray(case["probabilities"]).reshape(case["rows"], -1)
            for row, (a, b) in enumerate(zip(labels, case["labels"])):
                top = np.sort(probabilities[row])[::-1]
                # A float64 tie can tip either way in float32; anything else is a real difference.
                if a != b and top[0] - top[1] > 1e-6:
                    failures.append(f"{name}: row {row} is {a}, native {b}")
        if case["probabilities"] is not None:
            ours = np.asarray(case["probabilities"]).reshape(case["rows"], -1)
            gap = float(np.max(np.abs(outputs["probabilities"] - ours)))
            if gap > 1e-5:
                failures.append(f"{name}: probabilities differ by {gap}")
        if case["values"] is not None:
            ours = np.asarray(case["values"])
            theirs = outputs["variable"].reshape(-1)
            gap = float(np.max(np.abs(theirs - ours) / np.maximum(np.abs(ours), 1.0)))
            if gap > 1e-5:
                failures.append(f"{name}: values differ by {gap} (relative)")
    for line in failures:
        print("FAIL", line)
    print(f"onnxruntime {ort.__version__}: {len(cases) - len(failures)} of {len(cases)} exports match")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
