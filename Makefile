# One command per job on a fresh machine (Python 3.11, git, apt): each target installs what it
# needs into .venv first. torch==2.13.0 is installed before everything else so that no
# dependency resolves it to a multi-GB CUDA build (see README "GPU" for the CUDA install).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SNAPSHOT ?= ../shared/data/market/binance_2024
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
STAMP := $(VENV)/.installed

.PHONY: install run demo sentiment test lint format dev dev-demo dashboard dashboard-demo clean benchmarks

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 (apt install python3.11 python3.11-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	@mkdir -p $(DAGSTER_HOME) && cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true
	@touch $(STAMP)

install: $(STAMP)

# exit code 3 = completed with warnings (listed in the summary): not a failed make target
run: install  ## live Kraken, whole graph, summary
	$(BIN)/crypto-assets run || [ $$? -eq 3 ]

demo: install  ## the same graph on a recorded real snapshot, offline
	$(BIN)/crypto-assets demo --snapshot $(SNAPSHOT) || [ $$? -eq 3 ]

sentiment: install  ## fine-tune, evaluate and register the sentiment scorer (minutes on CPU)
	$(BIN)/crypto-assets sentiment train

test: install  ## whole suite with coverage (fails under 80 %)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --cov=crypto_assets --cov-report=term --cov-fail-under=80

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

dev: install  ## Dagster UI + daemon on 127.0.0.1:3000
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -m crypto_assets.definitions

dev-demo: install  ## the UI on the snapshot (demo profile; partitions span the snapshot's days)
	CRYPTO_ASSETS_PROFILE=demo CRYPTO_ASSETS_SOURCE=snapshot CRYPTO_ASSETS_SNAPSHOT_DIR=$(abspath $(SNAPSHOT)) \
	  $(BIN)/dagster dev -h 127.0.0.1 -p 3000 -m crypto_assets.definitions

dashboard: install  ## the signals dashboard on 127.0.0.1:8765 (live results, else the demo's)
	$(BIN)/crypto-assets dashboard

dashboard-demo: install  ## the same, always over the demo's results (after `make demo`)
	$(BIN)/crypto-assets dashboard --demo

benchmarks: install
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/backtest.py
	$(BIN)/python benchmarks/hourly_memory.py
	$(BIN)/python benchmarks/sentiment.py
	$(BIN)/python benchmarks/storage.py
	$(BIN)/python benchmarks/onchain.py
	$(BIN)/python benchmarks/feedback.py
	$(BIN)/python benchmarks/risk.py
	$(BIN)/python benchmarks/social.py
	$(BIN)/python benchmarks/text_signals.py

clean:
	rm -rf $(VENV) data .dagster_home mlruns
