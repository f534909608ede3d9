"""scikit-learn on the data sets `train_bench --write-csv DIR` wrote, with the same train/test split, and the
comparison table for BENCHMARKS.md.

    python3 scripts/bench_training.py DIR STEWARD_RESULTS.jsonl

Each model is scikit-learn's counterpart of Steward's, with the same settings: RandomForest*(n_estimators=100,
n_jobs=2), HistGradientBoosting*(max_iter=100, early_stopping=False), LogisticRegression(), LinearRegression().
Fit time is the best of `--repeats` fits (default 1; forests are slow), both runners timed the same way.

When LightGBM or XGBoost is installed (pip install lightgbm xgboost), gradient boosting is also fitted with
each of them, settings matched to HistGradientBoosting's defaults (31 leaves grown best-first, 255 bins, learning
rate 0.1, no L2, at least 20 rows per leaf for LightGBM, both cores), as a second and third reference: they tell
how far from the state of the art the scikit-learn reference itself is.
"""

import argparse
import json
import os
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score

MODELS = {
    "classification": {
        "random_forest": lambda: RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0),
        "gradient_boosting": lambda: HistGradientBoostingClassifier(
            max_iter=100, early_stopping=False, random_state=0
        ),
        "logistic_regression": lambda: LogisticRegression(),
    },
    "regression": {
        "random_forest": lambda: RandomForestRegressor(n_estimators=100, n_jobs=2, random_state=0),
        "gradient_boosting": lambda: HistGradientBoostingRegressor(
            max_iter=100, early_stopping=False, random_state=0
        ),
        "linear_regression": lambda: LinearRegression(),
    },
}


def other_boosters(task):
    """The installed ones among LightGBM and XGBoost, configured as HistGradientBoosting's defaults."""
    boosters = {}
    classification = task == "classification"
    try:
        import lightgbm

        lgbm = lightgbm.LGBMClassifier if classification else lightgbm.LGBMRegressor
        boosters[f"LightGBM {lightgbm.__version__}"] = lambda: lgbm(
            n_estimators=100, num_leaves=31, learning_rate=0.1, max_bin=255, min_child_samples=20,
            min_child_weight=1e-3, reg_lambda=0.0, n_jobs=2, verbose=-1,
        )
    except ImportError:
        pass
    try:
        import xgboost

        xgb = xgboost.XGBClassifier if classification else xgboost.XGBRegressor
        boosters[f"XGBoost {xgboost.__version__}"] = lambda: xgb(
            n_estimators=100, tree_method="hist", grow_policy="lossguide", max_leaves=31, max_depth=0,
            max_bin=256, learning_rate=0.1, reg_lambda=0.0, n_jobs=2,
        )
    except ImportError:
        pass
    return boosters


def best_fit(make, x, y, repeats):
    """The fitted model and the shortest of `repeats` fit times."""
    best = float("inf")
    for _ in range(repeats):
        model = make()
        start = time.perf_counter()
        model.fit(x, y)
        best = min(best, time.perf_counter() - start)
    return model, best


def load(path):
    frame = pd.read_csv(path)
    features = [c for c in frame.columns if c.startswith("f")]
    train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
    return (
        train[features].to_numpy(),
        train["label"].to_numpy(),
        test[features].to_numpy(),
        test["label"].to_numpy(),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("steward_results")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    steward = {}
    peak = None
    with open(args.steward_results) as lines:
        for line in lines:
            record = json.loads(line)
            if "peak_memory_mb" in record:
                peak = record["peak_memory_mb"]
            else:
                steward[(record["task"], record["model"])] = record
    rows = []
    others = []
    for task, models in MODELS.items():
        x_train, y_train, x_test, y_test = load(os.path.join(args.dir, f"{task}.csv"))
        for name, make in models.items():
            if only and name not in only:
                continue
            metric = "accuracy" if task == "classification" else "r2"

            def score_of(model):
                predicted = model.predict(x_test)
                return accuracy_score(y_test, predicted) if metric == "accuracy" else r2_score(y_test, predicted)

            model, best = best_fit(make, x_train, y_train, args.repeats)
            score = score_of(model)
            print(json.dumps({"runner": "scikit-learn", "model": name, "task": task, "fit_seconds": best, metric: score}))
            ours = steward.get((task, name))
            if ours:
                rows.append((task, name, metric, ours["fit_seconds"], ours[metric], best, score))
            if name == "gradient_boosting":
                for runner, make_other in other_boosters(task).items():
                    other, other_best = best_fit(make_other, x_train, y_train, args.repeats)
                    other_score = score_of(other)
                    print(json.dumps({"runner": runner, "model": name, "task": task, "fit_seconds": other_best,
                                      metric: other_score}))
                    others.append((task, runner, metric, other_best, other_score, best))
    print()
    print(f"data: {len(x_train) + len(x_test)} rows x {x_train.shape[1]} features, {len(x_train)} train / {len(x_test)} test")
    print("| task | model | Steward fit | scikit-learn fit | speed-up | Steward score | scikit-learn score |")
    print("|---|---|---|---|---|---|---|")
    for task, name, metric, fit, score, sk_fit, sk_score in rows:
        print(
            f"| {task} | {name} | {fit:.2f} s | {sk_fit:.2f} s | {sk_fit / fit:.1f}x | {metric} {score:.4f} | {metric} {sk_score:.4f} |"
        )
    if others:
        print()
        print("| task | other booster | fit | scikit-learn fit (same run) | speed-up over scikit-learn | score |")
        print("|---|---|---|---|---|---|")
        for task, runner, metric, fit, score, sk_fit in others:
            print(f"| {task} | {runner} | {fit:.2f} s | {sk_fit:.2f} s | {sk_fit / fit:.1f}x | {metric} {score:.4f} |")
    iris = steward.get(("iris", "random_forest"))
    if iris:
        print(f"\niris RandomForest(100 trees), Steward: best of 5 fits {iris['fit_seconds'] * 1e3:.1f} ms")
    if peak is not None:
        print(f"Steward peak memory over the whole bench: {peak:.0f} MB")


if __name__ == "__main__":
    main()
