# Seedance Studio: `make run` starts the app on embedded defaults, `make test` runs the suite.
# Both set themselves up (virtualenv in .venv/, pinned requirements).

PYTHON ?= python3
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format migrate worker simulator shell clean help

help:
	@echo "make run [PORT=8000]  start web, worker, fal simulator on embedded defaults"
	@echo "make test             run the whole test suite"
	@echo "make lint             ruff"
	@echo "make migrate | worker | simulator | shell"

$(STAMP): requirements/base.txt requirements/dev.txt requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	@touch $(STAMP)

# A git-ignored .env with DEBUG on and a random SECRET_KEY, so every manage.py
# command in any terminal shares the local configuration.
.env: | $(STAMP)
	$(PY) scripts/write_dev_env.py .env

run: $(STAMP) .env
	$(PY) manage.py devstack --port $(PORT)

# The tests configure themselves from the environment only (never from .env):
# embedded defaults unless DATABASE_URL / CELERY_BROKER_URL are set, as in CI.
test: $(STAMP)
	@scripts/ensure_chromium.sh
	SEEDANCE_ENV_FILE= SEEDANCE_VAR_DIR=var/test FAL_KEY= PUBLIC_BASE_URL= DB_CONN_MAX_AGE=0 SECRET_KEY=insecure-test-only-key SECURE_SSL_REDIRECT=false \
		$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP) .env
	$(PY) manage.py migrate

worker: $(STAMP) .env
	$(VENV)/bin/celery -A seedance_studio worker -B --loglevel INFO

shell: $(STAMP) .env
	$(PY) manage.py shell

clean:
	rm -rf var/ .pytest_cache/ test-output/
