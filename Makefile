# sqlvm.backup — developer entry points. `make deps` once, then `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(abspath build/collections)
# pytest-xdist workers. CI has 2 cores, but much of the integration tests' time is waiting (Retry-After, long-running
# operations, the one-second timestamps of backup blob names), so three workers keep both cores busy.
JOBS ?= 3

.PHONY: deps deps-lowest test test-extended test-lowest unit sim-tests integration sanity lint demo bench clean ee

deps:
	bash tests/utils/deps.sh
	bash tests/utils/deps_lowest.sh $(LOWEST_VENV)

## test: everything CI checks (the README's test command).
test: unit sim-tests integration sanity lint

## test-lowest: the unit tests and the Azure integration tests with the LOWEST azure-core, azure-mgmt-core,
## azure-identity and pyodbc requirements.txt allows (its lower bounds, pinned, in $(LOWEST_VENV)): catches a use of
## azure-core internals (transport.py) that an older allowed release lacks. Modules run from that environment too.
## The integration files are those that exercise azure-core and azure-identity themselves - every Azure module once,
## sign-in and its errors, the token cache, long-running operations, the transport and proxies, the deadline - so CI
## stays within about 5 minutes; `make test-lowest LOWEST_INTEGRATION=tests/integration/azure` runs the whole folder
## (about 13 minutes on 2 cores).
LOWEST_VENV ?= build/venv-lowest
LOWEST_INTEGRATION ?= $(addprefix tests/integration/azure/,test_awx_environment.py test_azure_messages.py \
  test_azure_token_cache.py test_task_timeout.py test_transport_proxy.py)
deps-lowest:
	bash tests/utils/deps_lowest.sh $(LOWEST_VENV)

# Two runs: tests/unit and tests/integration have test files of the same name.
test-lowest: deps-lowest
	PATH=$(abspath $(LOWEST_VENV))/bin:$$PATH $(LOWEST_VENV)/bin/python -m pytest -q -n $(JOBS) -p no:cacheprovider tests/unit
	PATH=$(abspath $(LOWEST_VENV))/bin:$$PATH SQLVM_TEST_VENV=$(abspath $(LOWEST_VENV)) \
	  $(LOWEST_VENV)/bin/python -m pytest -q -n $(JOBS) -p no:cacheprovider $(LOWEST_INTEGRATION)

unit:
	$(PY) -m pytest -q tests/unit

# Exit status 5 means "no tests collected": allowed only while a suite is still empty.
sim-tests:
	$(PY) -m pytest -q -n $(JOBS) tests/sim/tests

integration:
	$(PY) -m pytest -q -n $(JOBS) -m "not extended" tests/integration

## test-extended: the fleet-scale integration tests (marker `extended`: throttling waits, generated fleets), which CI runs after
## `make test` (.ci/run) so that make test stays short.
test-extended:
	$(PY) -m pytest -q -n $(JOBS) -m extended tests/integration

# ansible-test sanity with no ignore file, on the Python versions present (tests/utils/sanity.sh).
sanity:
	bash tests/utils/sanity.sh

# ansible-lint at the production profile (.ansible-lint) and the changelog fragments.
lint:
	$(VENV)/bin/ansible-lint --nocolor
	cd $(CURDIR) && $(VENV)/bin/antsibull-changelog lint

## demo: install, start the test world, converge it, back up + restore, print the readiness report, stop.
demo: deps
	bash tests/integration/fleet/demo.sh

# Median wall time and HTTP requests per no-op task of each module (cases in bench/cases/*.yml).
bench:
	$(PY) bench/run.py
	$(PY) bench/bench_sql.py
	$(PY) bench/fleet.py

clean:
	rm -rf build tests/output .sim-state

# SQL modules: per-task wall time of no-op runs against the world's SQL Server (budget 0.35 s).
bench-sql:
	$(PY) bench/bench_sql.py

## ee: an execution environment build context (meta/ee/execution-environment.yml) in $(EE_DIR)/context, with the
## collection built from this checkout and Microsoft ODBC Driver 18; no network. Then build the image with
## `podman build -t sqlvm-backup-ee $(EE_DIR)/context` (or docker), which downloads.
EE_DIR ?= build/ee
ee:
	rm -rf $(EE_DIR)
	mkdir -p $(EE_DIR)/dist
	$(VENV)/bin/ansible-galaxy collection build --force --output-path $(EE_DIR)/dist $(CURDIR)
	cp $(EE_DIR)/dist/sqlvm-backup-*.tar.gz $(EE_DIR)/sqlvm-backup.tar.gz
	cp meta/ee/execution-environment.yml meta/ee/requirements.yml $(EE_DIR)/
	$(VENV)/bin/ansible-builder create -f $(EE_DIR)/execution-environment.yml --context $(EE_DIR)/context \
	  --output-filename Containerfile
