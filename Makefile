# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test screenshots lint typecheck pytest lock docs-assets clean base-image wheelhouse image

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

# The README's pictures of the web app, taken by its browser test (needs Debian's chromium and chromium-driver).
screenshots: $(VENV)/.installed-dev
	POSTBOARD_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/browser -k screenshots -p no:cacheprovider

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

# The container image, built with podman and no registry: a Debian base made from Debian's packages, and
# the pinned wheels downloaded on the host (README: Run with containers). runc because crun fails on hosts
# with hybrid cgroups; the ulimits because podman's default open-files limit (1048576) is above some hosts'
# hard limit, which runc then fails to set ("error setting rlimit type 7").
CONTAINER ?= podman
CONTAINER_FLAGS ?= --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
IMAGE ?= postboard
BASE_IMAGE ?= localhost/postboard-base:bookworm

# Debian bookworm's essential packages, Python 3.11, useradd, and the C++ runtime that manylinux wheels
# (greenlet's) expect of the system; no documentation. Made once (20 to 60 s), kept until removed with
# `podman rmi $(BASE_IMAGE)`.
NO_DOCS := $(foreach folder,doc man info locale,--dpkgopt='path-exclude=/usr/share/$(folder)/*') \
	--dpkgopt='path-include=/usr/share/doc/*/copyright'
base-image:
	$(CONTAINER) image exists $(BASE_IMAGE) || { \
		mmdebstrap --quiet --variant=essential --include=python3,python3-venv,passwd,libstdc++6 $(NO_DOCS) \
			bookworm .base-image.tar && $(CONTAINER) import .base-image.tar $(BASE_IMAGE); \
		status=$$?; rm -f .base-image.tar; exit $$status; }

# The host resolves the dependencies for its own Python; pins that hang on the Python version are added
# whatever their marker says, so that the image's Python (bookworm's 3.11.2 needs async-timeout, the host's
# 3.11.7 does not) finds what it needs. pip in the image then picks, with no index. CPython 3.11, x86-64.
wheelhouse: $(VENV)/.installed-run
	rm -rf wheelhouse
	$(BIN)/pip wheel --quiet -c constraints.txt . -w wheelhouse
	grep "python_[a-z_]*version" constraints.txt | sed 's/ *;.*//' | \
		xargs -n1 $(BIN)/pip download --quiet --no-deps --only-binary=:all: --ignore-requires-python -d wheelhouse

# No cached layers: each build brings a new wheelhouse (Postboard's own wheel), so they would only pile up.
image: base-image wheelhouse
	$(CONTAINER) build $(CONTAINER_FLAGS) --layers=false --format docker --build-arg BASE_IMAGE=$(BASE_IMAGE) \
		--build-arg WHEELS=wheelhouse -t $(IMAGE) .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache wheelhouse
