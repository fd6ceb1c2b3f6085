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

# The INVX_SECRET_KEY `make run` uses: $(INSTANCE)/secret-key once it exists (this
# instance's secrets are sealed with it), even when INVX_SECRET_KEY is set to another key
# (it says so); `make run KEEP_INSTANCE_KEY=no` uses INVX_SECRET_KEY instead. Without
# either, a new key is made in $(INSTANCE)/secret-key (docs/secrets.md).
KEEP_INSTANCE_KEY ?= yes
KEY_FILE := $(INSTANCE)/secret-key

run: export INVX_LOG_FORMAT := $(or $(INVX_LOG_FORMAT),text)
run: install
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
