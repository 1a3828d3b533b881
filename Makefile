# Every target builds or reuses a local virtualenv, so a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The exact versions to install: the runtime dependencies, and those plus the dev tools. Both are
# generated from pyproject.toml by `make lock`; the Dockerfile installs requirements.lock too.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# The resolver used only to write the lock files, pinned so a regeneration is reproducible.
UV_VERSION := 0.13.9

.PHONY: demo test lint format bench install lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Pinned dependencies first, then Costbot itself without letting pip pick other versions.
$(RUNTIME_STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): $(BIN)/python $(DEV_LOCK) pyproject.toml
	$(BIN)/pip install --quiet -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(DEV_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/costbot demo

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 -q

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py

# Regenerate both lock files after a change to the dependencies in pyproject.toml, then commit
# them. One resolution for every platform (--universal) on the oldest supported Python, which
# is also the container's. The runtime lock is constrained by the dev lock, so the container
# runs exactly the versions the tests ran.
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--quiet --custom-compile-command "make lock"
lock: $(BIN)/python
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"
	$(UV_COMPILE) --extra dev --output-file $(DEV_LOCK)
	$(UV_COMPILE) --constraint $(DEV_LOCK) --output-file $(LOCK)

clean:
	rm -rf $(VENV) demo-out costbot.db
