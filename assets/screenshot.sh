#!/usr/bin/env bash
# Captures the running program in tmux and renders each capture (with its colours) through
# assets/ansi_to_png.py:
#   assets/compare.png        the Compare screen, for the README
#   assets/tour/NN-*.png      a tour: runs, a promotion that warns, Compare, Registry, Score,
#                             Drift and the help, in the order a new user meets them
#   assets/tour.gif           the same frames as one animation
# It trains the four families on synthetic data in a scratch workspace and promotes the best.
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
COLS=168
ROWS=44
trap 'tmux -L shot kill-server 2>/dev/null || true; rm -rf "$WS"' EXIT
export STAYTRACK_HOME="$WS"
"$BIN" data synth --rows 80000 --test-rows 20000 >/dev/null
"$BIN" train --model all >/dev/null 2>&1
"$BIN" promote gbdt --reason "best ROC AUC of the first four runs" >/dev/null

keys() { tmux -L shot send-keys -t shot "$@"; sleep 0.4; }
# Waits until the pane shows $1 (up to 60 s).
wait_for() {
  for _ in $(seq 1 600); do
    tmux -L shot capture-pane -p -t shot | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  echo "'$1' did not appear" >&2
  tmux -L shot capture-pane -p -t shot >&2
  exit 1
}
mkdir -p assets/tour
rm -f assets/tour/*.png
n=0
shot() {
  n=$((n + 1))
  local name
  name=$(printf "assets/tour/%02d-%s.png" "$n" "$1")
  tmux -L shot capture-pane -e -p -t shot > "$WS/frame.ansi"
  "$VENV/bin/python" assets/ansi_to_png.py "$WS/frame.ansi" "$name" "$COLS" "$ROWS"
  echo "wrote $name"
}

tmux -L shot new-session -d -s shot -x "$COLS" -y "$ROWS" -e "STAYTRACK_HOME=$WS" "$BIN"
wait_for "1 Runs"
for _ in 1 2 3 4; do keys Space j; done
keys g
shot runs
# Promoting a worse run: the dialog warns with the deltas and takes a reason.
keys / l r Enter
keys p
wait_for "Promote lr"
keys -l "checking the fallback"
shot promote-warns
keys Escape
keys / Escape
keys 2
keys b
wait_for "(base)"
tmux -L shot capture-pane -e -p -t shot > "$WS/compare.ansi"
"$VENV/bin/python" assets/ansi_to_png.py "$WS/compare.ansi" assets/compare.png "$COLS" "$ROWS"
echo "wrote assets/compare.png"
shot compare
keys 3
shot registry
keys 4 Enter
wait_for "scored 20,000 rows"
shot score
keys 5 Enter
wait_for "Report 1"
keys j j j j j
shot drift
keys "?"
shot help
keys "?"
keys q
"$VENV/bin/python" - assets/tour assets/tour.gif <<'PY'
import pathlib, sys
from PIL import Image
frames = [Image.open(p).convert("P", palette=Image.ADAPTIVE, colors=64)
          for p in sorted(pathlib.Path(sys.argv[1]).glob("*.png"))]
frames[0].save(sys.argv[2], save_all=True, append_images=frames[1:], duration=2500, loop=0,
               optimize=True)
print(f"wrote {sys.argv[2]} ({len(frames)} frames)")
PY
