# The two commands: `make demo` and `make test`. Both create the virtual environment when it is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CUSTOMERS ?= 2000
SEED ?= 42

export HOURGLASS_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(HOURGLASS_HOME)/dagster

.PHONY: demo test soak dev lint prepare bench clean chromium java

$(BIN)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

## demo: sample data -> nightly pipeline (headless) -> summary; HOURGLASS_ENGINE=spark builds the middle on Spark
demo: $(BIN)/.installed $(if $(filter spark,$(HOURGLASS_ENGINE)),java)
	$(BIN)/hourglass demo --customers $(CUSTOMERS) --seed $(SEED)

## test: lint, then the whole test suite (the report test needs Debian's chromium: installed when missing)
test: $(BIN)/.installed lint chromium java
	$(BIN)/python -m pytest

chromium:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && \
		{ apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }; }; } || \
		{ echo "chromium is missing and could not be installed: the browser test will fail"; }

## java: Spark (HOURGLASS_ENGINE=spark, the tests marked spark) runs on Java 17 from Debian, installed when missing
java:
	@command -v java >/dev/null || { command -v apt-get >/dev/null && \
		{ apt-get install -y -q openjdk-17-jre-headless >/dev/null 2>&1 || \
		{ apt-get update -q && apt-get install -y -q openjdk-17-jre-headless; }; }; } || \
		{ echo "java is missing and could not be installed: the Spark tests will fail"; }

## soak: the long reliability runs (a thousand mutated landing files, more kill points)
soak: $(BIN)/.installed chromium
	HYPOTHESIS_PROFILE=soak HOURGLASS_SOAK=1 $(BIN)/python -m pytest tests/test_fuzz_landing.py tests/test_crash_resume.py tests/test_activation.py

lint: $(BIN)/.installed
	$(BIN)/ruff check hourglass tests bench
	$(BIN)/ruff format --check hourglass tests bench
	$(BIN)/sqlfluff lint --disable-progress-bar dbt_project/models

prepare: $(BIN)/.installed
	$(BIN)/hourglass prepare

## dev: the Dagster UI on the same data, http://127.0.0.1:3000
dev: prepare
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## bench: the benchmarks in bench/ (see docs/performance.md)
bench: $(BIN)/.installed
	$(BIN)/python -m bench.generator --customers 100000 1000000
	$(BIN)/python -m bench.ingest --customers 1000000 --repeats 3
	$(BIN)/python -m bench.ga4 --customers 1000000
	$(BIN)/python -m bench.activation --customers 100000
	$(BIN)/python -m bench.nightly --customers 1000000
	$(BIN)/python -m bench.middle --customers 1000000

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
