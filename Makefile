# staytrack: common tasks. The cargo target directory lives outside the clone so that every
# clone (and CI) on this machine reuses one build.
CARGO_TARGET_DIR ?= $(HOME)/.cache/staytrack/target
export CARGO_TARGET_DIR

.PHONY: moto tmux setup build test lint fmt run train score serve drift report synth check-data bench-load bench-peers bench-serve bench-drift bench-tui screenshot peer-auc

## setup: fetch the Rust dependencies
setup:
	cargo fetch

## build: the release binary ($(CARGO_TARGET_DIR)/release/staytrack)
build:
	cargo build --release

MOTO_ENV ?= $(HOME)/.cache/staytrack/moto

## test: the whole test suite; the sync tests run against moto's S3 server, installed on first
## use into a virtualenv at $(MOTO_ENV); the terminal UI tests drive the binary through tmux,
## installed with apt when missing
test: moto tmux
	STAYTRACK_TEST_MOTO=$(MOTO_ENV)/bin/moto_server cargo test

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

tmux:
	@command -v tmux >/dev/null 2>&1 || { \
	  echo "installing tmux (apt) for the terminal UI tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; }

moto:
	@$(MOTO_ENV)/bin/moto_server --help >/dev/null 2>&1 || { \
	  echo "installing moto[s3,server] into $(MOTO_ENV)"; \
	  python3 -m venv $(MOTO_ENV) && $(MOTO_ENV)/bin/pip install --quiet 'moto[s3,server]'; }

## lint: formatting and clippy, as CI runs them
lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

fmt:
	cargo fmt

## run: staytrack on the workspace in this folder (generates data/ on first use)
run:
	cargo run --release --

## train: train all four model families with their defaults
train:
	cargo run --release -- train

## score: data/test_data.csv through the production model, into predictions/
score:
	cargo run --release -- score

## serve: the HTTP prediction server on 127.0.0.1:8080, following the production alias
serve:
	cargo run --release -- serve

## drift: data/test_data.csv against the production model's training profile
drift:
	cargo run --release -- drift

## report: PNG charts of the finished runs and the latest drift report in reports/
report:
	cargo run --release -- report --out reports

## synth: regenerate the default synthetic files in data/
synth:
	cargo run --release -- data synth

## check-data: validate and summarise data/train_data.csv
check-data:
	cargo run --release -- data check data/train_data.csv

## bench-load: time loading the full-size train file
bench-load:
	cargo bench --bench load

## bench-peers: staytrack's families against scikit-learn, XGBoost and LightGBM (installs them with pip)
bench-peers:
	bash bench/peers.sh

## bench-serve: load benchmark of the server against Flask + gunicorn (needs wrk)
bench-serve:
	bash bench/serve.sh

## bench-tui: first frame over 10,000 runs and key-to-frame times
bench-tui:
	cargo bench --bench tui

## screenshot: capture the Compare screen of the running program as assets/compare.png
screenshot: tmux
	bash assets/screenshot.sh

## bench-drift: drift of the full test file, and Evidently's DataDriftPreset on the same files
bench-drift:
	bash bench/drift.sh

## peer-auc: scikit-learn's AUCs on data/train_data.csv (needs scikit-learn and pandas)
peer-auc:
	python3 bench/synth_auc.py data/train_data.csv
