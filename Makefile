# solana-escrow-exporter: the two commands are `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup run test lint typecheck dashboards rules bench soak drills demo clean

setup:
	@scripts/setup.sh

## Start the simulator and the exporter on the embedded default (SQLite + simulator RPC).
run: setup
	@scripts/run.sh

## Everything CI checks: lint, types, unit, integration and end-to-end tests.
test: setup lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider --durations=15 tests

lint:
	$(BIN)/ruff check exporter devchain grafana bundle tests bench scripts
	$(BIN)/ruff format --check exporter devchain grafana bundle

typecheck:
	$(BIN)/mypy exporter devchain grafana bundle bench scripts tests/support

## Recompile the Jsonnet dashboards into the committed JSON.
dashboards: setup
	$(PY) -m grafana.build
	$(PY) -m grafana.configmaps

## Benchmarks with their baselines (solana-anchor-events is the decode baseline, bench-only).
bench: setup
	@$(PY) -c "import solana_anchor_events" 2>/dev/null || $(BIN)/pip install -q 'solana-anchor-events==0.1.0'
	$(PY) -m bench.run

soak: setup
	$(PY) -m bench.soak

drills: setup
	$(BIN)/pytest -q -p no:cacheprovider -m drill tests

demo: setup
	@scripts/demo.sh

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

## Regenerate Prometheus rules, promtool tests, docs/alerts.md, the site templates and the dashboards'
## threshold colours (grafana/lib/site.libsonnet) from bundle/site.yml + bundle/config.py.
rules: setup
	$(PY) scripts/gen_rules.py
	$(PY) -m bundle.prometheusrule
	$(PY) -m grafana.build
	$(PY) -m grafana.configmaps
