# gossipsim developer commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test bench proto asyncapi lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

# The main job: the quickstart simulation, results under ./results.
demo: install
	$(BIN)/gossipsim run examples/quickstart.yaml --out results

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/engine_bench.py

proto: install
	$(BIN)/python scripts/gen_proto.py

asyncapi: install
	$(BIN)/python scripts/gen_asyncapi.py

lint: install
	$(BIN)/ruff check services tests bench scripts
	$(BIN)/ruff format --check services tests bench scripts

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
