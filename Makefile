# Two commands on a fresh machine: `make conformance` (the main job) and `make test`.
# Each creates .venv and installs the project into it first, once.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: conformance test test-fast clean

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

clean:
	rm -rf $(VENV) .hypothesis .pytest_cache
