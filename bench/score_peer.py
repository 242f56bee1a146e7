"""The batch-scoring peer of `staytrack score`: pandas reads the file, a scikit-learn pipeline
(one-hot over the training levels, median fill and scaling) and HistGradientBoostingClassifier
score it, pandas writes the probabilities.

    python3 bench/score_peer.py fit TRAIN_CSV MODEL_PICKLE     # not timed
    python3 bench/score_peer.py score MODEL_PICKLE TEST_CSV OUT_CSV   # timed as a whole process
"""
import pickle
import sys

import pandas as pd

from peers import CATEGORICAL, NUMERIC, POSITIVE


def fit(train_csv, model_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = pd.read_csv(train_csv)
    y = df["Stay"].isin(POSITIVE).astype(int)
    prep = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         CATEGORICAL),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
    ])
    model = make_pipeline(prep, HistGradientBoostingClassifier(random_state=42))
    df[CATEGORICAL] = df[CATEGORICAL].astype(str)
    model.fit(df[CATEGORICAL + NUMERIC], y)
    with open(model_path, "wb") as f:
        pickle.dump(model, f)


def score(model_path, test_csv, out_csv):
    with open(model_path, "rb") as f:
        model = pickle.load(f)
    df = pd.read_csv(test_csv)
    df[CATEGORICAL] = df[CATEGORICAL].astype(str)
    p = model.predict_proba(df[CATEGORICAL + NUMERIC])[:, 1]
    pd.DataFrame({"case_id": df["case_id"], "probability": p}).to_csv(out_csv, index=False)


if __name__ == "__main__":
    {"fit": fit, "score": score}[sys.argv[1]](*sys.argv[2:])
