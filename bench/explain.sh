#!/usr/bin/env bash
# Explanations, measured: `staytrack explain` on the full-size synthetic test file (137,057
# rows) with the default gbdt (wall time and peak RSS from /usr/bin/time -v, 3 tries, on every
# core and on one), against shap's C++ TreeExplainer on the same trees and rows (bench/
# explain_shap.py, which also checks the values agree); then the server's p50 for one record
# with `?explain=5` and without, wrk at 1 connection.
# Usage: [STAYTRACK_BIN=path/to/staytrack] bench/explain.sh [SECONDS per wrk run, default 15]
# Needs wrk and shap 0.54 in $REFS (default ~/.cache/staytrack/refs; Python >= 3.12):
#   python3.12 -m venv ~/.cache/staytrack/refs && ~/.cache/staytrack/refs/bin/pip install 'shap==0.54.*' numpy
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
secs="${1:-15}"
refs="${REFS:-$HOME/.cache/staytrack/refs}"
"$refs/bin/python" -c "import shap" 2>/dev/null \
  || { echo "bench/explain.sh needs shap in $refs (see the header)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench/explain.sh needs wrk: apt-get install wrk" >&2; exit 1; }
# STAYTRACK_BIN=<a built binary> measures that one instead of building the tree's.
bin="${STAYTRACK_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin="$CARGO_TARGET_DIR/release/staytrack"
fi
ws="$(mktemp -d)"
srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$ws"; }
trap cleanup EXIT
export STAYTRACK_HOME="$ws"

echo "== workspace: the full-size synthetic files, the default gbdt promoted"
"$bin" data synth >/dev/null
"$bin" train --model gbdt --json >/dev/null
run=$("$bin" runs list --json | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")
"$bin" promote "$run" >/dev/null

# One timed command: "wall <s>  CPU <s>  peak RSS <MiB>" (CPU: user + system, which a machine
# shared with other work measures better than the wall).
timed() {
  /usr/bin/time -v "$@" > /dev/null 2> "$ws/time.out"
  python3 - "$ws/time.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
w = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)", t).group(1).split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(w)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
cpu = sum(float(re.search(k + r" time \(seconds\): ([\d.]+)", t).group(1)) for k in ("User", "System"))
print(f"wall {secs:6.2f} s  CPU {cpu:6.2f} s  peak RSS {rss:4.0f} MiB")
PY
}

test_csv="$ws/data/test_data.csv"
echo "== staytrack score (the floor: probabilities only), 3 tries"
for _ in 1 2 3; do timed "$bin" score "$test_csv" --out "$ws/scored.csv" --force; done
echo "== staytrack explain --top 5, every core ($(nproc)), 2 tries"
for _ in 1 2; do timed "$bin" explain "$test_csv" --top 5 --out "$ws/explained.csv" --force; done
echo "== staytrack explain --top 5, one core (RAYON_NUM_THREADS=1)"
RAYON_NUM_THREADS=1 timed "$bin" explain "$test_csv" --top 5 --out "$ws/explained.csv" --force

echo "== shap $("$refs/bin/python" -c 'import shap; print(shap.__version__)') TreeExplainer (C++, one core) on the same trees and rows"
"$bin" explain "$test_csv" --export-shap "$ws/shap"
/usr/bin/time -v "$refs/bin/python" bench/explain_shap.py "$ws/shap" 2> "$ws/time.out"
python3 - "$ws/time.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
w = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.+)", t).group(1)
cpu = sum(float(re.search(k + r" time \(seconds\): ([\d.]+)", t).group(1)) for k in ("User", "System"))
print(f"shap process: wall {w}, CPU {cpu:.2f} s, peak RSS {rss:.0f} MiB (every row is in memory as float64)")
PY

echo "== serving one record, wrk -c1 -t1 for ${secs}s each: plain and ?explain=5"
python3 - "$test_csv" > "$ws/record.json" <<'PY'
import csv, json, sys
row = next(csv.DictReader(open(sys.argv[1])))
def typed(v):
    for f in (int, float):
        try:
            return f(v)
        except ValueError:
            pass
    return None if v == "" else v
print(json.dumps({k: typed(v) for k, v in row.items()}))
PY
cat > "$ws/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$ws/record.json")
wrk.body = f:read("*a")
f:close()
LUA
"$bin" serve --addr 127.0.0.1:18183 --workers 1 >"$ws/server.log" 2>&1 &
srv=$!
for _ in $(seq 1 300); do curl -fs http://127.0.0.1:18183/ready >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs -XPOST -H 'Content-Type: application/json' --data @"$ws/record.json" \
  'http://127.0.0.1:18183/predict?explain=5' | python3 -m json.tool | head -30
for route in predict 'predict?explain=5' predict 'predict?explain=5'; do
  wrk -t1 -c1 -d3s -s "$ws/post.lua" "http://127.0.0.1:18183/$route" >/dev/null
  wrk -t1 -c1 -d"${secs}s" --latency -s "$ws/post.lua" "http://127.0.0.1:18183/$route" > "$ws/wrk.out"
  python3 - "$ws/wrk.out" "/$route" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def us(label):
    m = re.search(label + r"\s+([\d.]+)(us|ms|s)\b", t)
    v, u = float(m.group(1)), m.group(2)
    return v if u == "us" else v * 1000 if u == "ms" else v * 1e6
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
print(f"POST {sys.argv[2]:<20} p50 {us('50%'):7.0f} µs  p99 {us('99%'):7.0f} µs  {rps:8.0f} req/s  non-2xx {non2xx.group(1) if non2xx else 0}")
PY
done
