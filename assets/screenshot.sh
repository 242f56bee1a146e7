#!/usr/bin/env bash
# Captures the Compare screen of the running program as assets/compare.png: trains the four
# families on synthetic data in a scratch workspace, opens staytrack in tmux, selects every run,
# pins a baseline, and renders the pane (with its colours) through assets/ansi_to_png.py.
#
#     bash assets/screenshot.sh        # needs tmux; installs Pillow into ~/.cache/staytrack/shotenv
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/staytrack/target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/staytrack"
VENV="$HOME/.cache/staytrack/shotenv"
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet pillow; }
WS="$(mktemp -d)"
trap 'tmux -L shot kill-server 2>/dev/null || true; rm -rf "$WS"' EXIT
export STAYTRACK_HOME="$WS"
"$BIN" data synth --rows 80000 --test-rows 20000 >/dev/null
"$BIN" train --model all >/dev/null 2>&1
"$BIN" promote "$("$BIN" runs list --family lr --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" >/dev/null
tmux -L shot new-session -d -s shot -x 168 -y 44 -e "STAYTRACK_HOME=$WS" "$BIN"
sleep 1.5
for _ in 1 2 3 4; do tmux -L shot send-keys -t shot Space j; sleep 0.1; done
tmux -L shot send-keys -t shot 2
sleep 0.3
tmux -L shot send-keys -t shot b
sleep 1
tmux -L shot capture-pane -e -p -t shot > "$WS/compare.ansi"
tmux -L shot send-keys -t shot q
"$VENV/bin/python" assets/ansi_to_png.py "$WS/compare.ansi" assets/compare.png 168 44
echo "wrote assets/compare.png"
