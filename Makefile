# invx: `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` needs only what the server runs on; tests, lint and the
# benchmark add the tools of requirements-dev.txt to the same virtualenv.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PIP := $(BIN)/pip install --quiet --disable-pip-version-check
PORT ?= 8000
INSTANCE := $(or $(INVX_INSTANCE_PATH),instance)

.PHONY: install install-runtime run test lint bench profile migration package-check clean docs-check

install: $(DEV_STAMP)

install-runtime: $(RUNTIME_STAMP)

$(RUNTIME_STAMP): requirements.txt setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	touch $(RUNTIME_STAMP)

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $(DEV_STAMP)

# The INVX_SECRET_KEY `make run` uses: $(INSTANCE)/secret-key once it exists (this
# instance's secrets are sealed with it), even when INVX_SECRET_KEY is set to another key
# (it says so); `make run KEEP_INSTANCE_KEY=no` uses INVX_SECRET_KEY instead. Without
# either, a new key is made in $(INSTANCE)/secret-key (docs/secrets.md).
KEEP_INSTANCE_KEY ?= yes
KEY_FILE := $(INSTANCE)/secret-key

run: export INVX_LOG_FORMAT := $(or $(INVX_LOG_FORMAT),text)
run: install-runtime
	@if [ -s $(KEY_FILE) ] && [ "$(KEEP_INSTANCE_KEY)" != no ]; then \
		if [ -n "$$INVX_SECRET_KEY" ] && [ "$$INVX_SECRET_KEY" != "$$(cat $(KEY_FILE))" ]; then \
			echo "make run: your INVX_SECRET_KEY is not $(KEY_FILE), which this instance's" \
				"secrets are sealed with: using $(KEY_FILE) (docs/secrets.md)"; fi; \
		INVX_SECRET_KEY="$$(cat $(KEY_FILE))"; \
	elif [ -z "$$INVX_SECRET_KEY" ]; then \
		mkdir -p $(INSTANCE); test -s $(KEY_FILE) || (umask 077; $(BIN)/python -c \
			'import secrets; print(secrets.token_urlsafe(32))' > $(KEY_FILE)); \
		echo "make run: INVX_SECRET_KEY is not set: using the one kept in $(KEY_FILE)"; \
		INVX_SECRET_KEY="$$(cat $(KEY_FILE))"; \
	fi; \
	export INVX_SECRET_KEY; \
	$(BIN)/invx db upgrade && $(BIN)/invx demo --port $(PORT) && \
		PORT=$(PORT) exec $(BIN)/gunicorn -c gunicorn.conf.py

test: install
	$(BIN)/pytest

# invx alone under its production gunicorn, against the HTTP ceiling and the naive design
# of a bare reference app (bench/bare, under gevent and under gthread, the better counting),
# on two throwaway clusters; the ratios of issue 20's targets go to docs/benchmarks.md
# (docs/performance.md). Quicker: BENCH_ARGS="--duration 4 --no-million".
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

profile: install
	$(BIN)/python -m bench.profile $(PROFILE_ARGS)

# The README's shell examples, in order, against a fresh instance (tests/docs/readme_check.py).
docs-check: install
	$(BIN)/python -m tests.docs.readme_check

lint: install
	$(BIN)/ruff check invx tests bench wsgi.py gunicorn.conf.py

# A new Alembic revision from the models' changes (docs/development.md, "Migrations"):
# `make migration REV=0009 MESSAGE="what changes"`. Flask's own CLI has the authoring
# commands that `invx db` leaves out.
migration: install
	@test -n "$(REV)" -a -n "$(MESSAGE)" || \
		{ echo 'usage: make migration REV=0009 MESSAGE="what changes"' >&2; exit 2; }
	$(BIN)/invx db upgrade
	FLASK_SKIP_DOTENV=1 $(BIN)/flask --app invx db migrate --rev-id "$(REV)" -m "$(MESSAGE)"

# Build the wheel, install it into a fresh virtualenv, migrate and serve from elsewhere.
package-check:
	PYTHON=$(PYTHON) .ci/package-check

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache build dist
