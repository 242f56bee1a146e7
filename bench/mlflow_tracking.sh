#!/usr/bin/env bash
# The real MLflow client logging RUNS runs x 20 metrics x 10 steps (and 3 params) to
# `staytrack tracking`, then to MLflow's own `mlflow server` with a SQLite backend, on the same
# machine; then search_runs over them on each; then the TUI's first frame on staytrack's store.
#
# Usage: bench/mlflow_tracking.sh [RUNS]          (default 1000)
#   ONLY=staytrack: skip MLflow's server; SKIP_TUI=1: skip the TUI's first frame.
# Needs the clients' virtualenv (`make clients`: the client, mlflow-skinny) and MLflow's server in
# its own virtualenv: python3 -m venv ~/.cache/staytrack/mlflow-peer &&
#   ~/.cache/staytrack/mlflow-peer/bin/pip install mlflow
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
client="${CLIENTS_ENV:-$HOME/.cache/staytrack/clients}/bin/python"
peer="${MLFLOW_PEER_ENV:-$HOME/.cache/staytrack/mlflow-peer}"
# STAYTRACK_BIN: a release binary to time instead of building one.
[ -n "${STAYTRACK_BIN:-}" ] || cargo build --release --quiet
bin="${STAYTRACK_BIN:-$CARGO_TARGET_DIR/release/staytrack}"
work="$(mktemp -d)"
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
cleanup() { stop; rm -rf "$work"; }
trap cleanup EXIT
wait_up() {
  for _ in $(seq 1 300); do
    if "$client" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/health', timeout=1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "the server at $1 did not come up" >&2
  return 1
}

echo "== staytrack tracking ($runs runs x 20 metrics x 10 steps)"
mkdir -p "$work/staytrack"
STAYTRACK_HOME="$work/staytrack" "$bin" tracking --addr 127.0.0.1:18500 >"$work/staytrack.log" 2>&1 &
pid=$!
wait_up http://127.0.0.1:18500
ours="$("$client" bench/mlflow_tracking.py http://127.0.0.1:18500 "$runs" 2>/dev/null | tail -1)"
echo "$ours"
stop

if [ "${ONLY:-}" != staytrack ]; then
echo "== mlflow server, SQLite backend ($("$peer/bin/python" -c 'import mlflow; print(mlflow.__version__)'))"
mkdir -p "$work/mlflow"
"$peer/bin/mlflow" server --backend-store-uri "sqlite:///$work/mlflow/mlflow.db" \
  --artifacts-destination "$work/mlflow/artifacts" --host 127.0.0.1 --port 18501 \
  >"$work/mlflow.log" 2>&1 &
pid=$!
wait_up http://127.0.0.1:18501
theirs="$("$client" bench/mlflow_tracking.py http://127.0.0.1:18501 "$runs" 2>/dev/null | tail -1)"
echo "$theirs"
stop
fi

[ -n "${SKIP_TUI:-}" ] && exit 0
echo "== TUI first frame on staytrack's store ($runs MLflow-logged runs)"
TUI_BENCH_WORKSPACE="$work/staytrack" cargo bench --quiet --bench tui 2>/dev/null | grep -E "first frame|every run"
