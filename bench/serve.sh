#!/usr/bin/env bash
# Load benchmark of `staytrack serve` against the seed's design (Flask + gunicorn + scikit-learn)
# on the same machine, the same features and the same single-record request, with wrk at 1
# connection (one server worker), 8 and 64 connections, and `/health` beside it as the floor
# HTTP alone sets. With BEFORE=<an older staytrack binary>, the older build runs the same
# workload first, on a copy of the same workspace, so the two are measured side by side.
# Usage: [BEFORE=path/to/staytrack] bench/serve.sh [SECONDS]
# Needs wrk (apt-get install wrk) and installs flask, gunicorn, scikit-learn and pandas with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
secs="${1:-20}"
command -v wrk >/dev/null || { echo "bench/serve.sh needs wrk: apt-get install wrk" >&2; exit 1; }
python3 -c "import flask, gunicorn, sklearn, pandas" 2>/dev/null \
  || pip install --quiet flask gunicorn scikit-learn pandas
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/staytrack"
ws="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$ws"; }
trap cleanup EXIT

echo "== workspace: 50,000 synthetic training rows, gbdt promoted"
mkdir -p "$ws/base"
STAYTRACK_HOME="$ws/base" "$bin" data synth --rows 50000 --test-rows 1000 >/dev/null
STAYTRACK_HOME="$ws/base" "$bin" train --model gbdt --json >/dev/null
run=$(STAYTRACK_HOME="$ws/base" "$bin" runs list --json | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")
STAYTRACK_HOME="$ws/base" "$bin" promote "$run" >/dev/null

# One raw test_data.csv row, as the seed's clients send it (pandas to_dict, NaN for missing).
python3 - "$ws/base/data/test_data.csv" > "$ws/record.json" <<'PY'
import json, sys
import pandas as pd
row = pd.read_csv(sys.argv[1]).iloc[0].to_dict()
print(json.dumps({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}))
PY
cat > "$ws/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$ws/record.json")
wrk.body = f:read("*a")
f:close()
LUA

rss() { ps -o rss= -p "$1" | tr -d ' '; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_up() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# One measured run: server binary, label, connections, route ("predict" or "health").
# Appends "label|conns|route|rps|p50_ms|p99_ms|errors|cpu_us_per_request|rss_mib" to results.
results="$ws/results"
: > "$results"
measure() {
  local bin="$1" label="$2" conns="$3" route="$4"
  local home="$ws/home-$label"
  [ -d "$home" ] || cp -r "$ws/base" "$home"
  local workers=0 threads=2
  if [ "$conns" = 1 ]; then workers=1; threads=1; fi
  STAYTRACK_HOME="$home" "$bin" serve --addr 127.0.0.1:18181 --workers "$workers" >"$ws/server.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_up http://127.0.0.1:18181/ready
  local args=(-t"$threads" -c"$conns")
  if [ "$route" = predict ]; then args+=(-s "$ws/post.lua"); fi
  wrk "${args[@]}" -d3s "http://127.0.0.1:18181/$route" >/dev/null
  local t0; t0=$(cpu_ticks "$pid")
  wrk "${args[@]}" -d"${secs}s" --latency "http://127.0.0.1:18181/$route" > "$ws/wrk.out"
  local t1; t1=$(cpu_ticks "$pid")
  local mib=$(( $(rss "$pid") / 1024 ))
  kill -TERM "$pid"; wait "$pid" || true
  python3 - "$ws/wrk.out" "$label" "$conns" "$route" "$t0" "$t1" "$(getconf CLK_TCK)" "$mib" >> "$results" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
total = int(re.search(r"(\d+) requests in", t).group(1))
def ms(label):
    m = re.search(label + r"\s+([\d.]+)(us|ms|s)\b", t)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
errs = 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errs += int(m.group(1)) if m else 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
errs += sum(map(int, m.groups())) if m else 0
cpu_us = (int(sys.argv[6]) - int(sys.argv[5])) / int(sys.argv[7]) / max(total, 1) * 1e6
print("|".join(map(str, [sys.argv[2], sys.argv[3], sys.argv[4], round(rps), ms("50%"), ms("99%"), errs, round(cpu_us, 1), sys.argv[8]])))
PY
}

builds=()
if [ -n "${BEFORE:-}" ]; then builds+=("before=$BEFORE"); fi
builds+=("this=$bin")
for c in 1 8 64; do
  for b in "${builds[@]}"; do
    echo "== ${b%%=*}: POST /predict, $c connection(s)"
    measure "${b#*=}" "${b%%=*}" "$c" predict
  done
done
for c in 1 64; do
  echo "== this: GET /health, $c connection(s)"
  measure "$bin" this "$c" health
done

echo "== Flask + gunicorn + scikit-learn (the seed's design), 64 connections"
workers=$(( $(nproc) * 2 + 1 ))
# One BLAS/OpenMP thread per worker: the workers already fill the cores.
(cd bench && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TRAIN_CSV="$ws/base/data/train_data.csv" \
   gunicorn --preload -w "$workers" --timeout 120 -b 127.0.0.1:18182 --log-level warning \
   flask_app:app) &
fl=$!; pids+=("$fl")
wait_up http://127.0.0.1:18182/health
curl -fs -XPOST -H 'Content-Type: application/json' --data @"$ws/record.json" http://127.0.0.1:18182/predict_outcome; echo
wrk -t2 -c64 -d3s -s "$ws/post.lua" http://127.0.0.1:18182/predict_outcome >/dev/null
wrk -t2 -c64 -d"${secs}s" --latency -s "$ws/post.lua" http://127.0.0.1:18182/predict_outcome > "$ws/flask.wrk"
kill -TERM "$fl"; wait "$fl" || true

python3 - "$results" "$ws/flask.wrk" "$workers" <<'PY'
import re, sys
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
t = open(sys.argv[2]).read()
flask = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
print()
print("| build | route | connections | requests/s | p50 | p99 | errors | server CPU per request | RSS |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for label, conns, route, rps, p50, p99, errs, cpu, mib in rows:
    print(f"| {label} | {route} | {conns} | {int(rps):,} | {float(p50)*1000:.0f} µs | {float(p99)*1000:.0f} µs | {errs} | {cpu} µs | {mib} MiB |")
print(f"| Flask + gunicorn ({sys.argv[3]} workers) | /predict_outcome | 64 | {flask:,.0f} | | | | | |")
this64 = [float(r[3]) for r in rows if r[0] == "this" and r[1] == "64" and r[2] == "predict"][0]
print()
print(f"this build at 64 connections: {this64 / flask:.1f}x Flask's requests/s (goal >= 10x); goals 40,000 requests/s, p99 <= 5 ms")
PY
