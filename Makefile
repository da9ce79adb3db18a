# Two commands do the whole set-up on a fresh machine:
#   make run    install everything (Debian packages when missing, .venv) and start the server on :8000
#   make test   the same install, then the whole test suite
VENV    ?= .venv
PYTHON  ?= python3
HOST    ?= 0.0.0.0
PORT    ?= 8000
STAMP   := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml scripts/install.sh src/cslr/serve/static/package-lock.json
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/install.sh
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/cslr serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/python bench/pipeline.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
