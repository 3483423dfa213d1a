# ACM Workbench. `make help` lists the targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ACM := $(BIN)/acm
PERIOD ?= 2026-10
WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo test test-fast test-integration lint format strip-notebooks serve hub bench lock clean docs docs-screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(VENV)/.installed ## create .venv and install the package with its dependencies
	@# the editable install writes no bytecode for the package; where PYTHONDONTWRITEBYTECODE is
	@# set (CI machines), every process would compile its modules again (0.6 s of CPU for all)
	@$(BIN)/python -m compileall -q acm_helpers

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
	$(BIN)/ruff check acm_helpers tests benchmarks docs/_hooks
	$(BIN)/ruff format --check acm_helpers tests benchmarks docs/_hooks
	$(BIN)/nbstripout --keep-id --verify notebooks/*.ipynb
	$(BIN)/lint-imports

format: setup ## ruff format and fix
	$(BIN)/ruff format acm_helpers tests benchmarks docs/_hooks
	$(BIN)/ruff check --fix acm_helpers tests benchmarks docs/_hooks

strip-notebooks: setup ## remove outputs from the notebook templates before committing
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

serve: setup ## start the Voila dashboard for staff on http://127.0.0.1:8866
	$(ACM) serve

hub: setup system-deps ## the dashboard for staff behind JupyterHub's login on http://127.0.0.1:8000 (deploy/jupyterhub/)
	$(BIN)/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

docs: setup ## build the documentation site into site/ (offline: no CDN fonts or scripts; open site/index.html)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

DOCS_SHOTS ?= /tmp/acm-docs-shots
docs-screenshots: setup system-deps ## run the browser tests that take the guides' screenshots, then copy them (scaled) into docs/img
	rm -rf $(DOCS_SHOTS)
	ACM_SCREENSHOT_DIR=$(DOCS_SHOTS) $(BIN)/python -m pytest -q -p no:cacheprovider -n 0 \
	  "tests/e2e/test_voila.py::test_first_chart_then_provider_and_breakdown_change_to_that_providers_numbers" \
	  "tests/e2e/test_voila.py::test_tiles_equal_the_packet_at_month_and_quarter_and_the_link_reopens_the_view" \
	  "tests/e2e/test_voila.py::test_drill_from_a_flagged_tile_opens_its_breakdown" \
	  "tests/e2e/test_packets.py::test_browser_renders_every_chart_offline" \
	  "tests/e2e/test_contract_report.py::test_report_renders_offline_in_chromium" \
	  "tests/e2e/test_jupyterhub.py::test_login_then_dashboard_with_charts"
	$(BIN)/python docs/_hooks/screenshots.py $(DOCS_SHOTS) docs/img

bench: setup ## run every benchmark in benchmarks/ and print ratios
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock: setup ## refresh constraints.txt from the current environment
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v -E "^(acm-workbench|pip)==" > constraints.txt.new && mv constraints.txt.new constraints.txt

clean: ## remove generated data and outputs (keeps .venv)
	rm -rf data outputs/20* demo site
