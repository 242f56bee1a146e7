#!/usr/bin/env bash
# Monitoring benchmark: `staytrack monitor` over 1,000,000 logged predictions with 100,000
# outcomes, and NannyML's CBPE plus scikit-learn's realized metrics over the same predictions
# and windows (NannyML goes into its own virtualenv, ~/.cache/staytrack/nannyml).
# Usage: bench/monitor.sh [PREDICTIONS [OUTCOMES]]   (default: 1000000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
rows="${1:-1000000}"
outcomes="${2:-100000}"
window=$((rows / 10))
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/staytrack"
ws="$(mktemp -d)"
trap 'rm -rf "$ws"' EXIT
export STAYTRACK_HOME="$ws"
"$bin" data synth --rows 100000 --test-rows 1000 > /dev/null
"$bin" train --model gbdt > /dev/null
"$bin" promote gbdt > /dev/null
# New admissions with their outcomes: another seed of the generator.
"$bin" data synth --rows "$rows" --test-rows 1000 --seed 2 --out "$ws/new" > /dev/null
echo "logging $rows predictions (score --log):"
/usr/bin/time -f "  %e s, peak RSS %M KB" "$bin" score "$ws/new/train_data.csv" --log \
  --out "$ws/scored.csv" > /dev/null
awk -F, -v n="$outcomes" 'NR == 1 {print "case_id,Stay"} NR > 1 && NR <= n + 1 {print $1 "," $NF}' \
  "$ws/new/train_data.csv" > "$ws/outcomes.csv"
"$bin" feedback "$ws/outcomes.csv"
echo "staytrack monitor --window ${window}rows (10 windows):"
/usr/bin/time -f "  %e s, peak RSS %M KB" "$bin" monitor --window "${window}rows" --json \
  > "$ws/monitor.json" || true
python3 - "$ws/monitor.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"  {m['predictions']:,} predictions, {m['labelled']:,} labelled, {len(m['windows'])} windows, {len(m['alerts'])} alerts")
for w in m["windows"][:3]:
    e = w["estimated"]["roc_auc"] if w["estimated"] else None
    r = w["realized"]["roc_auc"] if w["realized"] else None
    print(f"  window {w['label']}: estimated {e}, realized {r}")
PY
venv="$HOME/.cache/staytrack/nannyml"
if ! "$venv/bin/python" -c "import nannyml" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet nannyml==0.13.1 statsmodels
fi
echo "NannyML CBPE + scikit-learn realized metrics, same predictions and windows:"
/usr/bin/time -f "  %e s, peak RSS %M KB" "$venv/bin/python" bench/nannyml_monitor.py \
  "$ws/staytrack.db" "$ws/monitor.json" "$window"
