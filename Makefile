# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo

.PHONY: setup demo lint test bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	@$(PY) -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

demo: setup
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/longlm sample-corpus $(DEMO_DIR)/raw --docs 60 --seed 7
	$(VENV)/bin/longlm build --input '$(DEMO_DIR)/raw/*' --output $(DEMO_DIR)/corpus
	$(VENV)/bin/longlm verify $(DEMO_DIR)/corpus
	$(VENV)/bin/longlm inspect $(DEMO_DIR)/corpus --n 1
	$(VENV)/bin/longlm train --data $(DEMO_DIR)/corpus --model tiny --out $(DEMO_DIR)/run --steps 100 \
	    --batch-size 8 --lr 1e-2 --threads 1 --log-every 20 --eval-every 50 --save-every 50
	$(VENV)/bin/longlm generate --model $(DEMO_DIR)/run/hf "小咕噜对，" --max-length 64 --seed 0
	$(VENV)/bin/longlm report $(DEMO_DIR)/corpus

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
