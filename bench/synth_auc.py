#!/usr/bin/env python3
"""Fits scikit-learn's LogisticRegression and HistGradientBoostingClassifier on a train_data.csv
(80/20 stratified split, seed 42) and prints their validation ROC AUCs, plus the column moments
that data/README.md compares with the published facts.

    python3 bench/synth_auc.py data/train_data.csv
"""
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from peers import CATEGORICAL, NUMERIC, POSITIVE  # one place for the column lists


def main(path):
    df = pd.read_csv(path)
    y = df["Stay"].isin(POSITIVE).astype(int).to_numpy()
    print(f"rows {len(df)}, positive share {y.mean():.4f}")
    for c in NUMERIC + ["Hospital_code", "City_Code_Patient"]:
        s = df[c]
        print(f"  {c:36s} min {s.min():8.1f} max {s.max():8.1f} mean {s.mean():8.2f} sd {s.std():7.2f} missing {s.isna().sum()}")
    x = pd.get_dummies(df[CATEGORICAL].astype("string").fillna("(missing)"), dtype=float)
    num = df[NUMERIC].copy()
    for c in NUMERIC:
        if num[c].isna().any():
            x[c + " (missing)"] = num[c].isna().astype(float)
            num[c] = num[c].fillna(num[c].median())
    num = (num - num.mean()) / num.std(ddof=0)
    x = pd.concat([x, num], axis=1).to_numpy()
    xtr, xva, ytr, yva = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
    for name, model in [
        ("LogisticRegression", LogisticRegression(max_iter=2000)),
        ("HistGradientBoostingClassifier", HistGradientBoostingClassifier(random_state=42)),
    ]:
        t = time.perf_counter()
        model.fit(xtr, ytr)
        auc = roc_auc_score(yva, model.predict_proba(xva)[:, 1])
        print(f"{name:32s} ROC AUC {auc:.4f}  ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/train_data.csv")
