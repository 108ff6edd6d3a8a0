# Two entry points for a fresh machine: `make demo` replays a generated funnel through the Lambda
# handlers on a local AWS stand-in and installs only what that needs (the package and moto);
# `make test` installs the test and benchmark tools too, and runs every test.
# The Lambda runtime is python3.13; we use it when present and fall back to python3.

PYENV_ROOT ?= $(HOME)/.pyenv
ifndef PYTHON
PYTHON := $(shell for p in python3.13 $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13) \
	python3.12 python3.11 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then echo $$p; break; fi; done)
endif
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test bench schema clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# The demo's needs: the package and its runtime dependencies, plus moto (the `demo` extra).
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing leadscore and moto into $(VENV) (the first time only)"
	$(PIP) -e '.[demo]'
	@touch $(DEMO_STAMP)

# Everything the tests and benchmarks use; it includes the demo's needs.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing the test and benchmark tools into $(VENV)"
	$(PIP) -e '.[demo,dev,bench]'
	@touch $(DEMO_STAMP) $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/leadscore validate rules
	$(BIN)/leadscore demo

test: $(TEST_STAMP)
	./scripts/dynamodb-local.sh
	./scripts/chromium.sh
	./scripts/sam-cli.sh $(BIN)/python
	$(BIN)/ruff check functions tests benchmarks
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m pytest

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/engine_vs_peers.py
	$(BIN)/python benchmarks/model_scaling.py
	$(BIN)/python benchmarks/daily_decay.py
	$(BIN)/python benchmarks/write_units.py --leads 300
	$(BIN)/python benchmarks/state_scaling.py
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/rescore.py --leads 2000

schema: $(DEMO_STAMP)
	$(BIN)/leadscore schema --output rules/leadscore.schema.json

clean:
	rm -rf $(VENV) .venv-sam .dynamodb-local .pytest_cache .hypothesis .ruff_cache
