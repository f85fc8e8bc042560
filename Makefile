# The two commands of README.rst live here: `make run` and `make test`.
# Each builds the project's own virtual environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The push tests' Web Push emulator (npm), pinned by its lockfile.
NPM_STAMP := tests/push/node_modules/.installed

.PHONY: run test bench schema clean

$(STAMP): setup.cfg pyproject.toml tools/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]' -e ./tools
	touch $@

$(NPM_STAMP): tests/push/package.json tests/push/package-lock.json
	cd tests/push && npm ci --no-audit --no-fund
	touch $@

run: $(STAMP)
	$(BIN)/python bin/chatnode serve

test: $(STAMP) $(NPM_STAMP)
	$(BIN)/python bin/testdb run -- $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bin/chatbench all

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis tests/push/node_modules
