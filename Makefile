# Two entry points for a fresh machine: `make demo` runs the sample traffic through the Lambda
# handlers on a local AWS stand-in; `make test` installs what the tests need and runs them all.
# The Lambda runtime is python3.13; we use it when present and fall back to python3.

PYENV_ROOT ?= $(HOME)/.pyenv
ifndef PYTHON
PYTHON := $(shell for p in python3.13 $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13) \
	python3.12 python3.11 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then echo $$p; break; fi; done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench schema clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadscore validate rules
	$(BIN)/leadscore demo

test: $(STAMP)
	./scripts/dynamodb-local.sh
	./scripts/sam-cli.sh $(BIN)/python
	$(BIN)/ruff check functions tests benchmarks
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_vs_peers.py
	$(BIN)/python benchmarks/cold_start.py

schema: $(STAMP)
	$(BIN)/leadscore schema --output rules/leadscore.schema.json

clean:
	rm -rf $(VENV) .venv-sam .dynamodb-local .pytest_cache .hypothesis .ruff_cache
