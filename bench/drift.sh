#!/usr/bin/env bash
# Drift benchmark: staytrack against Evidently's DataDriftPreset on the same files.
# Usage: bench/drift.sh [TRAIN_CSV [TEST_CSV]]   (default: data/train_data.csv, data/test_data.csv)
# Evidently goes into its own virtualenv (~/.cache/staytrack/evenv) with a pandas it supports.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
train="${1:-data/train_data.csv}"
test="${2:-data/test_data.csv}"
venv="$HOME/.cache/staytrack/evenv"
if ! "$venv/bin/python" -c "import evidently" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet evidently 'pandas<3'
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo bench --bench drift -- "$train" "$test" | tee "$out/bench.jsonl"
cargo build --release --quiet
# The same comparison with the raw training file as the reference, as Evidently sees it.
ws="$out/ws"
mkdir -p "$ws"
STAYTRACK_HOME="$ws" "$CARGO_TARGET_DIR/release/staytrack" drift --reference "$train" \
  --current "$test" --json > "$out/staytrack.json"
(cd bench && "$venv/bin/python" evidently_drift.py "../$train" "../$test" "$out/staytrack.json" "$out/bench.jsonl")
