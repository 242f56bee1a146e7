#!/usr/bin/env python3
"""shap's C++ TreeExplainer on the trees and rows `staytrack explain --export-shap DIR` wrote:
the peer of `staytrack explain` in bench/explain.sh. Prints one JSON line: rows, seconds for
shap_values (the C++ pass alone, wall and CPU) and for the whole script's work, and the largest difference
from staytrack's own values on the rows it exported beside them.

    ~/.cache/staytrack/refs/bin/python bench/explain_shap.py DIR
"""
import json
import sys
import time

import numpy as np
import shap


def main():
    d = sys.argv[1]
    t0 = time.perf_counter()
    with open(f"{d}/model.json") as f:
        m = json.load(f)
    e = m["export"]
    rows = np.fromfile(f"{d}/rows.f64", dtype="<f8").reshape(e["rows"], e["n_features"])
    trees = [{
        "children_left": np.array(t["children_left"], dtype=np.int32),
        "children_right": np.array(t["children_right"], dtype=np.int32),
        "children_default": np.array(t["children_default"], dtype=np.int32),
        "features": np.array(t["features"], dtype=np.int32),
        "thresholds": np.array(t["thresholds"], dtype=np.float64),
        "values": np.array(t["values"], dtype=np.float64).reshape(-1, 1),
        "node_sample_weight": np.array(t["node_sample_weight"], dtype=np.float64),
    } for t in m["shap"]["trees"]]
    explainer = shap.TreeExplainer(
        {"trees": trees, "base_offset": m["shap"]["base_offset"], "tree_output": "raw_value",
         "input_dtype": np.float64, "internal_dtype": np.float64},
        feature_perturbation="tree_path_dependent", model_output="raw",
    )
    t1, c1 = time.perf_counter(), time.process_time()
    values = explainer.shap_values(rows, check_additivity=False)
    t2, c2 = time.perf_counter(), time.process_time()
    ours = np.fromfile(f"{d}/staytrack.f64", dtype="<f8").reshape(e["compared_rows"], e["n_features"])
    diff = float(np.max(np.abs(values[: e["compared_rows"]] - ours)))
    base = float(np.ravel(explainer.expected_value)[0])
    print(json.dumps({
        "shap": shap.__version__,
        "rows": int(rows.shape[0]),
        "features": int(rows.shape[1]),
        "trees": len(trees),
        "shap_values_seconds": round(t2 - t1, 3),
        "shap_values_cpu_seconds": round(c2 - c1, 3),
        "total_seconds": round(t2 - t0, 3),
        "max_abs_difference_from_staytrack": diff,
        "expected_value_difference": abs(base - m["expected_value"]),
    }))


if __name__ == "__main__":
    main()
