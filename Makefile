# Two entry points, both self-contained on a machine with only python3:
#   make report   set up .venv, run the workflow (results/report.html)
#   make test     set up .venv, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: report test lint format bench clean

# pip compiles the packages' bytecode on one core (about 20 s of a 45 s install here);
# compileall does the same files with a worker per core.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -r requirements.lock
	$(BIN)/python -c "import compileall, sys, sysconfig; \
	sys.exit(not compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=1, workers=0))"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/snakemake

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/ruff format --check src scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format src scripts tests benchmarks
	$(BIN)/ruff check --fix src scripts tests benchmarks
	$(BIN)/snakefmt Snakefile workflow

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf results logs .snakemake
