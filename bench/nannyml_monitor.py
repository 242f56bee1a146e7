"""NannyML's CBPE and scikit-learn's realized metrics over the prediction log staytrack wrote,
in the same windows, timed from reading the log to the last figure; prints the largest gap to
staytrack's estimates.

    python bench/nannyml_monitor.py STAYTRACK_DB MONITOR_JSON WINDOW_ROWS
"""
import glob
import json
import os
import sqlite3
import sys
import time
import warnings

import nannyml
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

warnings.filterwarnings("ignore")
db, report, window = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
conn = sqlite3.connect(db)
log = pd.read_sql_query(
    "SELECT p.id, p.probability AS p, p.class AS y_pred, o.label AS y"
    " FROM predictions p LEFT JOIN outcomes o ON o.case_id = p.case_id ORDER BY p.at, p.id",
    conn,
)
# The model's validation rows are NannyML's reference, as they are staytrack's.
m = json.load(open(report))
bundles = glob.glob(os.path.join(os.path.dirname(db), "artifacts", "**", "*.bundle"), recursive=True)
with open(bundles[0], "rb") as f:
    f.readline()
    v = json.loads(f.read())["validation"]
ref = pd.DataFrame({"p": v["probabilities"], "y": v["labels"]})
ref["y_pred"] = (ref["p"] >= 0.5).astype(int)
est = nannyml.CBPE(
    y_pred_proba="p", y_pred="y_pred", y_true="y", problem_type="classification_binary",
    metrics=["roc_auc", "accuracy", "f1"], chunk_size=window,
)
est.fit(ref)
res = est.estimate(log[["p", "y_pred"]]).filter(period="analysis").to_df()
realized = []
for k in range(0, len(log), window):
    part = log.iloc[k:k + window].dropna(subset=["y"])
    if part["y"].nunique() == 2:
        realized.append(roc_auc_score(part["y"], part["p"]))
elapsed = time.perf_counter() - t0
ours = [w["estimated"]["roc_auc"] for w in m["windows"]]
theirs = res[("roc_auc", "value")].tolist()
gap = max(abs(a - b) for a, b in zip(ours, theirs))
print(f"  {len(log):,} predictions, {len(theirs)} windows in {elapsed:.2f} s (Python, after imports)")
print(f"  largest gap between staytrack's and NannyML's estimated ROC AUC: {gap:.2e}")
