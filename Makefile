# Developer and CI entry points. `make test` is what CI runs first; see .ci/run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: pyproject.toml newer than it means reinstall.
# A missing or broken .venv (no pip, e.g. python3-venv was absent) is recreated.
STAMP := $(VENV)/.installed

export PIP_NO_INPUT := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv test test-postgres demo lint proto

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Compile once: with PYTHONDONTWRITEBYTECODE set, every run would recompile the libraries.
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib bot integrations scoring >/dev/null || true
	touch $(STAMP)

test: venv
	$(BIN)/python -m pytest -q -n 2
	$(BIN)/ruff check .
	$(BIN)/mypy

# The storage tests again, on a throwaway PostgreSQL (installed with apt when missing).
test-postgres: venv
	bash .ci/with-postgres $(BIN)/python -m pytest -q -m db

demo: venv
	$(BIN)/icpbot demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The Pub/Sub API's stubs, from Salesforce's published pubsub_api.proto (CC0), kept in the tree.
proto: venv
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \
		integrations/pubsub/pubsub_api.proto
