#!/usr/bin/env python3
"""The seed's serving design, for the load benchmark: a Flask app behind gunicorn that encodes one
JSON record and answers with a scikit-learn model's `predict_proba`, in the seed's
`{"Class": [...], "probability": [[...]]}` shape. The per-request encoder is plain Python over a
dict (no pandas DataFrame per request), which makes this baseline faster than the seed's.

The model (HistGradientBoosting on staytrack's feature encoding, `bench/peers.py`) is trained
once when gunicorn loads the app with --preload; workers share it. Set TRAIN_CSV.
"""
import os

import numpy as np
import pandas as pd
from flask import Flask, jsonify, request
from sklearn.ensemble import HistGradientBoostingClassifier

from peers import CATEGORICAL, NUMERIC, POSITIVE

train = pd.read_csv(os.environ["TRAIN_CSV"])
y = train["Stay"].isin(POSITIVE).to_numpy(dtype=int)
LEVELS = {c: sorted(train[c].dropna().astype("string").unique()) for c in CATEGORICAL}
STATS = {}
for c in NUMERIC:
    t = train[c].to_numpy(dtype=float)
    STATS[c] = (np.nanmedian(t), np.nanmean(t), np.nanstd(t) or 1.0)


def encode(df):
    """One-hot over training levels plus missing slots, standardised numerics (median fill)."""
    cols = []
    for c in CATEGORICAL:
        s = df[c].astype("string")
        for lv in LEVELS[c]:
            cols.append((s == lv).fillna(False).to_numpy(dtype=float))
        cols.append(s.isna().to_numpy(dtype=float))
    for c in NUMERIC:
        v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        fill, mean, std = STATS[c]
        cols.append((np.where(np.isnan(v), fill, v) - mean) / std)
        cols.append(np.isnan(v).astype(float))
    return np.column_stack(cols)


model = HistGradientBoostingClassifier(random_state=42).fit(encode(train), y)
app = Flask(__name__)

# Column offsets of each categorical level in the encoded vector, for one-record encoding.
SLOTS, MISSING_AT = {}, {}
WIDTH = 0
for c in CATEGORICAL:
    SLOTS[c] = {lv: WIDTH + i for i, lv in enumerate(LEVELS[c])}
    MISSING_AT[c] = WIDTH + len(LEVELS[c])
    WIDTH += len(LEVELS[c]) + 1
NUM_AT = {}
for c in NUMERIC:
    NUM_AT[c] = WIDTH
    WIDTH += 2


def level(v):
    """The CSV's spelling of a label: 7.0 and 7 are the same code."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def encode_record(record):
    x = np.zeros((1, WIDTH))
    for c in CATEGORICAL:
        v = record.get(c)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            x[0, MISSING_AT[c]] = 1.0
            continue
        i = SLOTS[c].get(level(v))
        if i is None and isinstance(v, (int, float)):
            i = SLOTS[c].get(str(float(v)))
        if i is not None:
            x[0, i] = 1.0
    for c in NUMERIC:
        v = record.get(c)
        v = float("nan") if v is None else float(v)
        fill, mean, std = STATS[c]
        missing = np.isnan(v)
        x[0, NUM_AT[c]] = ((fill if missing else v) - mean) / std
        x[0, NUM_AT[c] + 1] = float(missing)
    return x


@app.route("/predict_outcome", methods=["POST"])
def predict_outcome():
    record = request.get_json()
    proba = model.predict_proba(encode_record(record))
    return jsonify({"Class": [int(proba[0, 1] >= 0.5)], "probability": proba.tolist()})


@app.route("/health")
def health():
    return jsonify({"status": "ok"})
