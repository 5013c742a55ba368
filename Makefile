# ffwatt: `make demo` runs the stack on the sample results; `make test` proves it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.ffwatt-installed

.PHONY: help venv system-deps test unit lint dashboards generate check-generated demo bench up down clean

help:
	@echo "make demo        exporters on the sample results + local VictoriaMetrics; checks every panel"
	@echo "make test        virtualenv, system packages (as root on Debian), all tests"
	@echo "make dashboards  regenerate dashboards, scrape config, alert rules, docs from the catalog"
	@echo "make lint        ruff"
	@echo "make bench       benchmarks; figures in bench/results/"
	@echo "make up / down   the whole stack with docker compose"

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[runner,test]'
	touch $@

venv: $(INSTALLED)

system-deps:
	bash scripts/install-system-deps.sh

test: venv system-deps
	$(PY) -m pytest

unit: venv
	$(PY) -m pytest tests/unit

lint: venv
	$(PY) -m ruff check .

# Every generated artefact, from the catalog, by one command.
dashboards generate: venv
	$(PY) -m scripts.generate

demo: venv system-deps
	$(PY) -m scripts.demo

bench: venv system-deps
	$(PY) -m bench

up:
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .demo
