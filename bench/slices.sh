#!/usr/bin/env bash
# What slices add to training's evaluation, against the fit: the default gbdt on the training
# file (80/20 split, seed 42), then grouping the validation rows by three slice columns and
# measuring every slice (benches/slices.rs). The issue's bar: at most 2 % of the fit.
#
#     bench/slices.sh [FILE]        # data/train_data.csv by default
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
line=$(cargo bench --bench slices -- "${1:-data/train_data.csv}" | tail -n 1)
echo "$line"
python3 - "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
share = 100 * r["slices_s"] / r["fit_s"]
print("{:,} rows ({:,} validation): fit {:.2f} s, evaluation {:.1f} ms, slices +{:.1f} ms "
      "(grouping {:.1f} ms, measuring {:.1f} ms) = {:.2f} % of the fit".format(
          r["rows"], r["valid_rows"], r["fit_s"], 1e3 * r["evaluate_s"], 1e3 * r["slices_s"],
          1e3 * r["group_s"], 1e3 * r["measure_s"], share))
sys.exit(0 if share <= 2 else 1)
PY
