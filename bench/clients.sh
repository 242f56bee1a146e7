#!/usr/bin/env bash
# The real serving clients against `staytrack serve` (gbdt, 50,000 training rows): 1,000 rows a
# call as MLflow dataframe_split, CSV, and OIP v2 tensors in JSON and binary.
# Usage: bench/clients.sh [CALLS]. Needs the clients' virtualenv (`make clients`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
python="${CLIENTS_ENV:-$HOME/.cache/staytrack/clients}/bin/python"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/staytrack"
ws="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$ws"; }
trap cleanup EXIT
export STAYTRACK_HOME="$ws"
"$bin" data synth --rows 50000 --test-rows 1000 >/dev/null
"$bin" train --model gbdt --json >/dev/null
"$bin" promote "$("$bin" runs list --json | "$python" -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")" >/dev/null
"$bin" serve --addr 127.0.0.1:18182 --no-log >"$ws/serve.log" 2>&1 &
pid=$!
"$python" bench/clients.py http://127.0.0.1:18182 "$ws/data/test_data.csv" "${1:-50}"
