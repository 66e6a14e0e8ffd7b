# The two commands: `make demo` and `make test`. Both create the virtual environment when it is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CUSTOMERS ?= 2000
SEED ?= 42

export HOURGLASS_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(HOURGLASS_HOME)/dagster

.PHONY: demo test check soak dev lint prepare bench clean chromium postgresql java

$(BIN)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

## demo: sample data -> nightly pipeline (headless) -> summary; HOURGLASS_ENGINE=spark builds the middle on Spark
demo: $(BIN)/.installed $(if $(filter spark,$(HOURGLASS_ENGINE)),java)
	$(BIN)/hourglass demo --customers $(CUSTOMERS) --seed $(SEED)

# Test files run side by side, one per CPU (pytest-xdist); a file's tests stay in one process, so its
# module-scoped fixtures are built once; the longest files start first (tests/conftest.py). PYTEST_WORKERS=0
# runs them all in this process.
PYTEST_WORKERS ?= auto
XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)

## test: lint, then the whole test suite but the soak runs (the report test needs Debian's chromium, the
## overlapping-runs test Debian's PostgreSQL, the Spark test Java: all installed when missing)
test: $(BIN)/.installed lint chromium postgresql java
	$(BIN)/python -m pytest $(XDIST)

## check: lint and the fast tests (no pipeline run, no subprocess-heavy scenario), for the edit-test loop
check: $(BIN)/.installed lint
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow and not soak and not spark"

# $(call debian,<a command that finds the tool>,<Debian package>,<what fails without it>)
debian = @$(1) >/dev/null 2>&1 || { command -v apt-get >/dev/null && \
	{ apt-get install -y -q $(2) >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q $(2); }; }; } || \
	{ echo "$(2) is missing and could not be installed: $(3)"; }

chromium:
	$(call debian,command -v chromium,chromium,the browser test will fail)

# Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin; the tests start their own server.
postgresql:
	$(call debian,ls /usr/lib/postgresql/*/bin/pg_ctl,postgresql,the PostgreSQL storage test will fail)

## java: Spark (HOURGLASS_ENGINE=spark, the tests marked spark) runs on Java 17 from Debian
java:
	$(call debian,command -v java,openjdk-17-jre-headless,Spark and its tests will fail)

## soak: the long runs: the scenarios `make test` leaves out (marker soak), then the fault tests at soak strength
## (a thousand mutated landing files, more kill points)
soak: $(BIN)/.installed chromium postgresql java
	HYPOTHESIS_PROFILE=soak HOURGLASS_SOAK=1 $(BIN)/python -m pytest -m soak
	HYPOTHESIS_PROFILE=soak HOURGLASS_SOAK=1 $(BIN)/python -m pytest tests/test_fuzz_landing.py tests/test_crash_resume.py tests/test_activation.py

lint: $(BIN)/.installed
	$(BIN)/ruff check hourglass tests bench
	$(BIN)/ruff format --check hourglass tests bench
	$(BIN)/sqlfluff lint --disable-progress-bar dbt_project/models

prepare: $(BIN)/.installed
	$(BIN)/hourglass prepare

## dev: the Dagster UI on the same data, http://127.0.0.1:3000 (`dg dev`: the project in pyproject.toml; the
## instance in DAGSTER_HOME, where prepare copies dagster.yaml if it has none); PORT= another port
PORT ?= 3000
dev: prepare
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg dev -h 127.0.0.1 -p $(PORT)

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
