# Two commands on a fresh machine: `make demo` and `make test`. Both make their own venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8080

.PHONY: demo test lint install services browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the package metadata changes. The demo needs the base install only;
# the tests add the test and load-test extras.
$(VENV)/.installed-base: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-base

install: $(VENV)/.installed

demo: $(VENV)/.installed-base
	$(BIN)/gateway demo --port $(PORT)

services: install
	$(BIN)/python -m tests.services

# The browser tests use Debian's Chromium (Playwright's own download cannot work offline).
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation fonts-dejavu-core; }

lint: install
	$(BIN)/ruff check .

test: install services browser lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info fleet.db fleet.db-wal fleet.db-shm
