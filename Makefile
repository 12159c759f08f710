# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

test: setup
	@$(PY) -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

demo: setup
	$(VENV)/bin/longlm sample-corpus $(DEMO_DIR)/raw --docs 60 --seed 7
	$(VENV)/bin/longlm build --input '$(DEMO_DIR)/raw/*' --output $(DEMO_DIR)/corpus
	$(VENV)/bin/longlm verify $(DEMO_DIR)/corpus
	$(VENV)/bin/longlm report $(DEMO_DIR)/corpus

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
