# gossipsim developer commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-dev demo test bench proto asyncapi lint ruff typecheck imports clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Two installs into the same $(VENV): `install` what running gossipsim needs, for `make demo`
# (a simulation needs none of the development tools: about 80 packages and 1 GB fewer);
# `install-dev` adds the tools that test, check and generate ('.[dev]' in pyproject.toml). The
# second is a superset of the first, so the targets work in either order on one .venv.
install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

# The main job: the quickstart simulation, results under ./results.
demo: install
	$(BIN)/gossipsim run examples/quickstart.yaml --out results

test: install-dev
	$(BIN)/python -m pytest

bench: install-dev
	$(BIN)/python bench/engine_bench.py

proto: install-dev
	$(BIN)/python scripts/gen_proto.py

asyncapi: install-dev
	$(BIN)/python scripts/gen_asyncapi.py

# Every static check; CI runs it before the tests. Stops at the first failing check
# (`make -k lint` runs them all and still fails).
lint: ruff typecheck imports

ruff: install-dev
	$(BIN)/ruff check services tests bench scripts
	$(BIN)/ruff format --check services tests bench scripts

# mypy --strict on the package. The package `gossipsim` is the directory services/, which mypy
# cannot see through the editable install: it reads it through a link under build/ (see
# [tool.mypy] in pyproject.toml).
typecheck: install-dev
	mkdir -p build/typing
	ln -sfn ../../services build/typing/gossipsim
	$(BIN)/mypy

# The architecture as import contracts ([tool.importlinter] in pyproject.toml).
imports: install-dev
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
