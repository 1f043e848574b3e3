# The README's two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-fast test-pg lint bench flows-check clean system-deps

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

## Set up and run the hotline (web + worker) on embedded defaults.
run: $(STAMP)
	$(BIN)/python -m hotline.devserver

## Debian packages the tests use: chromium for the browser tests (Playwright drives it; its own
## browser download does not work here) and espeak-ng for the simulator's spoken answers.
## Installed as root when missing; otherwise the tests that need them are skipped.
# Each package installs a command of the same name, which is how a missing one is noticed.
SYSTEM_PACKAGES := chromium espeak-ng
system-deps:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
	  command -v $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing (Debian packages for the tests)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	  for pkg in $$missing; do \
	    command -v $$pkg >/dev/null 2>&1 || \
	      echo "$$pkg is not installed (apt-get install $$pkg, as root): tests that need it are skipped" >&2; \
	  done; \
	fi

## Run the whole test suite (SQLite; DATABASE_URL=... for PostgreSQL).
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

## The quick loop: everything but the tests marked slow (whole calls through the pipeline,
## speech recognition, browsers, data at scale). `make test` still runs them all.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

## The suite against the local PostgreSQL.
test-pg: $(STAMP) system-deps
	DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check hotline workers tests bench app.py
	$(BIN)/mypy hotline workers

flows-check: $(STAMP)
	$(BIN)/flask --app app flows check

bench: $(STAMP)
	$(BIN)/python bench/webhooks.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
