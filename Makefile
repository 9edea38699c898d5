# covid19_etl: the two commands a newcomer needs are `make run` and `make test`.
#
#   make run       the whole product locally: warehouse, Airflow UI on :8080, the DAG running
#                  (SOURCES=sample serves the bundled real files over local HTTP; PORT=8080;
#                  MWAA=1 runs the deploy bundle the way MWAA 3.3.1 does, see README)
#   make test      lint + the whole test suite (what CI runs: .ci/run); writes no tracked file
#   make test-fast the unit and quick integration tests (no stacks, browser, installs or
#                  reliability cases): a couple of minutes
#   make docs      regenerate docs/reliability.md and the screenshots in docs/ from real runs
#   make install   the locked environment in .venv (uv, Python 3.12), nothing else
#   make browser   Debian's chromium, for the browser tests (apt; root or sudo)
#   make lint      ruff check and format check
#
# Infrastructure targets (deploy, deploy-dry-run, infra-check) live in Makefile.infra.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
# Nothing in this environment writes .pyc files: compile them once at install, or every
# Airflow process pays seconds of imports.
UV_SYNC := $(UV) sync --frozen --compile-bytecode --python 3.12
# Ruff runs as a uv tool, in its own environment: a linter has no place in the locked set that
# mirrors what MWAA installs.
RUFF := $(UV) tool run --from ruff==0.17.6 ruff

SOURCES ?= upstream
PORT ?= 8080
CHROMIUM ?= /usr/bin/chromium

.PHONY: help install browser lint test test-fast docs run

help:
	@grep -E '^#   make' $(MAKEFILE_LIST) | sed 's/^.*#   //'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: $(UV) pyproject.toml uv.lock
	$(UV_SYNC)
	@touch $@

install: .venv/.installed

lint: | $(filter %/uv,$(UV))
	$(RUFF) check .
	$(RUFF) format --check .

# The browser tests drive Debian's Chromium through Playwright; CHROMIUM=/path/to/chrome uses
# another build (GitHub's CI: Playwright's own, as apt's chromium on Ubuntu is a snap stub).
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; \
	fi

# Whole modules in parallel (pytest-xdist): most of the slow ones wait on a local Airflow, so
# three workers keep two cores busy. docs runs in one process: its report gathers every case.
WORKERS ?= 3
PARALLEL := -n $(WORKERS) --dist loadfile

test: install lint browser
	$(PY) -m pytest $(PARALLEL)

test-fast: install
	$(PY) -m pytest $(PARALLEL) -m "not slow and not e2e and not reliability"

# The cases behind docs/reliability.md and every screenshot in docs/, and nothing else.
DOCUMENTED_TESTS := tests/test_bad_input.py tests/test_faults.py tests/test_security.py \
	tests/test_recovery.py tests/test_run_local.py tests/test_dashboard_browser.py \
	tests/test_mwaa_profile.py
docs: install browser
	RELIABILITY_REPORT=docs/reliability.md SCREENSHOTS=docs $(PY) -m pytest $(DOCUMENTED_TESTS)

run: install
	$(PY) scripts/run_local.py --sources $(SOURCES) --port $(PORT) $(if $(MWAA),--profile mwaa --uv $(UV))

include Makefile.infra
include Makefile.bench
