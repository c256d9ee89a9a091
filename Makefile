# `make test` is the one command that sets up and checks everything: it builds .venv from the
# pinned requirements (once, and again when a requirements file changes) and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: test venv clean

venv: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

test: $(INSTALLED)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
