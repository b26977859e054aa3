# The two commands of the README: `make demo` and `make test`. Both set up what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first: a plain `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

# System packages the tests drive for real: Chromium (explorer tests), a Java runtime (HermiT)
# and Virtuoso (the second SPARQL server the store suite runs against).
system:
	@if ! command -v chromium >/dev/null || ! command -v java >/dev/null || ! command -v virtuoso-t >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium default-jre-headless virtuoso-opensource-7-bin >/dev/null; \
	  else echo "install chromium, a Java runtime and Virtuoso (sudo apt-get install chromium default-jre-headless virtuoso-opensource-7-bin)"; fi; \
	fi

# node-wot (Eclipse Thingweb), the WoT consumer tests/registry/test_tdd_hardening.py drives against the
# directory, installed into .node/ (ignored); without npm that test is skipped.
NODE_WOT := .node/node_modules/@node-wot/core/package.json
$(NODE_WOT):
	@if command -v npm >/dev/null; then npm install --prefix .node --no-audit --no-fund --silent @node-wot/core@0.9.2 @node-wot/binding-http@0.9.2; \
	else echo "npm not found: the node-wot test will be skipped (install Node.js and npm)"; fi

node-wot: $(NODE_WOT)

demo: $(VENV)/.installed
	$(BIN)/arachne --store demo-store demo

test: $(VENV)/.installed system node-wot
	$(BIN)/python -m pytest

.PHONY: demo test system node-wot
