# Council Assistant. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
RASA := $(BIN)/rasa

# Ports and URLs (override in the environment).
export RASA_PORT ?= 5005
export ACTION_PORT ?= 5055
export SANDBOX_PORT ?= 8081
export REPORTS_PORT ?= 8000
export RASA_TOKEN ?= local-dev-token
# Rasa sends it to the action server (actions/server.py refuses calls without it).
export ACTION_SERVER_TOKEN ?= local-dev-action-token
export ACTION_ENDPOINT_URL ?= http://127.0.0.1:$(ACTION_PORT)/webhook
export SANDBOX_URL ?= http://127.0.0.1:$(SANDBOX_PORT)
# GOV.UK Pay: the sandbox's webhooks go to the Rasa server; after paying, residents return to the demo page.
export SANDBOX_PAY_WEBHOOK_URL ?= http://127.0.0.1:$(RASA_PORT)/webhooks/govuk_pay/webhook
export PAY_RETURN_URL ?= http://127.0.0.1:$(REPORTS_PORT)/
export RASA_TRACKER_DB ?= var/tracker.db
# Demand capture and reports (insights/settings.py lists every setting): Rasa's SQL event broker table,
# the demand store, and the reports' sign-in for local use.
export RASA_EVENTS_DB ?= var/events.db
export DEMAND_STORE_URL ?= sqlite:///var/demand.db
export REPORTS_TOKEN ?= local-reports-token
export REPORTS_USER ?= designer
export REPORTS_PASSWORD ?= local-dev-password
export SANDBOX_DB ?= var/sandbox.db
# Quiet TensorFlow and Rasa's telemetry prompt.
export TF_CPP_MIN_LOG_LEVEL ?= 3
export RASA_TELEMETRY_ENABLED ?= false
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1
export PYTHONWARNINGS ?= ignore
export PYTHONPATH := $(CURDIR)

