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

.PHONY: install install-runtime run test lint bench profile migration package-check clean

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

run: install-runtime
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
