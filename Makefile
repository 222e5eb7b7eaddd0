# The two commands of the README: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean i18n

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Compile the translation catalogues (.po -> .mo); scripts/i18n.sh extracts and updates them.
i18n: $(STAMP)
	$(BIN)/pybabel -q compile -d connect/translations

## The portal with demo data and background jobs on http://127.0.0.1:5000 (SQLite, no set-up).
run: $(STAMP) i18n
	$(BIN)/connect db upgrade
	$(BIN)/connect seed-demo --if-empty
	$(BIN)/connect dev

## The whole test suite against real PostgreSQL, Redis, S3 (moto) and Stripe (in-repo) servers.
test: $(STAMP) i18n
	@if [ "$$(id -u)" = 0 ]; then scripts/ensure-system-packages.sh; fi
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadfile -p no:cacheprovider

## The benchmarks (minutes each; PostgreSQL and Redis as for the tests). See bench/README.md.
bench: $(STAMP)
	$(BIN)/python bench/redirect/run.py
	$(BIN)/python bench/attribution/run.py
	$(BIN)/python bench/payouts/run.py
	$(BIN)/python bench/tiers/run.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) instance .ci-services
