# Entry points for developers and CI (.ci/run runs `make test`).
# System services (Redis, dockerd, a registry) are started by the test fixtures themselves;
# `install` only makes sure their Debian packages and the Python venv exist.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PYTEST_ARGS ?=
UP_ARGS ?=
# pip runs only when pyproject.toml (the dependencies) changed since the last install: the install is
# editable, so code changes need none.
INSTALLED := $(VENV)/.installed

.PHONY: install test lint up bench

install: $(INSTALLED)
	bash scripts/install-system-deps.sh

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# Any pytest failure (exit 5 "no tests collected" included) fails the target; make itself
# reports it as exit status 2, so the exact pytest code is printed here.
test: install lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS) || { rc=$$?; echo "pytest exited with status $$rc" >&2; exit $$rc; }

# Types and lint are part of the test: mypy is strict on bot/ and workers/.
lint: install
	$(VENV)/bin/ruff check bot workers tests bench
	$(VENV)/bin/ruff format --check bot workers tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# One machine, one command: web + worker + embedded Redis on the local Docker (started if needed).
# Flags through UP_ARGS: `make up UP_ARGS="--hook ci --port 8001"`.
up: install
	bash scripts/ensure-dockerd.sh
	$(VENV)/bin/dockerverse up $(UP_ARGS)

# Benchmarks against real components; numbers go to docs/ and the README.
bench: install
	$(VENV)/bin/pip install -q -e '.[test,bench]'
	$(VENV)/bin/python -m bench
