#!/usr/bin/env bash
# Peer benchmark: staytrack's four families against scikit-learn, XGBoost and LightGBM on the same
# full-size file, split and features. Usage: bench/peers.sh [TRAIN_CSV]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
data="${1:-data/train_data.csv}"
python3 -c "import sklearn, pandas, xgboost, lightgbm" 2>/dev/null \
  || pip install --quiet scikit-learn pandas xgboost lightgbm
out="$(mktemp -d)"
cargo bench --bench train -- "$data" --split-out "$out/split.json" | tee "$out/staytrack.jsonl"
python3 bench/peers.py "$data" "$out/split.json" "$out/staytrack.jsonl"
