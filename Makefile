# Two commands on a fresh machine (see README):  make demo   |   make test
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= demo-output

$(BIN)/tissuefate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/tissuefate

.PHONY: install demo test test-all validate bench lint clean
install: $(BIN)/tissuefate

demo: install
	$(BIN)/tissuefate demo --out $(OUT)

test: install
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q -m "not slow and not gpu and not browser" --doctest-modules src tests

test-all: install
	$(BIN)/python -m pytest -q --doctest-modules src tests

validate: install
	$(BIN)/tissuefate validate --out validation-output

bench: install
	$(BIN)/tissuefate bench --out bench.json

lint: install
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) demo-output validation-output bench.json
