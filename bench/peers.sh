#!/usr/bin/env bash
# Peer benchmark: staytrack's four families against scikit-learn, XGBoost and LightGBM on the same
# full-size file, split and features, and a `staytrack tune` row (TUNE_BUDGET, default 3m) tested
# against the best peer with DeLong's paired test. Usage: bench/peers.sh [TRAIN_CSV]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
data="${1:-data/train_data.csv}"
python3 -c "import sklearn, pandas, xgboost, lightgbm" 2>/dev/null \
  || pip install --quiet scikit-learn pandas xgboost lightgbm
out="$(mktemp -d)"
cargo bench --bench train -- "$data" --split-out "$out/split.json" | tee "$out/staytrack.jsonl"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/staytrack"
ws="$out/workspace"
"$bin" --workspace "$ws" tune --model gbdt --budget "${TUNE_BUDGET:-3m}" --data "$data" \
  --name bench --json > "$out/tune.json"
best="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["families"][0]["best"]["run_id"])' "$out/tune.json")"
"$bin" --workspace "$ws" runs predictions "$best" --out "$out/tuned.csv" > /dev/null
python3 bench/peers.py "$data" "$out/split.json" "$out/staytrack.jsonl" "$out/tuned.csv" "$out/tune.json"
