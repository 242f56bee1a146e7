#!/usr/bin/env python3
"""Peers of staytrack's four families on the same file, split and features: scikit-learn
LogisticRegression, HistGradientBoostingClassifier and RandomForestClassifier, XGBoost and
LightGBM, each with its default settings. Prints one JSON line per model, then, given staytrack's
lines, the side-by-side table and the goals; given a tuned run's validation predictions, the
tuned row and DeLong's paired test of it against the best peer on the same rows. Run through
`bench/peers.sh`.

    python3 bench/peers.py TRAIN_CSV SPLIT_JSON [STAYTRACK_JSONL [TUNED_CSV TUNE_JSON]]
"""
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

CATEGORICAL = [
    "Hospital_code", "Hospital_type_code", "City_Code_Hospital", "Hospital_region_code",
    "Department", "Ward_Type", "Ward_Facility_Code", "City_Code_Patient",
    "Type of Admission", "Severity of Illness", "Age",
]
NUMERIC = ["Available Extra Rooms in Hospital", "Bed Grade", "Visitors with Patient", "Admission_Deposit"]
POSITIVE = {"31-40", "41-50", "51-60", "61-70", "71-80", "81-90", "91-100", "More than 100 Days"}


def features(df, train_idx):
    """staytrack's encoding: one-hot over training levels, missing slots, standardised numerics
    with median fill, all fitted on the training rows only."""
    cols = []
    names = []
    tr = df.iloc[train_idx]
    for c in CATEGORICAL:
        s = df[c].astype("string")
        levels = sorted(tr[c].dropna().astype("string").unique())
        for lv in levels:
            cols.append((s == lv).fillna(False).to_numpy(dtype=float))
            names.append(f"{c}={lv}")
        if df[c].isna().any():
            cols.append(s.isna().to_numpy(dtype=float))
    for c in NUMERIC:
        v = df[c].to_numpy(dtype=float)
        t = tr[c].to_numpy(dtype=float)
        fill = np.nanmedian(t)
        mean, std = np.nanmean(t), np.nanstd(t) or 1.0
        filled = np.where(np.isnan(v), fill, v)
        cols.append((filled - mean) / std)
        if np.isnan(v).any():
            cols.append(np.isnan(v).astype(float))
    return np.column_stack(cols)


def midranks(v):
    """1-based ranks, ties sharing their mean."""
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j < len(v) and sv[j] == sv[i]:
            j += 1
        ranks[order[i:j]] = (i + 1 + j) / 2
        i = j
    return ranks


