# vpp task runner. Every recipe CI uses is one a developer can run.
#   make develop   build the Rust extension into .venv (CI: yes, via test)
#   make test      install everything the tests need, start servers, run all tests (CI: yes)
#   make run       install and run the main job on the embedded default
#   make lint      cargo fmt --check, clippy -D warnings, ruff (CI: yes)
#   make bench     benchmarks only, with figures (CI: yes, inside test)
#   make services-up / services-down   start/stop Kafka and InfluxDB on 127.0.0.1
#   make chromium  install Debian's chromium for the report screenshot test (CI: yes, via test)

SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python

.PHONY: venv install develop run test lint fmt bench cargo-test services-up services-down chromium clean

$(VPY):
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

venv: $(VPY)

# Editable install with every extra the tests need; builds the Rust extension.
install: $(VPY)
	$(VPY) -m pip install -q maturin
	$(VPY) -m pip install -q -e '.[test]'

# Rebuild only the extension (fast path while developing); serialised by flock
# because several shells may build at once.
develop: $(VPY)
	flock /tmp/vpp-build.lock $(VENV)/bin/maturin develop --release -q

# Install the package with its runtime extras (no test tools) and run the
# main job on the embedded default: the grid twin into ./vpp-data/store.sqlite.
run: $(VPY)
	$(VPY) -m pip install -q maturin
	$(VPY) -m pip install -q -e '.[all]'
	$(VENV)/bin/vpp run

cargo-test:
	cargo test --manifest-path core_rs/Cargo.toml -q

lint: $(VPY)
	cargo fmt --all -- --check
	cargo clippy --manifest-path core_rs/Cargo.toml --all-targets --features python -- -D warnings
	cargo clippy --manifest-path core_rs/Cargo.toml --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests bench
	$(VENV)/bin/ruff format --check python tests bench

fmt: $(VPY)
	cargo fmt --all
	$(VENV)/bin/ruff format python tests bench
	$(VENV)/bin/ruff check --fix python tests bench

services-up:
	bash scripts/services/up.sh

# Needs root or sudo; without them the screenshot test is skipped (outside CI only).
chromium:
	bash scripts/install_chromium.sh || echo "chromium not installed: the report screenshot test skips outside CI"

services-down:
	bash scripts/services/down.sh

# The README's test command. pytest's exit code 5 (no tests collected) fails.
test: install lint cargo-test services-up chromium
	set -o pipefail; rc=0; \
	$(VPY) -m pytest -q --benchmark-columns=median,ops,rounds --benchmark-sort=name \
		--benchmark-json=bench-results.json || rc=$$?; \
	bash scripts/services/down.sh || true; \
	if [ -s bench-results.json ]; then $(VPY) -m bench.summarize bench-results.json || true; fi; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# Benchmarks only; prints the README's table (medians and same-run ratios).
bench: $(VPY)
	$(VPY) -m pytest -q bench --benchmark-columns=median,ops,rounds --benchmark-sort=name \
		--benchmark-json=bench-results.json
	$(VPY) -m bench.summarize bench-results.json

clean:
	rm -rf target build dist .pytest_cache .benchmarks
