#!/usr/bin/env python3
"""Evidently's DataDriftPreset on the same files as `staytrack drift`, timed, and its per-column
values beside staytrack's. Run through `bench/drift.sh`.

    python3 bench/evidently_drift.py TRAIN_CSV TEST_CSV STAYTRACK_JSON STAYTRACK_BENCH_JSONL
"""
import json
import sys
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from peers import CATEGORICAL, NUMERIC

train_csv, test_csv, st_json, st_bench = sys.argv[1:5]
t0 = time.perf_counter()
ref = pd.read_csv(train_csv)[CATEGORICAL + NUMERIC]
cur = pd.read_csv(test_csv)[CATEGORICAL + NUMERIC]
# Categorical codes are labels, as in staytrack's spec.
for c in CATEGORICAL:
    ref[c] = ref[c].astype("string")
    cur[c] = cur[c].astype("string")
load_s = time.perf_counter() - t0
definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
runs = []
for _ in range(3):
    t = time.perf_counter()
    snap = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    runs.append(time.perf_counter() - t)
ev = {}
for m in snap.dict()["metrics"]:
    name = m.get("metric_name", "")
    if name.startswith("ValueDrift("):
        col = m["config"]["column"]
        ev[col] = (m["config"].get("method"), float(m["value"]))

st = json.load(open(st_json))
bench = [json.loads(l) for l in open(st_bench) if l.startswith("{\"rows\"")][0]
print()
print("| column | test | staytrack | Evidently | difference |")
print("|---|---|---:|---:|---:|")
worst = 0.0
for c in st["report"]["columns"]:
    method, value = ev.get(c["column"], ("-", float("nan")))
    diff = abs(c["statistic"] - value)
    worst = max(worst, diff)
    print(f"| {c['column']} | {c['test']} ({method}) | {c['statistic']:.6f} | {value:.6f} | {diff:.1e} |")
ev_best = min(runs) * 1000
st_ms = bench["compare_ms_best"]
print()
print(f"largest difference {worst:.1e}; staytrack verdict: {st['report']['drifted']} drifted, "
      f"dataset drift {st['report']['dataset_drift']}")
print(f"Evidently DataDriftPreset: {ev_best:.0f} ms best of 3 (pandas load {load_s * 1000:.0f} ms more); "
      f"staytrack: {st_ms:.1f} ms against the stored profile (load {bench['load_ms_best']:.0f} ms more); "
      f"ratio {st_ms / ev_best:.3f} (goal: 137k rows in <= 100 ms)")
