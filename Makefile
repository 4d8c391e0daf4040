# The two commands of the README: `make run` and `make test`. Each sets up .venv on first use.
SHELL := /bin/sh
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.infergy-installed
PYTHON ?= $(shell sh tools/find-python.sh)
REPORT ?= report

.PHONY: run test test-fp-path test-slow posterior impacts-posterior bench serve browser venv clean

venv: $(STAMP)

$(VPY):
	@if [ -z "$(PYTHON)" ]; then sh tools/find-python.sh >/dev/null; exit 1; fi
	@echo "creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(VPY) pyproject.toml
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

# The main job on the shipped data: validate the data, the paper replication (v2 and v1), the fitted posterior's
# answer for the paper's setting next to paper mode, two example estimates, and the report (report/index.html,
# report/report.md: the answer, fit health, what was learned, pathways, fleet, sensitivity, public estimates).
run: $(STAMP)
	@mkdir -p $(REPORT)
	$(VENV)/bin/infergy data summary > $(REPORT)/data-summary.txt
	$(VENV)/bin/infergy replicate-paper --version v2 --out $(REPORT)/paper-v2
	$(VENV)/bin/infergy replicate-paper --version v1 --out $(REPORT)/paper-v1
	$(VENV)/bin/infergy compare-paper --out $(REPORT)/bayes-vs-paper.md
	$(VENV)/bin/infergy estimate --model "Llama 3.1 405B" --gpu H100 --regime traditional
	$(VENV)/bin/infergy estimate --model "Llama 3.1 405B" --gpu H100 --regime reasoning --agent-steps 3
	$(VENV)/bin/infergy report --out $(REPORT)
	@echo "open $(REPORT)/index.html (or read $(REPORT)/report.md)"

# Two workers, one test file each at a time (module fixtures such as the small fit run once); README "Tests" has
# the measured time, and the run ends with its 25 slowest tests. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
test: $(STAMP) browser
	$(VPY) -m pytest -q $(XDIST) --durations=25

# The tests again on a second floating-point path: XLA's CPU code held to SSE4.2 (narrower vectors, other reduction
# orders, so other rounding; the flag's values are x86's: on ARM set FP_PATH_FLAGS). No test may depend on the bits
# one processor gives. FP_PATH_TESTS: the files to run (default all; CI runs the samplers' and the fits' files).
FP_PATH_FLAGS ?= --xla_cpu_max_isa=SSE4_2
FP_PATH_TESTS ?=
test-fp-path: $(STAMP)
	XLA_FLAGS="$(FP_PATH_FLAGS)" $(VPY) -m pytest -q $(XDIST) $(FP_PATH_TESTS)

test-slow: $(STAMP) browser
	$(VPY) -m pytest -q --run-slow $(XDIST)

# Chromium and its driver for the calculator's browser tests (Debian's chromium and chromium-driver), installed
# when missing and this user may (root, or sudo without a password); otherwise those tests are skipped, with a note.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  SUDO="sudo -n"; else SUDO=none; fi; \
	if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver (Debian packages) for the browser tests"; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: no chromium/chromedriver and no way to install them here: the browser tests will be skipped"; fi

# The calculator and the HTTP API on http://127.0.0.1:8000/ (PORT=... to change); Ctrl-C stops it.
PORT ?= 8000
serve: $(STAMP)
	$(VENV)/bin/infergy serve --port $(PORT)

# Refit the default posterior on the shipped data and replace the copy the package ships (after a data change).
posterior: $(STAMP)
	@mkdir -p $(REPORT)
	$(VENV)/bin/infergy fit --out $(REPORT)/posterior.nc --thin-out inference/default_posterior.nc --no-progress

# Refit the carbon and water sub-model (grid zones, off-site water, WUE) after a change to its tables (~2 min).
impacts-posterior: $(STAMP)
	@mkdir -p $(REPORT)
	$(VENV)/bin/infergy fit-impacts --out $(REPORT)/impacts_posterior.nc --thin-out inference/impacts_posterior.nc

# Speed, measured in this run: propagation query-samples/s of the JAX path against plain NumPy (and against JAX on
# the CPU where a GPU is present), paper mode at 2e6 samples per model against plain NumPy, then the default fit's
# bulk ESS per second against the diagonal metric (~15 min on 2 cores).
# benchmarks/gpu_check.sh is the one-shot GPU run behind README "Speed".
bench: $(STAMP)
	$(VPY) benchmarks/bench_propagation.py
	$(VPY) benchmarks/bench_serve.py
	$(VPY) benchmarks/bench_paper.py
	$(VPY) benchmarks/bench_fit.py --against diagonal

clean:
	rm -rf $(VENV) $(REPORT) .pytest_cache .hypothesis
