# Two commands for a newcomer: `make demo` and `make test` (README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/pytest

.PHONY: demo test test-sqlite test-postgres test-stress lint bench bench-quick clean install

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/secki demo

# Lint (ruff, ruff format, mypy --strict, import-linter's layers: docs/architecture.md), the whole suite on the embedded SQLite database,
# then every database test again on a throwaway PostgreSQL server started from the machine's
# binaries. With
# SECKI_REQUIRE_POSTGRES=1 (CI) a missing server is a failure, otherwise a printed skip.
# The three run in order in a sub-make; the total wall time is printed at the end, whether
# they pass or not, and `make test` fails when any of them fails.
test: $(STAMP)
	@start=$$(date +%s); status=0; \
	$(MAKE) --no-print-directory lint test-sqlite test-postgres || status=$$?; \
	echo "make test: total $$(( $$(date +%s) - start )) s$$([ $$status = 0 ] || echo ', FAILED')"; \
	exit $$status

test-sqlite: $(STAMP)
	$(PYTEST) $(PYTEST_ARGS)

test-postgres: $(STAMP)
	$(BIN)/python -m secki.devtools.pgserver -- $(PYTEST) -m database $(PYTEST_ARGS)

# The suite under CPU pressure (stress-ng --cpu 4, or busy processes): 3 SQLite runs, 3
# PostgreSQL runs and 20 runs of the group-commit tests; STRESS_ARGS="--sqlite 1 …" to change.
test-stress: $(STAMP)
	$(BIN)/python -m secki.devtools.stress $(STRESS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/secki
	$(BIN)/lint-imports

# schemathesis (pinned) against the production server, anonymously and with a superuser's
# token, on SQLite and then on a throwaway PostgreSQL server: at least 10,000 requests on each,
# and no server error or conformance failure (src/secki/devtools/fuzz.py; FUZZ_ARGS='--examples
# N' to change the examples per operation). The wall time is printed.
.PHONY: fuzz
fuzz: $(STAMP)
	@start=$$(date +%s); status=0; \
	$(BIN)/python -m secki.devtools.fuzz --database sqlite $(FUZZ_ARGS) || status=$$?; \
	$(BIN)/python -m secki.devtools.fuzz --database postgres $(FUZZ_ARGS) || status=$$?; \
	echo "make fuzz: total $$(( $$(date +%s) - start )) s$$([ $$status = 0 ] || echo ', FAILED')"; \
	exit $$status

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The standalone verifier, a stdlib zipapp holding secki/__init__.py, secki.tlog and
# secki.verifier only: `python3 dist/secki-verify.pyz URL_OR_DIR` where cryptography is installed.
.PHONY: verifier
verifier: $(STAMP)
	$(BIN)/python -m secki.verifier.pyz dist/secki-verify.pyz

# Acknowledged => durable: PostgreSQL and then the app server killed with SIGKILL at random
# moments under API load, 20 rounds of each (~10 minutes; CRASH_ARGS='--rounds 5' for fewer).
.PHONY: test-crash
test-crash: $(STAMP)
	$(BIN)/python bench/crash_test.py $(CRASH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
