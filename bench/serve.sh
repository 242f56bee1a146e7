#!/usr/bin/env bash
# Load benchmark of `staytrack serve` against the seed's design (Flask + gunicorn + scikit-learn)
# on the same machine, the same features and the same single-record request, with wrk:
# 64 connections for 30 s each. Usage: bench/serve.sh [SECONDS] [CONNECTIONS]
# Needs wrk (apt-get install wrk) and installs flask, gunicorn, scikit-learn and pandas with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
secs="${1:-30}"
conns="${2:-64}"
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
STAYTRACK_HOME="$ws" "$bin" data synth --rows 50000 --test-rows 1000 >/dev/null
STAYTRACK_HOME="$ws" "$bin" train --model gbdt --json >/dev/null
run=$(STAYTRACK_HOME="$ws" "$bin" runs list --json | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")
STAYTRACK_HOME="$ws" "$bin" promote "$run" >/dev/null

# One raw test_data.csv row, as the seed's clients send it (pandas to_dict, NaN for missing).
python3 - "$ws/data/test_data.csv" > "$ws/record.json" <<'PY'
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
wait_up() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
load() { wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$ws/post.lua" "$1"; }

echo "== staytrack serve"
STAYTRACK_HOME="$ws" "$bin" serve --addr 127.0.0.1:18181 >"$ws/staytrack.log" 2>&1 &
st=$!; pids+=("$st")
wait_up http://127.0.0.1:18181/ready
curl -fs -XPOST -H 'Content-Type: application/json' --data @"$ws/record.json" http://127.0.0.1:18181/predict; echo
# A short warm-up, then the measured run.
wrk -t2 -c"$conns" -d3s -s "$ws/post.lua" http://127.0.0.1:18181/predict >/dev/null
st_rss0=$(rss "$st")
load http://127.0.0.1:18181/predict | tee "$ws/staytrack.wrk"
st_rss1=$(rss "$st")
curl -fs http://127.0.0.1:18181/metrics | grep -E '^staytrack_(prediction_log|predictions_total)' | tee "$ws/staytrack.metrics"
kill -TERM "$st"; wait "$st" || true

echo "== Flask + gunicorn + scikit-learn (the seed's design)"
workers=$(( $(nproc) * 2 + 1 ))
# One BLAS/OpenMP thread per worker: the workers already fill the cores.
(cd bench && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TRAIN_CSV="$ws/data/train_data.csv" \
   gunicorn --preload -w "$workers" --timeout 120 -b 127.0.0.1:18182 --log-level warning \
   flask_app:app) &
fl=$!; pids+=("$fl")
wait_up http://127.0.0.1:18182/health
curl -fs -XPOST -H 'Content-Type: application/json' --data @"$ws/record.json" http://127.0.0.1:18182/predict_outcome; echo
wrk -t2 -c"$conns" -d3s -s "$ws/post.lua" http://127.0.0.1:18182/predict_outcome >/dev/null
load http://127.0.0.1:18182/predict_outcome | tee "$ws/flask.wrk"
kill -TERM "$fl"; wait "$fl" || true

python3 - "$ws/staytrack.wrk" "$ws/flask.wrk" "$st_rss0" "$st_rss1" "$workers" <<'PY'
import re, sys
def parse(path):
    t = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    def ms(label):
        m = re.search(label + r"\s+([\d.]+)(us|ms|s)\b", t)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    errs = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    errs += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    errs += sum(map(int, m.groups())) if m else 0
    return rps, ms("50%"), ms("99%"), errs
s, f = parse(sys.argv[1]), parse(sys.argv[2])
rss0, rss1 = int(sys.argv[3]) / 1024, int(sys.argv[4]) / 1024
print()
print("| server | requests/s | p50 | p99 | errors |")
print("|---|---|---|---|---|")
print(f"| staytrack serve | {s[0]:,.0f} | {s[1]:.2f} ms | {s[2]:.2f} ms | {s[3]} |")
print(f"| Flask + gunicorn ({sys.argv[5]} workers) + scikit-learn | {f[0]:,.0f} | {f[1]:.2f} ms | {f[2]:.2f} ms | {f[3]} |")
print()
print(f"throughput ratio {s[0] / f[0]:.1f}x (goal >= 20x); staytrack p99 {s[2]:.2f} ms (goal <= 5 ms); "
      f"errors {s[3]} (goal 0); staytrack RSS {rss0:.1f} MiB before the run, {rss1:.1f} MiB after")
PY
