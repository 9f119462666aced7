# The README's commands. Everything installs into .venv/ at the repo root; no root needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck messages ci bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# The demo: SQLite and local folders under var/, a seeded population, the server, the periodic sync.
run: install
	$(BIN)/python scripts/run_demo.py

# The suite runs on PostgreSQL and Redis (as CI does): some tests need real concurrent writers, a
# live Celery broker and several app processes on one database. Override with DATABASE_OWNER_URL,
# DATABASE_URL and REDIS_URL. As in production (SPEC §6), the owner's URL creates and migrates the
# test database and runs setup_roles, which creates the application's role if missing; the tests
# themselves connect as that role (DATABASE_URL).
TEST_DATABASE_OWNER_URL ?= postgres://postgres@127.0.0.1:5432/saga_test
TEST_DATABASE_URL ?= postgres://saga_test_app@127.0.0.1:5432/saga_test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/5

test: install
	DATABASE_OWNER_URL="$${DATABASE_OWNER_URL:-$(TEST_DATABASE_OWNER_URL)}" \
		DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy .

# The catalogues (Japanese is the source language). English, locale/en: the whole project. The
# other languages residents may choose at the kiosk: only the texts residents see, in the locale/
# folder of each app that has some (kiosk_api/management/commands/kiosk_messages.py lists the
# files); the admin and the audit screens stay Japanese or English. Translate the new entries
# (after docs/glossary.md), then run this again to compile the committed .mo files. Needs GNU
# gettext (apt-get install gettext).
messages: install
	$(BIN)/python manage.py makemessages -l en --no-obsolete --ignore ".venv/*" --ignore "tests/*" \
		--ignore "bench/*" --ignore "var/*" --ignore "docs/*" --ignore "*/locale"
	$(BIN)/python manage.py kiosk_messages
	$(BIN)/python manage.py compilemessages --ignore ".venv/*"

ci:
	bash .ci/run

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache
