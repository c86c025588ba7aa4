# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/vultr-pipeline demo

test: $(BIN)/.installed
	$(BIN)/pytest -n 2 --cov=vultr_pipeline --cov-report=term --cov-fail-under=80

lint: $(BIN)/.installed
	$(BIN)/ruff check vultr_pipeline vultr_pipeline_tests
	$(BIN)/ruff format --check vultr_pipeline vultr_pipeline_tests

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache .coverage
