# news-ingest developer entry points. `make` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-lock
# A system (or pyenv) CPython 3.11: uv must not try to download a managed interpreter (no internet here).
PYTHON311 ?= $(shell command -v python3.11 2>/dev/null)
UV_LOCAL := .cache/uv/bin/uv
UV ?= $(shell command -v uv 2>/dev/null || echo $(UV_LOCAL))
export UV_PYTHON_DOWNLOADS := never
# uv's bytecode workers give up after 60 s by default, which a loaded 2-core machine can exceed (scipy).
export UV_COMPILE_BYTECODE_TIMEOUT ?= 600
PYTEST_PATHS ?= tests
PYTEST_ARGS ?=

.PHONY: help venv es-fetch es-start es-stop es-status demo test test-security test-api test-ui lint typecheck \
	kibana-objects \
	eval-extraction eval-pagekind eval-feeds eval-faults eval-tagging eval-stories bench clean distclean

help: ## list the targets
	@echo "usage: make <target>"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV_LOCAL):
	@echo "==> uv not found: installing it from PyPI into .cache/uv"
	@test -n "$(PYTHON311)" || { echo "python3.11 not found (apt-get install python3 on Debian 12)"; exit 1; }
	@$(PYTHON311) -m pip --version >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-pip; }
	$(PYTHON311) -m pip install -q --disable-pip-version-check --target .cache/uv uv

$(STAMP): requirements.lock pyproject.toml | $(if $(filter $(UV_LOCAL),$(UV)),$(UV_LOCAL))
	@test -n "$(PYTHON311)" || { echo "python3.11 not found on PATH"; exit 1; }
	@echo "==> venv: $(VENV) from requirements.lock (python: $(PYTHON311))"
	$(UV) venv $(VENV) --allow-existing --python $(PYTHON311) --python-preference only-system -q
	$(UV) pip install --python $(PY) --compile-bytecode -q -r requirements.lock \
		|| { echo "==> install failed once (loaded machine?): retrying"; \
		     $(UV) pip install --python $(PY) --compile-bytecode -q -r requirements.lock; }
	$(UV) pip install --python $(PY) --no-deps -q -e .
	@touch $@

venv: $(STAMP) ## create/refresh .venv from requirements.lock (no-op when the lock is unchanged)

es-fetch: ## download and unpack the local Elasticsearch (Maven Central)
	scripts/es.sh fetch

es-start: ## start the local Elasticsearch on 127.0.0.1:9200 (reuses a running one)
	scripts/es.sh start

es-stop: ## stop the local Elasticsearch
	scripts/es.sh stop

es-status: ## print the local Elasticsearch health
	scripts/es.sh status

demo: venv es-start ## run the pipeline end to end on the bundled sample corpus, then print a summary
	scripts/demo.sh

kibana-objects: venv ## regenerate ingest/data/kibana/saved_objects.ndjson from ingest/kibana/content.py
	$(PY) -m ingest.kibana write
	$(PY) -m ingest.kibana check

lint: venv ## ruff check
	$(VENV)/bin/ruff check ingest evaluation dags plugins tests scripts

typecheck: venv ## mypy (strict, config in pyproject.toml)
	$(VENV)/bin/mypy

# The whole suite includes the least-privilege tests, which need a secured node of their own (port 9201, started
# and stopped here); `make test SECURE_ES=0` leaves them out (they then skip, saying why).
SECURE_ES ?= 1
test: venv es-start lint typecheck ## lint + typecheck + the whole pytest suite (local + secured Elasticsearch)
	@if [ "$(SECURE_ES)" = 1 ]; then echo "==> secured Elasticsearch for tests/integration/test_access.py"; scripts/secure-es.sh start; fi
	@echo "==> pytest $(PYTEST_PATHS) $(PYTEST_ARGS)"
	@rc=0; secure_env=""; if [ "$(SECURE_ES)" = 1 ]; then secure_env="$$(scripts/secure-es.sh env)"; fi; \
	env $$secure_env $(PY) -m pytest $(PYTEST_PATHS) $(PYTEST_ARGS) || rc=$$?; \
	if [ "$(SECURE_ES)" = 1 ]; then scripts/secure-es.sh stop || true; fi; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-security: venv ## least privilege on a secured Elasticsearch of its own (port 9201, started and stopped here)
	scripts/secure-es.sh start
	@rc=0; env $$(scripts/secure-es.sh env) $(PY) -m pytest tests/integration/test_access.py $(PYTEST_ARGS) || rc=$$?; \
	scripts/secure-es.sh stop; exit $$rc

test-api: venv es-start ## only the airflow-standalone tests: REST API (asset chain, backfills, plugin) + browser
	$(PY) -m pytest tests/e2e/test_backfill_api.py tests/e2e/test_airflow_ui.py $(PYTEST_ARGS)

test-ui: venv es-start ## only the browser checks of the Airflow UI (headless chromium; screenshots in var/ui/)
	@command -v chromium >/dev/null || { echo "chromium not found: apt-get install -y chromium"; exit 1; }
	$(PY) -m pytest tests/e2e/test_airflow_ui.py $(PYTEST_ARGS)

eval-extraction: venv ## extraction quality: scrapinghub benchmark body F1, fundus gold fields
	$(PY) -m evaluation.extraction

eval-pagekind: venv ## consent walls: how many of the shared data's 2,880 real articles would be taken for one (0)
	$(PY) -m evaluation.pagekind

eval-feeds: venv ## feed-parsing robustness on ../shared/eval/real-feeds
	$(PY) -m evaluation.feeds

eval-faults: venv es-start ## fault injection (slow/broken servers, ES down)
	$(PY) -m evaluation.faults

eval-tagging: venv ## tagging precision/recall on CASIE, 10kGNAD, WikiRef
	$(PY) -m evaluation.tagging

eval-stories: venv es-start ## story grouping: sample corpus, WikiRef220, CASIE events (tuning vs untouched) vs a TF-IDF baseline
	$(PY) -m evaluation.stories

bench: venv ## throughput: whole pipeline vs bare trafilatura, polling, worker RSS, grouping and indexing at 1k/10k/100k, replay, bulk chunks (~30 min)
	ES_HEAP=$${ES_HEAP:-1g} scripts/es.sh start
	$(PY) -m evaluation.bench

clean: ## remove run state and tool caches (var/, .pytest_cache, ...); keeps .venv and downloads
	rm -rf var .pytest_cache .mypy_cache .ruff_cache build dist
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean es-stop ## clean + remove .venv and .cache (downloads)
	rm -rf $(VENV) .cache