DOMAIN := bot/domain
TRAIN_DATA := data/nlu data/rules data/stories
SPACY_MODEL := bot/nlp/council_en
SPACY_STAMP := $(SPACY_MODEL)/meta.json
MODEL_STAMP := models/.trained
REPORTS_CSS := var/build/reports.css
TRAINING_INPUTS := config.yml $(shell find $(DOMAIN) $(TRAIN_DATA) -name '*.yml' 2>/dev/null) \
	$(wildcard bot/components/*.py)

# Python 3.10: on PATH, or a pyenv install, or the system's.
PYTHON310 := $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
	if "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then echo "$$p"; break; fi; done)

.PHONY: help setup spacy train run test test-unit validate test-stories evaluate bench ingest lint lock clean browser-deps lb run-production loadtest fault-suite

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.in requirements.lock
	@if [ -z "$(PYTHON310)" ]; then \
		echo "error: Python 3.10 is needed (Rasa 3.6 runs on nothing newer) and none was found." >&2; \
		echo "       Install python3.10 (e.g. 'pyenv install 3.10' or your package manager) and run make again." >&2; \
		exit 1; fi
	@echo "Creating $(VENV) with $(PYTHON310)"
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade 'pip<25' wheel
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.in -c requirements.lock
	@touch $@

setup: $(VENV)/.installed $(SPACY_STAMP) $(REPORTS_CSS) ## Create .venv, install pinned dependencies, build the spaCy pipeline

$(SPACY_STAMP): $(VENV)/.installed $(wildcard bot/nlp/*.py)
	@$(PY) -m bot.nlp.pipeline $(SPACY_MODEL)

spacy: $(SPACY_STAMP) ## Build the spaCy pipeline from spacy.blank("en")

# The demand reports' styles: GOV.UK Frontend (package.json) compiled with Sass; without npm, unstyled.
$(REPORTS_CSS): package.json package-lock.json insights/static/govuk.scss
	@if command -v npm >/dev/null; then \
		npm ci --no-audit --no-fund --loglevel=error && mkdir -p $(@D) && \
		npx --no-install sass --no-source-map --style=compressed --quiet-deps --pkg-importer=node \
			insights/static/govuk.scss $@; \
	else echo "warning: npm not found: the demand reports will have no GOV.UK styles" >&2; fi

$(MODEL_STAMP): $(VENV)/.installed $(SPACY_STAMP) $(TRAINING_INPUTS)
	@mkdir -p models var
	@$(RASA) train --config config.yml --domain $(DOMAIN) --data $(TRAIN_DATA) --out models --quiet
	@touch $@

train: $(MODEL_STAMP) ## Train the model if data, domain or config changed

run: setup $(MODEL_STAMP) ## Set up, train if needed, start everything on the embedded default
	@mkdir -p var
	@echo ""
	@echo "Council Assistant is starting (Ctrl-C stops everything):"
	@echo "  Demo council page with chat  http://127.0.0.1:$(REPORTS_PORT)/"
	@echo "  Demand reports               http://127.0.0.1:$(REPORTS_PORT)/reports"
	@echo "  Rasa server (HTTP API)       http://127.0.0.1:$(RASA_PORT)/  (token in RASA_TOKEN)"
	@echo "  Action server                http://127.0.0.1:$(ACTION_PORT)/health"
	@echo "  Back-office sandbox          http://127.0.0.1:$(SANDBOX_PORT)/docs"
	@echo ""
	@exec $(BIN)/honcho start -f Procfile

lb: ## Install HAProxy (Debian's package): the production profile's load balancer
	@command -v haproxy >/dev/null || { echo "Installing Debian's haproxy"; \
		$$([ "$$(id -u)" = 0 ] || echo sudo) apt-get update -qq && \
		$$([ "$$(id -u)" = 0 ] || echo sudo) apt-get install -y -qq haproxy; }

run-production: setup $(MODEL_STAMP) lb ## Start the production profile (README); LOCAL=1 on a developer's machine
	@mkdir -p var
	@exec $(PY) -m bot.profiles.production.run $(if $(LOCAL),--local)

loadtest: setup $(MODEL_STAMP) lb ## 100 conversations on two replicas of the production profile: numbers and checks
	@$(PY) -m tests.production.loadtest

fault-suite: setup $(MODEL_STAMP) lb ## Each fault during traffic on the production profile; writes docs/fault-suite.md
	@$(PY) -m tests.production.faults

validate: setup ## rasa data validate (warnings fail, except those explained in tests/validate_allowlist.txt)
	@$(PY) -m tests.tools.validate_data

# The chat widget's browser tests: Debian's chromium (apt) and the npm packages in package.json.
BROWSER_STAMP := node_modules/.browser-deps
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(BROWSER_STAMP): package.json package-lock.json
	@command -v chromium >/dev/null || { echo "Installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium fonts-liberation; }
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

browser-deps: $(BROWSER_STAMP) ## Chromium and the npm packages the widget's browser tests need

test-unit: setup $(MODEL_STAMP) browser-deps lb ## pytest: unit, contract, integration and end-to-end tests
	@$(PY) -m pytest -q

test-stories: $(MODEL_STAMP) ## Test stories with --fail-on-prediction-errors
	@$(RASA) test core --model models --stories tests/stories --fail-on-prediction-errors \
		--out var/results/stories --quiet

test: setup $(MODEL_STAMP) browser-deps validate test-unit test-stories ## Set up and pass every test

evaluate: $(MODEL_STAMP) ## NLU metrics on the held-out set in tests/nlu
	@$(PY) -m tests.tools.evaluate_nlu --model models --data tests/nlu/heldout.yml

bench: setup ## Benchmarks: our pipeline against Rasa's default; a year of demand ingested and reported
	@$(PY) -m tests.bench.nlu
	@$(PY) -m tests.bench.demand

ingest: setup ## Ingest Rasa's event table into the demand store now (the reports app also does it every minute)
	@$(PY) -m insights ingest

lint: setup ## ruff check and format check
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

lock: ## Regenerate requirements.lock from the current .venv
	@{ echo "# Exact versions: pip freeze of a working .venv (Python 3.10). Regenerate with \`make lock\`."; \
	   $(PY) -m pip freeze --exclude-editable; } > requirements.lock

clean: ## Remove models, run state and the built spaCy pipeline (not .venv)
	rm -rf models var $(SPACY_MODEL)
