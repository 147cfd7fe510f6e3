# civimail_addon — the two commands a new user needs: `make run` and `make test`.
# Both prepare everything first (tools/setup.sh); see README.md.
SHELL := /bin/bash
VENV_PYTHON := .venv/bin/python
HTTP_PORT ?= 8069

.PHONY: setup run stop test lint pytest odoo-test

setup:
	@tools/setup.sh

run: setup
	@$(VENV_PYTHON) tools/odoo_server.py start --http-port $(HTTP_PORT)

stop:
	@if [ -x $(VENV_PYTHON) ]; then $(VENV_PYTHON) tools/odoo_server.py stop; fi

# Every suite, one summary line; non-zero exit on any failure.
test: setup
	@$(VENV_PYTHON) tools/run_tests.py

# One suite at a time, for development (see README: "Running one test").
lint: setup
	@$(VENV_PYTHON) tools/run_tests.py --only lint
pytest: setup
	@$(VENV_PYTHON) tools/run_tests.py --only pytest $(if $(K),--pytest-args "-k $(K)")
odoo-test: setup
	@$(VENV_PYTHON) tools/run_tests.py --only odoo $(if $(TAGS),--test-tags "$(TAGS)")
