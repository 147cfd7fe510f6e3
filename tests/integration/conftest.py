"""Fixtures of the integration suites that need the real Odoo tools/setup.sh prepared."""

import pytest

from tools.odoo_driver import Odoo, unique_dbname

# The Odoo test addon is run by odoo-bin (tools/run_tests.py), never collected by pytest.
collect_ignore = ["odoo_addons"]


@pytest.fixture(scope="session")
def odoo():
    try:
        return Odoo()
    except (RuntimeError, OSError) as error:
        pytest.fail(f"Odoo is not prepared: {error}")


@pytest.fixture(scope="session")
def odoo_db(odoo):
    """A fresh database with civimail_addon installed, dropped after the session."""
    dbname = unique_dbname("civimail_pytest")
    try:
        odoo.install(dbname)
        yield dbname
    finally:
        odoo.drop_database(dbname)
