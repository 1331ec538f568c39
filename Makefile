# attestgate developer commands. Only Python 3.11+, pip and make are needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP_RUN  := $(VENV)/.installed-server
STAMP_DEV  := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench
PROTO_SRC  := $(wildcard proto/attestgate/v1/*.proto)

.PHONY: run test lint typecheck proto proto-check demo bench ci clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[server]'
	@touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[server,dev]'
	@touch $@ $(STAMP_RUN)

## run: start the gateway on embedded defaults (SQLite + dev keys under ./.attestgate, TLS on 127.0.0.1:50051)
##      LISTEN=HOST:PORT for another address (passed as --listen)
##      PORTAL=1 also installs the portal extra and serves the portal on https://127.0.0.1:8080
##      (PORTAL=HOST:PORT for another address)
STAMP_PORTAL := $(VENV)/.installed-portal
LISTEN ?= 127.0.0.1:50051
PORTAL ?=
PORTAL_LISTEN := $(if $(filter 1,$(PORTAL)),127.0.0.1:8080,$(PORTAL))

$(STAMP_PORTAL): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[server,portal]'
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN) $(if $(PORTAL),$(STAMP_PORTAL))
	$(BIN)/attestgate serve --listen $(LISTEN)$(if $(PORTAL_LISTEN), --portal $(PORTAL_LISTEN))

## test: the whole test suite
test: $(STAMP_DEV)
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff (check + format check)
lint: $(STAMP_DEV)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## typecheck: mypy strict
typecheck: $(STAMP_DEV)
	$(PY) -m mypy

## proto: regenerate the committed protobuf/gRPC code with the pinned tools
proto: $(STAMP_DEV)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(PY) -m grpc_tools.protoc -Iproto \
	  --python_out=proto --mypy_out=proto --grpc_python_out=proto --mypy_grpc_out=proto $(PROTO_SRC)

## proto-check: fail when the committed generated code is stale
proto-check: $(STAMP_DEV)
	@tmp=$$(mktemp -d) && mkdir -p $$tmp/attestgate/v1 && \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(PY) -m grpc_tools.protoc -Iproto \
	  --python_out=$$tmp --mypy_out=$$tmp --grpc_python_out=$$tmp --mypy_grpc_out=$$tmp $(PROTO_SRC) >/dev/null && \
	for f in $$tmp/attestgate/v1/*; do \
	  cmp -s $$f proto/attestgate/v1/$$(basename $$f) || { echo "stale generated code: proto/attestgate/v1/$$(basename $$f) (run make proto)"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated code is fresh"

## demo: play all four domains end to end
demo: $(STAMP_RUN)
	$(BIN)/attestgate demo

## bench: benchmarks (BENCH_QUICK=1 for a short run)
$(STAMP_BENCH): $(STAMP_DEV)
	$(PY) -m pip install --quiet -e '.[server,dev,bench]'
	@touch $@

bench: $(STAMP_BENCH)
	$(PY) -m bench

ci: lint typecheck proto-check test

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
