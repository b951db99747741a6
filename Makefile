# wirewatch: the two commands of the README, and what they build on.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STACK  := deploy/local/stack

.PHONY: demo test install install-dev stack-up stack-down stack-status lint typecheck bench quality dashboards

## make demo: the live demo on the local stack (Kafka, Elasticsearch, Prometheus, Alertmanager).
demo: install
	$(BIN)/wirewatch demo

## make test: start the local stack, run every test against it, stop the stack.
test: install-dev
	@$(STACK) up
	@set +e; $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ -z "$$KEEP_STACK" ]; then $(STACK) down; fi; exit $$rc

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "wirewatch needs Python 3.11+, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[dev,stanza]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

stack-up:
	$(STACK) up
stack-down:
	$(STACK) down
stack-status:
	$(STACK) status

lint: install-dev
	$(BIN)/ruff check streams tests bench grafana
typecheck: install-dev
	$(BIN)/mypy
bench: install-dev
	$(BIN)/python bench/tag_bench.py
quality: install-dev
	$(BIN)/python bench/quality.py
dashboards: install-dev
	$(BIN)/python -m grafana.build
