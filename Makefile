# Developer and CI entry points; `make help` lists them.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := domain projections api migrate_legacy
WITH_SERVICES := scripts/with-services
# pytest-xdist workers: twice the cores by default, since most tests wait on servers, sockets and
# subprocesses rather than compute; PYTEST_WORKERS=0 runs the tests in one process.
PYTEST_WORKERS ?= $(shell echo $$((2 * $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2))))
PARALLEL = -n $(PYTEST_WORKERS) --dist worksteal
FAST_TESTS := not postgres and not slow

.PHONY: help venv run test test-fast lint bench db migrate clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Internal: the virtualenv, reinstalled only when pyproject.toml is newer than the stamp. Its code
# is compiled to bytecode up front, as the container's `pip install` does, so that a process start
# (every test server, every benchmarked start) does not recompile about 650 modules from source
# where PYTHONDONTWRITEBYTECODE is set.
venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e ".[dev]"
	$(PY) -m compileall -q -j0 $(PACKAGES) bench >/dev/null
	touch $@

run: venv ## Serve the API on HOST:PORT (default 127.0.0.1:8000), data in GAIA_DATA_DIR (./var)
	$(PY) -m api serve

# Internal: Debian's Chromium for the browser test (tests/e2e/test_stream_browser.py), installed
# only when missing (CI runs as root on a fresh machine); Playwright drives it and never
# downloads a browser. Without root, say so and let that one test fail with its reason.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" -ne 0 ]; then \
		echo "make: $@ is missing and installing it needs root: apt-get install -y chromium" >&2; \
		exit 0; \
	fi; \
	echo "make: installing chromium for the browser test (apt-get, about 30 s)" >&2; \
	apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	echo "make: $$($@ --version 2>/dev/null)" >&2

# pytest exits 5 when it collected nothing: for the main suite that means a broken test path.
NO_TESTS = if [ $$status -eq 5 ]; then echo "make $@: pytest collected no tests; check testpaths and test names" >&2; fi
test: venv $(CHROMIUM) ## Start PostgreSQL and the GCS emulator, run the suite in PYTEST_WORKERS processes (PYTEST_ARGS=...), stop them
	@status=0; $(WITH_SERVICES) $(PY) -m pytest $(PARALLEL) $(PYTEST_ARGS) || status=$$?; \
	$(NO_TESTS); exit $$status

# No services: SQLite tests put their media in a GCS emulator that each worker starts in-process.
test-fast: venv $(CHROMIUM) ## Run the unit and SQLite tests, not the slow ones, in about a minute (PYTEST_ARGS=...)
	@status=0; $(PY) -m pytest $(PARALLEL) -m "$(FAST_TESTS)" $(PYTEST_ARGS) || status=$$?; \
	$(NO_TESTS); exit $$status

# Runs every check even when one fails, so that one run shows all the problems.
lint: venv ## Check formatting, lint rules, typing, imports, Dockerfile, workflow, Cloud Run files
	@status=0; \
	for check in "ruff format --check ." "ruff check ." "mypy --strict $(PACKAGES)" \
		"lint-imports --no-logo" "hadolint Dockerfile" \
		"check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml" \
		"check-jsonschema --schemafile infra/cloudrun/schema.json infra/cloudrun/*.yaml"; do \
		echo "+ $$check"; $(VENV)/bin/$$check || status=1; \
	done; \
	exit $$status

bench: venv $(CHROMIUM) ## Run the benchmarks against the same services as the tests (the page group drives Chromium)
	$(WITH_SERVICES) $(PY) -m bench

db: venv ## Start a throwaway PostgreSQL and print its GAIA_DATABASE_URL; Ctrl-C stops it
	$(WITH_SERVICES) --db

migrate: venv ## Import legacy campaign files: make migrate ARGS="..."
	$(PY) -m migrate_legacy $(ARGS)

clean: ## Remove the virtualenv and tool caches (keeps ./var)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache *.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
