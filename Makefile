# `make test` is the one command that sets up and checks everything: it builds .venv from the
# pinned requirements (once, and again when a requirements file changes) and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: test venv clean localstack-start localstack-stop localstack-status

venv: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

test: $(INSTALLED)
	$(PY) -m pytest

# LocalStack in host mode on 127.0.0.1 (LOCALSTACK_PORT, default 4566); the end-to-end tests
# start and stop their own instance, these are for trying the product by hand.
localstack-start:
	scripts/localstack.sh start

localstack-stop:
	scripts/localstack.sh stop

localstack-status:
	scripts/localstack.sh status

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .localstack
