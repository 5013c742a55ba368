# ffwatt: `make demo` runs the stack on the sample results; `make test` proves it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.ffwatt-installed

.PHONY: help venv install system-deps test unit lint dashboards generate check-generated demo bench up down clean \
	vm-up vm-up-build images images-multiarch

help:
	@echo "make demo        exporters on the sample results + local VictoriaMetrics; checks every panel"
	@echo "make install     the virtualenv, and \`ffwatt\` linked into $(BINDIR) (on PATH in most shells)"
	@echo "make test        virtualenv, system packages (as root on Debian), all tests"
	@echo "make dashboards  regenerate dashboards, scrape config, alert rules, docs from the catalog"
	@echo "make lint        ruff"
	@echo "make bench       benchmarks; figures in bench/results/"
	@echo "make up / down   the whole stack with docker compose"
	@echo "make vm-up       VictoriaMetrics, vmalert, Prometheus (comparison) and Grafana only"
	@echo "make vm-up-build build the images and start everything (exporters, VictoriaMetrics, Prometheus, Grafana)"
	@echo "make images      offline: Debian base, wheelhouse, exporter, runner and server images (ARCH=arm64 too)"
	@echo "make images-multiarch  docker buildx for $(PLATFORMS)"

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[runner,test]'
	touch $@

venv: $(INSTALLED)

# `ffwatt` on PATH without activating the virtualenv: a link to .venv/bin/ffwatt, whose first
# line names the virtualenv's Python. A link, not pipx: it runs this checkout's editable install
# with every extra, so it follows `git pull`; pipx would install a second, frozen copy.
BINDIR ?= $(HOME)/.local/bin
install: venv
	mkdir -p $(BINDIR)
	ln -sfn $(abspath $(VENV))/bin/ffwatt $(BINDIR)/ffwatt
	@case ":$$PATH:" in *":$(BINDIR):"*) echo "ffwatt: $(BINDIR)/ffwatt";; \
	  *) echo "ffwatt: $(BINDIR)/ffwatt; $(BINDIR) is not on PATH: add it (export PATH=\"$(BINDIR):\$$PATH\")";; esac

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

# Compose v2 (`docker compose`) where present, else docker-compose 1.29; both read the file.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)

up:
	$(COMPOSE) up -d --build

# The older stack's targets: the storage and dashboards alone, or everything built.
vm-up:
	$(COMPOSE) --profile comparison up -d victoriametrics vmalert prometheus grafana

vm-up-build:
	$(COMPOSE) --profile comparison up -d --build

down:
	$(COMPOSE) --profile comparison --profile nvidia down

# Offline images (no registry, no package index): scripts/images.py; see docs/deployment.md.
ARCH ?=
images: venv
	$(PY) -m scripts.images all $(if $(ARCH),--arch $(ARCH))

# Multi-arch exporter image with buildx (from python:3.11-slim, online). A multi-platform
# result cannot be loaded into the classic image store: push it (BUILDX_OUTPUT=--push with
# IMAGE=registry/name:tag) or keep the OCI archive.
PLATFORMS ?= linux/amd64,linux/arm64
IMAGE ?= ffwatt/exporters:local
BUILDX_OUTPUT ?= --output type=oci,dest=dist/ffwatt-exporters-multiarch.oci.tar
images-multiarch:
	mkdir -p dist
	docker buildx build --platform $(PLATFORMS) -t $(IMAGE) $(BUILDX_OUTPUT) .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .demo
