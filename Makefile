# tnas-deploy: two commands do everything on a fresh machine.
#   make demo   set up .venv (CPython 3.10, all dependencies) and run the main job on the bundled digits model
#   make test   same set-up, then the test suite
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUILD := build

.PHONY: demo test setup bench fuzz netx-examples clean
setup: $(STAMP)

# Re-install only when the declared dependencies change.
$(STAMP): pyproject.toml scripts/find-python310.sh
	@set -e; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	  PY310=$$(bash scripts/find-python310.sh) || exit 1; \
	  echo "==> creating $(VENV) with $$PY310"; \
	  rm -rf $(VENV); "$$PY310" -m venv $(VENV); \
	fi; \
	echo "==> installing tnas-deploy and its dependencies into $(VENV) (first time: a few minutes, ~5 GB with torch)"; \
	$(PY) -m pip install --quiet --upgrade pip; \
	$(PY) -m pip install --quiet --progress-bar off -e ".[test]"; \
	touch $(STAMP)

demo: $(STAMP)
	@bash scripts/demo.sh

test: $(STAMP)
	@$(PY) -m pytest -q

# A long fuzzing run with fresh random examples (the test suite runs a few dozen fixed ones).
fuzz: $(STAMP)
	@TNAS_DEPLOY_FUZZ_EXAMPLES=$${TNAS_DEPLOY_FUZZ_EXAMPLES:-2000} TNAS_DEPLOY_FUZZ_RANDOM=1 $(PY) -m pytest -q tests/test_fuzz.py

bench: $(STAMP)
	@$(PY) benchmarks/compile_speed.py

# lava-dl's own example netx networks (tiny, mnist, PilotNet, ntidigits, PilotNet SDNN) against lava-dl's netx, with times.
netx-examples: $(STAMP)
	@$(PY) benchmarks/netx_examples.py --samples $${SAMPLES:-5}

clean:
	rm -rf $(BUILD) .pytest_cache
