"""Logs RUNS runs of METRICS metrics x STEPS steps through the real MLflow client to a tracking
server, then times search_runs over them. The same script runs against `staytrack tracking` and
against MLflow's own `mlflow server`.

Usage: mlflow_tracking.py BASE_URL RUNS [METRICS] [STEPS]

Each run is what a training script does: start_run, three params, one log_metrics call per step
(METRICS values in one log-batch request), end_run. Prints one JSON line of timings.
"""

import json
import statistics
import sys
import time

import mlflow
from mlflow import MlflowClient

base, runs = sys.argv[1], int(sys.argv[2])
n_metrics = int(sys.argv[3]) if len(sys.argv) > 3 else 20
steps = int(sys.argv[4]) if len(sys.argv) > 4 else 10
mlflow.set_tracking_uri(base)
client = MlflowClient()
exp = mlflow.set_experiment("bench")

t0 = time.perf_counter()
for i in range(runs):
    with mlflow.start_run(run_name=f"run-{i:05d}"):
        mlflow.log_params({"model": ["lr", "tree", "forest", "gbdt"][i % 4], "depth": str(3 + i % 9), "seed": str(i)})
        for s in range(steps):
            mlflow.log_metrics({f"m{k}": ((i * 7919 + k * 104729 + s) % 1000) / 1000.0 for k in range(n_metrics)}, step=s)
log_s = time.perf_counter() - t0


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out), result


filtered_s, found = timed(
    lambda: client.search_runs(
        [exp.experiment_id],
        filter_string="metrics.m0 > 0.5 and params.model = 'gbdt'",
        order_by=["metrics.m1 DESC"],
        max_results=1000,
    ),
    5,
)
top_s, top = timed(lambda: client.search_runs([exp.experiment_id], order_by=["metrics.m3 DESC"], max_results=100), 5)
all_s, frame = timed(lambda: mlflow.search_runs([exp.experiment_id]), 3)
assert len(frame) == runs, len(frame)
print(
    json.dumps(
        {
            "runs": runs,
            "metrics": n_metrics,
            "steps": steps,
            "log_s": round(log_s, 2),
            "runs_per_s": round(runs / log_s, 1),
            "search_filtered_ms": round(filtered_s * 1000, 1),
            "search_filtered_hits": len(found),
            "search_top100_ms": round(top_s * 1000, 1),
            "search_all_pandas_s": round(all_s, 2),
        }
    )
)
