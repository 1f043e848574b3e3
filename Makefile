# The README's two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-pg lint bench flows-check clean browser

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

## Set up and run the hotline (web + worker) on embedded defaults.
run: $(STAMP)
	$(BIN)/python -m hotline.devserver

## Debian's chromium for the browser tests (Playwright drives it; its own browser download
## does not work here). Installed as root when missing; otherwise those tests are skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  fi; \
	  command -v chromium >/dev/null 2>&1 || \
	    echo "chromium is not installed (apt-get install chromium, as root): the browser tests will be skipped" >&2; \
	}

## Run the whole test suite (SQLite; DATABASE_URL=... for PostgreSQL).
test: $(STAMP) browser
	$(BIN)/python -m pytest -q

## The suite against the local PostgreSQL.
test-pg: $(STAMP) browser
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
