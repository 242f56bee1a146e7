#!/usr/bin/env bash
# Ten times the data on one machine: every row of the README's large-data table for two builds
# back to back (BEFORE, an earlier staytrack binary, and this checkout's release build), wall time
# and peak RSS from /usr/bin/time -v, and the batch-scoring peer (pandas + scikit-learn).
#
#   BEFORE=/path/to/older/staytrack bench/scale.sh [DIR]    # DIR keeps the data between runs
#
# Without BEFORE only this build is measured. The files are synthetic: `data synth --rows 3184380
# --test-rows 1370570` (275 MB, 110 MB) and the full-size pair (27 MB, 11 MB). Training runs on the
# large file; scoring and drift use a gbdt model trained on the full-size one.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
cargo build --release --quiet
after="$CARGO_TARGET_DIR/release/staytrack"
dir="${1:-$HOME/.cache/staytrack/scale}"
mkdir -p "$dir/big" "$dir/full"
[ -s "$dir/big/test_data.csv" ] || "$after" data synth --rows 3184380 --test-rows 1370570 --out "$dir/big"
[ -s "$dir/full/test_data.csv" ] || "$after" data synth --out "$dir/full"

# measure LABEL CMD...: one line with the wall time and the peak RSS.
measure() {
  local label="$1"; shift
  if ! /usr/bin/time -v "$@" > "$dir/out.txt" 2> "$dir/time.txt"; then
    cat "$dir/out.txt" "$dir/time.txt" >&2; exit 1
  fi
  local wall rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$dir/time.txt")"
  rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")"
  printf '%-58s %8.2f s %7.0f MiB\n' "$label" "$wall" "$((rss / 1024))"
}

sides=(after)
[ -n "${BEFORE:-}" ] && sides=(before after)
for side in "${sides[@]}"; do
  bin="$after"; [ "$side" = before ] && bin="$BEFORE"
  ws="$dir/ws-$side"
  rm -rf "$ws"; mkdir -p "$ws"
  echo "== $side: $bin"
  measure "train all four, 3,184,380 rows (275 MB)" "$bin" --workspace "$ws" train --data "$dir/big/train_data.csv"
  "$bin" --workspace "$ws" runs list --json > "$dir/runs-$side.json"
  # Scoring and drift use a gbdt model of the full-size file (the model a 318k-row history gives).
  ws="$dir/ws-$side-full"
  rm -rf "$ws"; mkdir -p "$ws"
  "$bin" --workspace "$ws" train --model gbdt --data "$dir/full/train_data.csv" > /dev/null 2>&1
  "$bin" --workspace "$ws" promote --best --reason bench > /dev/null
  measure "score 1,370,570 rows (gbdt)" "$bin" --workspace "$ws" score "$dir/big/test_data.csv" --out "$dir/scored-$side.csv" --force
  measure "drift 1,370,570 rows" "$bin" --workspace "$ws" drift --current "$dir/big/test_data.csv"
  for i in 1 2 3; do
    measure "score 137,057 rows (gbdt), try $i" "$bin" --workspace "$ws" score "$dir/full/test_data.csv" --out "$dir/scored-full-$side.csv" --force
  done
  for i in 1 2 3; do
    measure "load + check the 27 MB train file, try $i" "$bin" --workspace "$ws" data check "$dir/full/train_data.csv"
  done
done

if [ -n "${BEFORE:-}" ]; then
  echo "== the same answers"
  for f in scored scored-full; do
    if cmp -s "$dir/$f-before.csv" "$dir/$f-after.csv"; then echo "$f: byte-identical"; else echo "$f: DIFFERENT"; fi
  done
  python3 - "$dir/runs-before.json" "$dir/runs-after.json" <<'PY'
import json, sys
def aucs(p):
    runs = json.load(open(p))
    runs = runs.get("runs", runs) if isinstance(runs, dict) else runs
    return {r["family"]: r["metrics"].get("roc_auc") for r in runs}
b, a = aucs(sys.argv[1]), aucs(sys.argv[2])
for fam in sorted(a):
    print(f"{fam:8} ROC AUC before {b.get(fam)}  after {a[fam]}")
PY
fi

echo "== the peer: pandas + scikit-learn (HistGradientBoostingClassifier)"
python3 -c "import sklearn, pandas" 2>/dev/null || pip install --quiet scikit-learn pandas
[ -s "$dir/peer.pickle" ] || python3 bench/score_peer.py fit "$dir/full/train_data.csv" "$dir/peer.pickle"
for i in 1 2 3; do
  measure "pandas + scikit-learn score 137,057 rows, try $i" python3 bench/score_peer.py score "$dir/peer.pickle" "$dir/full/test_data.csv" "$dir/peer-out.csv"
done
measure "pandas + scikit-learn score 1,370,570 rows" python3 bench/score_peer.py score "$dir/peer.pickle" "$dir/big/test_data.csv" "$dir/peer-out.csv"
