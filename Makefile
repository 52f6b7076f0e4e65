# Quick start: `make demo` and `make test` work on a fresh machine (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export LOMSONG_REFERENCE_DATA ?= $(abspath ../shared/data)
# test workers: one per core by default (`make test TEST_WORKERS=0` runs in one process)
TEST_WORKERS ?= auto

.PHONY: demo test setup system-deps lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) ## install the project, bring the reference data into data/, vendor the map assets
	$(VENV)/bin/lomsong setup
	$(VENV)/bin/lomsong assets

demo: setup ## set up, then run the analysis on the bundled data and write maps/ and the gap lists
	$(VENV)/bin/lomsong demo

test: setup system-deps ## set up, then run the whole test suite, one module per worker on every core
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope

system-deps: ## the tests drive Debian's headless Chromium and GDAL's ogrinfo: install them when missing (root or sudo)
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v ogrinfo >/dev/null 2>&1 || missing="$$missing gdal-bin"; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

lint:
	$(VENV)/bin/ruff check coverage api tests benchmarks

clean:
	rm -rf $(VENV) data/population data/samples data/store data/cache maps/*.html maps/communes
