# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow lint bench clean

setup: $(STAMP)

# Re-install only when the package metadata or the pinned versions change (idempotent).
# constraints.txt pins the tested versions (torch from this machine's local wheel).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: setup
	$(BIN)/python -m loopthink.demo $(DEMO_ARGS)

test: setup lint
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

lint: setup
	$(BIN)/ruff check src bench scripts tests
	$(BIN)/ruff format --check src bench scripts tests

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) runs/demo .pytest_cache
