# ACM Workbench. `make help` lists the targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ACM := $(BIN)/acm
PERIOD ?= 2026-10
WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo test test-fast test-integration lint format strip-notebooks serve hub bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(VENV)/.installed ## create .venv and install the package with its dependencies

system-deps: ## install Debian's chromium and poppler-utils when missing (browser tests, PDF checks), and JupyterHub's proxy (npm)
	@if [ ! -x /usr/bin/chromium ] || ! command -v pdftoppm >/dev/null || ! command -v npm >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils $$(command -v npm >/dev/null || echo nodejs npm) >/dev/null; \
	  else echo "Install Debian packages chromium, poppler-utils, nodejs and npm (sudo apt-get install chromium poppler-utils nodejs npm)"; fi; \
	fi
	@if [ ! -x deploy/jupyterhub/node_modules/.bin/configurable-http-proxy ]; then \
	  cd deploy/jupyterhub && npm ci --no-audit --no-fund --loglevel=error; \
	fi

demo: setup system-deps ## generate the demo program, load it, and build this month's packets
	$(ACM) demo --period $(PERIOD) --workers $(WORKERS)

test: setup system-deps ## run every test tier (unit, integration, notebooks, e2e/browser)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: setup ## the unit tier only: no subprocess, kernel, browser or server (tests/unit)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

test-integration: setup ## subprocesses, kernels and the acm command, no browser (tests/integration)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration

lint: setup ## ruff check, format check, notebooks without outputs, import contracts (the pre-commit hooks, run offline)
	$(BIN)/ruff check acm_helpers tests benchmarks
	$(BIN)/ruff format --check acm_helpers tests benchmarks
	$(BIN)/nbstripout --keep-id --verify notebooks/*.ipynb
	$(BIN)/lint-imports

format: setup ## ruff format and fix
	$(BIN)/ruff format acm_helpers tests benchmarks
	$(BIN)/ruff check --fix acm_helpers tests benchmarks

strip-notebooks: setup ## remove outputs from the notebook templates before committing
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

serve: setup ## start the Voila dashboard for staff on http://127.0.0.1:8866
	$(ACM) serve

hub: setup system-deps ## the dashboard for staff behind JupyterHub's login on http://127.0.0.1:8000 (deploy/jupyterhub/)
	$(BIN)/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

bench: setup ## run every benchmark in benchmarks/ and print ratios
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock: setup ## refresh constraints.txt from the current environment
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v -E "^(acm-workbench|pip)==" > constraints.txt.new && mv constraints.txt.new constraints.txt

clean: ## remove generated data and outputs (keeps .venv)
	rm -rf data outputs/20* demo
