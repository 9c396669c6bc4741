# syntax=docker/dockerfile:1
# vpp in a container: `vpp` is the entrypoint, so arguments are a vpp command.
#   docker build -t vpp .
#   docker run --rm vpp run --days 1 --quiet
#   docker run --rm -p 127.0.0.1:9108:9108 vpp consume --brokers HOST:9092 \
#       --metrics-port 9108 --metrics-host 0.0.0.0
# deploy/docker-compose.yml runs it with Kafka, InfluxDB and Grafana.

ARG RUST_VERSION=1.95
ARG PYTHON_VERSION=3.11

# -- build: the wheel (Rust core + Python package) with maturin ----------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/maturin \
    && /opt/maturin/bin/pip install --no-cache-dir "maturin>=1.7,<2"
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY core_rs ./core_rs
COPY python ./python
# abi3 wheel: one build serves every CPython >= 3.11.
RUN /opt/maturin/bin/maturin build --release --locked --strip --out /dist

# -- runtime: python slim with the wheel, as a non-root user --------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# gcc + libc6-dev: vpp compiles a model's trees to a shared library once per
#   model (cached); without a compiler it falls back to XGBoost, slower.
# libgomp1: XGBoost's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 vpp \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin vpp
COPY --from=build /dist/ /tmp/dist/
RUN pip install --no-cache-dir "$(find /tmp/dist -name 'vpp-*.whl' | head -n 1)[all]" \
    && rm -rf /tmp/dist

WORKDIR /app
COPY models ./models
ENV PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    VPP_MODEL=/app/models/default \
    VPP_CACHE_DIR=/app/cache \
    VPP_STORE=/data/store.sqlite
RUN mkdir -p /app/cache /data && chown 10001:10001 /app/cache /data
USER 10001:10001
# Compile the shipped model now, so the service starts on the fast path.
RUN vpp compile /app/models/default --quiet --tune-twin-days 0

VOLUME ["/data"]
# 9108: Prometheus metrics (--metrics-port); 8000: MCP over HTTP (vpp mcp --transport http).
EXPOSE 9108 8000
ENTRYPOINT ["vpp"]
CMD ["--help"]
