# The index of commands: `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180

.DEFAULT_GOAL := help
.PHONY: help install bytecode system-deps demo test test-fast lint format bench docs app clean

help: ## list the commands
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# --compile-bytecode: every `churn`, `dbt` and Prefect process would otherwise compile ~1,800
# modules at start-up where bytecode is not written (PYTHONDONTWRITEBYTECODE, read-only trees);
# `bytecode` does the same for the project's own packages, whose files change (a second or two)
PACKAGES := warehouse simulator ingestion models_ml flows dashboards serving bench
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the locked packages (uv, ~1 min cold)

bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 $(PACKAGES) tests >/dev/null

system-deps: ## install the Debian packages the tests start (postgresql, prometheus and its pushgateway and node exporter, chromium, docker.io with debootstrap and docker-compose)
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-pushgateway >/dev/null || missing="$$missing prometheus-pushgateway"; \
	command -v prometheus-node-exporter >/dev/null || missing="$$missing prometheus-node-exporter"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -x /usr/bin/docker && command -v dockerd >/dev/null || missing="$$missing docker.io"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: install bytecode ## simulate the four sources, ingest, dbt build, print what was built
	$(BIN)/churn demo

test: install bytecode system-deps ## the whole suite: pytest, incl. dbt build + tests on simulated data
	$(BIN)/pytest tests

test-fast: install ## unit tests only (skips the end-to-end runs)
	$(BIN)/pytest tests -m "not slow"

# sqlfluff's dbt templater renders models against a warehouse: an empty one, so the models are
# linted as a first build renders them (as the suite does), whatever data/ holds
lint: install ## ruff + sqlfluff (dbt templater)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	tmp=$$(mktemp -d) && CHURN_WAREHOUSE_PATH=$$tmp/lint.duckdb $(BIN)/sqlfluff lint dbt_project/models; \
	status=$$?; rm -rf "$$tmp"; exit $$status

format: install ## apply ruff formatting and fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## print the performance figures (see README)
	$(BIN)/python -m bench

# the warehouse dbt uses (profiles/profiles.yml): CHURN_WAREHOUSE_PATH, else under CHURN_DATA_DIR
WAREHOUSE_FILE = $${CHURN_WAREHOUSE_PATH:-$${CHURN_DATA_DIR:-data}/warehouse.duckdb}

docs: install ## build the dbt docs site offline (target/static_index.html, one file)
	@warehouse="$(WAREHOUSE_FILE)"; \
	if [ -f "$$warehouse" ]; then \
		$(BIN)/dbt docs generate --static --profiles-dir profiles || exit 1; \
	else \
		echo "no warehouse at $$warehouse yet: docs from the project alone (run make demo first for column types and compiled SQL)"; \
		$(BIN)/dbt parse --quiet --profiles-dir profiles || exit 1; \
		$(BIN)/dbt docs generate --static --empty-catalog --no-compile --quiet --profiles-dir profiles || exit 1; \
	fi
	@echo "open target/static_index.html, or: $(BIN)/dbt docs serve --profiles-dir profiles"

# the app listens on this machine only; another address needs sign-in (docs/sign_in.md) or
# CHURN_APP_ALLOW_NO_SIGN_IN=true (make app APP_ADDRESS=0.0.0.0)
APP_ADDRESS ?= 127.0.0.1
APP_PORT ?= 8501

app: install ## the CS manager's app (Streamlit) on the published snapshot, on 127.0.0.1:8501
	$(BIN)/python -m dashboards.launch --address $(APP_ADDRESS) --port $(APP_PORT)

clean: ## remove generated data (keeps .venv)
	rm -rf data target logs test-output
