# One image for every ffwatt exporter; the command picks which:
#   docker build -t ffwatt/exporters:local .
#   docker run --rm -p 9502:9502 -v "$PWD/test_results:/data/results:ro" \
#       -e FFWATT_RESULTS_DIR=/data/results ffwatt/exporters:local results
# The entrypoint is `ffwatt exporter`: the command is an exporter's name and flags, or `agent`.
# docker-compose.yml (rendered from the catalog) runs each exporter from it.
#
# Offline (no registry, no package index): `make images` builds a Debian base standing in
# for python:3.11-slim and fills wheelhouse/, then builds this file with
#   --network none --build-arg BASE_IMAGE=<that base> --build-arg PIP_NO_INDEX=1
# (scripts/images.py). wheelhouse/ is empty in a fresh clone, so a plain build uses the index.
# The base is pinned by digest (a tag moves); docs/deployment.md says how to update it.
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# Build stage: pip installs under /install, so the wheels and sources never reach a layer
# of the final image.
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# 1 (with the wheels in wheelhouse/) installs without reaching the package index
ARG PIP_NO_INDEX=0
# Only what the exporters need (see .dockerignore): the lower floors, the exporters and the
# `ffwatt` command (whose run and report say they are not in this image).
COPY pyproject.toml README.md /src/
COPY ffwatt/__init__.py ffwatt/__main__.py /src/ffwatt/
COPY ffwatt/catalog /src/ffwatt/catalog
COPY ffwatt/contract /src/ffwatt/contract
COPY ffwatt/common /src/ffwatt/common
COPY ffwatt/readers /src/ffwatt/readers
COPY ffwatt/energy /src/ffwatt/energy
COPY ffwatt/exporters /src/ffwatt/exporters
COPY ffwatt/cli /src/ffwatt/cli
COPY wheelhouse /wheelhouse
RUN PIP_FIND_LINKS=/wheelhouse pip install --root /install /src

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /install/ /
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ffwatt

USER 10001
WORKDIR /tmp
EXPOSE 9500 9501 9502 9503 9504 9505 9506 9600

# /health answers 503 when the exporter is failing. The port is FFWATT_PORT (compose
# sets it), else the catalog default of the exporter named on PID 1's command line.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; from ffwatt.catalog import EXPORTERS; \
args = open('/proc/1/cmdline', 'rb').read().decode().split(chr(0)); \
port = os.environ.get('FFWATT_PORT') or next(EXPORTERS[a].port for a in args if a in EXPORTERS); \
urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"

ENTRYPOINT ["ffwatt", "exporter"]
CMD ["--help"]