def delong(y, a, b):
    """DeLong's test of AUC(b) - AUC(a) on the same rows (Sun & Xu's midrank algorithm):
    the difference and its two-sided p-value."""
    from scipy.stats import norm
    pos, neg = y == 1, y == 0
    m, n = pos.sum(), neg.sum()
    aucs, v10, v01 = [], [], []
    for p in (a, b):
        tx, ty, tz = midranks(p[pos]), midranks(p[neg]), midranks(np.concatenate([p[pos], p[neg]]))
        aucs.append(tz[:m].sum() / (m * n) - (m + 1) / (2 * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1 - (tz[m:] - ty) / m)
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    diff = aucs[1] - aucs[0]
    return diff, float(2 * norm.sf(abs(diff) / np.sqrt(var))) if var > 0 else 1.0


def peers():
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    out = [
        ("scikit-learn", "LogisticRegression", lambda: LogisticRegression(max_iter=100)),
        ("scikit-learn", "HistGradientBoosting", lambda: HistGradientBoostingClassifier(random_state=42)),
        ("scikit-learn", "RandomForest", lambda: RandomForestClassifier(n_jobs=-1, random_state=42)),
    ]
    try:
        import xgboost
        out.append(("xgboost", "XGBClassifier", lambda: xgboost.XGBClassifier(n_jobs=2, random_state=42)))
    except ImportError:
        print("xgboost is not installed; skipped", file=sys.stderr)
    try:
        import lightgbm
        out.append(("lightgbm", "LGBMClassifier", lambda: lightgbm.LGBMClassifier(n_jobs=2, random_state=42, verbose=-1)))
    except ImportError:
        print("lightgbm is not installed; skipped", file=sys.stderr)
    return out


def main(train_csv, split_json, staytrack_jsonl=None, tuned_csv=None, tune_json=None):
    df = pd.read_csv(train_csv)
    y = df["Stay"].isin(POSITIVE).astype(int).to_numpy()
    valid = np.array(json.load(open(split_json)), dtype=int)
    mask = np.ones(len(df), dtype=bool)
    mask[valid] = False
    train = np.nonzero(mask)[0]
    x = features(df, train)
    xtr, ytr, xva, yva = x[train], y[train], x[valid], y[valid]
    results = []
    probs = {}
    for tool, name, make in peers():
        model = make()
        t = time.perf_counter()
        model.fit(xtr, ytr)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        p = model.predict_proba(xva)[:, 1]
        predict_s = time.perf_counter() - t
        probs[name] = p
        r = {"tool": tool, "model": name, "fit_s": round(fit_s, 3), "predict_s": round(predict_s, 3),
             "roc_auc": round(float(roc_auc_score(yva, p)), 5)}
        print(json.dumps(r), flush=True)
        results.append(r)
    tuned = None
    if tuned_csv and tune_json:
        t = pd.read_csv(tuned_csv)
        ids = df["case_id"].to_numpy()[valid]
        assert (t["case_id"].to_numpy() == ids).all(), "the tuned run was validated on other rows"
        assert (t["label"].to_numpy() == yva).all()
        report = json.load(open(tune_json))
        tuned = {"tool": "staytrack", "model": f"gbdt tune {report['budget_seconds'] / 60:.0f}m",
                 "fit_s": round(report["elapsed_seconds"], 1), "predict_s": float("nan"),
                 "roc_auc": round(float(roc_auc_score(yva, t["probability"])), 5)}
        print(json.dumps(tuned), flush=True)
    if staytrack_jsonl:
        ours = [json.loads(l) for l in open(staytrack_jsonl) if l.startswith("{")]
        if tuned:
            ours.append(tuned)
        print()
        print(f"{'tool':14s} {'model':22s} {'fit s':>8s} {'predict s':>10s} {'ROC AUC':>8s}")
        for r in ours + results:
            predict = "-" if r["predict_s"] != r["predict_s"] else f"{r['predict_s']:.3f}"
            print(f"{r['tool']:14s} {r['model']:22s} {r['fit_s']:8.2f} {predict:>10s} {r['roc_auc']:8.4f}")
        lr_ours = next(r["roc_auc"] for r in ours if r["model"] == "lr")
        lr_sk = next(r["roc_auc"] for r in results if r["model"] == "LogisticRegression")
        best_ours = max(r["roc_auc"] for r in ours if r is not tuned)
        best_peer = max(r["roc_auc"] for r in results)
        fit_ours = sum(r["fit_s"] for r in ours)
        fit_peers = sum(r["fit_s"] for r in results)
        print()
        print(f"logistic regression: staytrack {lr_ours:.4f} vs scikit-learn {lr_sk:.4f} "
              f"(difference {lr_ours - lr_sk:+.4f}; goal within 0.002)")
        print(f"best default: staytrack {best_ours:.4f} vs best peer {best_peer:.4f} "
              f"(difference {best_ours - best_peer:+.4f}; goal ≥ -0.002)")
        defaults_ours = [r for r in ours if r is not tuned]
        fit_ours = sum(r["fit_s"] for r in defaults_ours)
        print(f"total fit time: staytrack {fit_ours:.1f} s vs peers {fit_peers:.1f} s "
              f"(ratio {fit_ours / fit_peers:.3f}; goal ≤ 0.2)")
        if tuned:
            best = max(results, key=lambda r: r["roc_auc"])
            t = pd.read_csv(tuned_csv)
            diff, p = delong(yva, probs[best["model"]], t["probability"].to_numpy())
            print(f"tuned: staytrack {tuned['roc_auc']:.4f} vs best peer default {best['model']} "
                  f"{best['roc_auc']:.4f} (difference {diff:+.4f}, DeLong p = {p:.2e}; "
                  f"goal ≥ +0.002 with p < 0.05)")


if __name__ == "__main__":
    main(*sys.argv[1:])
