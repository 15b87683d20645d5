# Two commands set up everything on a fresh machine (see README.md):
#   make quickstart   # the main job on an embedded default
#   make test         # the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: one per core (each computes on one thread: tests/conftest.py); TEST_WORKERS=0 runs in-process.
TEST_WORKERS ?= auto

.PHONY: quickstart test test-fast lint fmt install browser bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,test,dev]"
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/zoo quickstart

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m serial
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not serial"

# Debian's Chromium for the demo page's browser test (tests/test_demo.py), installed where apt-get can;
# elsewhere that one test is skipped with the reason, and the rest of the suite runs.
browser:
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		(apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null))) || \
		echo "make browser: no /usr/bin/chromium and no root apt-get; the browser test will be skipped"

# The inner loop: everything but the tests marked slow (training runs) or integration (real weights).
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow and not integration and not serial"

# The gate CI runs before the tests: ruff (lint + format check) and mypy on zoo_core.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info
