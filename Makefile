# The two commands of the README: `make run` and `make test`. Each sets up .venv on first use.
SHELL := /bin/sh
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.infergy-installed
PYTHON ?= $(shell sh tools/find-python.sh)
REPORT ?= report

.PHONY: run test test-slow venv clean

venv: $(STAMP)

$(VPY):
	@if [ -z "$(PYTHON)" ]; then sh tools/find-python.sh >/dev/null; exit 1; fi
	@echo "creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(VPY) pyproject.toml
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

# The main job on the shipped data: validate the data, then the paper replication (v2 and v1), tables to
# stdout, figures and summaries to report/.
run: $(STAMP)
	@mkdir -p $(REPORT)
	$(VENV)/bin/infergy data summary > $(REPORT)/data-summary.txt
	$(VENV)/bin/infergy replicate-paper --version v2 --out $(REPORT)/paper-v2
	$(VENV)/bin/infergy replicate-paper --version v1 --out $(REPORT)/paper-v1

test: $(STAMP)
	$(VPY) -m pytest -q

test-slow: $(STAMP)
	$(VPY) -m pytest -q --run-slow

clean:
	rm -rf $(VENV) $(REPORT) .pytest_cache .hypothesis
