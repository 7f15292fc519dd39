# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest lock docs-assets clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25"

# Stamp files make installs re-run only when the dependency pins change.
$(VENV)/.installed-run: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/postboard serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

# Re-pin every dependency (needs uv: `pip install uv`); commit the result.
lock:
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o constraints.txt

# Swagger UI and ReDoc for /docs and /redoc, from the npm registry (needs npm); see postboard/static/README.md.
SWAGGER_UI_VERSION := 5.35.0
REDOC_VERSION := 2.5.2
docs-assets:
	rm -rf .docs-assets && mkdir -p .docs-assets
	cd .docs-assets && npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) redoc@$(REDOC_VERSION)
	tar -xzf .docs-assets/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz -C .docs-assets --one-top-level=swagger-ui
	tar -xzf .docs-assets/redoc-$(REDOC_VERSION).tgz -C .docs-assets --one-top-level=redoc
	cd .docs-assets/swagger-ui/package && cp swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt \
		swagger-ui.css LICENSE NOTICE ../../../postboard/static/swagger-ui/
	cp .docs-assets/swagger-ui/package/favicon-32x32.png postboard/static/favicon.png
	cd .docs-assets/redoc/package && cp bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt \
		LICENSE ../../../postboard/static/redoc/
	rm -rf .docs-assets

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
