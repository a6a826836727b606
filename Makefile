# tender: `make run` starts the service on SQLite; `make test` runs the whole suite on SQLite and
# PostgreSQL. Both install what they need into .venv first (idempotent); `make test` also
# installs Chromium (Debian's package), and TypeScript and axe-core (.tools/) for the enabler's
# and the browser tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export TENDER_ENV_FILE ?= var/tender.env

.PHONY: run test lint bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# tender's own bytecode, written where Python looks for it (only what changed is compiled again).
# Where PYTHONDONTWRITEBYTECODE is set (containers, CI images) Python writes none itself, and
# every process the service or the tests start (each worker, each CLI command) compiled all of
# tender's source again: about a fifth of a worker's start.
COMPILE := $(BIN)/python -m compileall -q src

# The secrets go where tender reads them: var/tender.env, or the file TENDER_ENV_FILE names.
$(TENDER_ENV_FILE): | $(STAMP)
	$(BIN)/tender secrets init --out $(TENDER_ENV_FILE)

# Development is switched on for this process only (an explicit TENDER_ENV wins): the env file
# holds secrets alone, so copying it to a server never switches a development convenience on.
run: $(STAMP) $(TENDER_ENV_FILE)
	@$(COMPILE)
	TENDER_ENV=$${TENDER_ENV:-development} $(BIN)/tender db upgrade
	@if [ "$${TENDER_ENV:-development}" = development ]; then TENDER_ENV=development $(BIN)/tender demo init; fi
	@echo "CLI help: $(BIN)/tender --help"
	TENDER_ENV=$${TENDER_ENV:-development} $(BIN)/tender serve

test: $(STAMP)
	@$(COMPILE)
	./scripts/ensure-postgres.sh
	./scripts/ensure-chromium.sh
	./scripts/ensure-node-tools.sh
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: $(STAMP)
	@$(COMPILE)
	./scripts/ensure-postgres.sh
	$(BIN)/python -m bench.cards_issue
	$(BIN)/python -m bench.ledger_throughput
	$(BIN)/python -m bench.checkout_http
	$(BIN)/python -m bench.processor_http
	$(BIN)/python -m bench.processor_cost

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
