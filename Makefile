# invx: `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
INSTANCE := $(or $(INVX_INSTANCE_PATH),instance)

.PHONY: install run test lint bench profile clean docs-check

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: export INVX_LOG_FORMAT := $(or $(INVX_LOG_FORMAT),text)
run: install
	$(BIN)/invx db upgrade
	$(BIN)/invx demo --port $(PORT)
	INVX_SECRET_KEY="$${INVX_SECRET_KEY:-$$(cat $(INSTANCE)/secret-key)}" \
		PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py

test: install
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

profile: install
	$(BIN)/python -m bench.profile $(PROFILE_ARGS)

# The README's shell examples, in order, against a fresh instance (tests/docs/readme_check.py).
docs-check: install
	$(BIN)/python -m tests.docs.readme_check

lint: install
	$(BIN)/ruff check invx tests migrations bench wsgi.py gunicorn.conf.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
