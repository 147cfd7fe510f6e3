"""Drive the real Odoo 18 that tools/setup.sh prepared: databases, odoo-bin runs.

Used by ``make run`` (tools/odoo_server.py), by the test runner for the Odoo
suites (tools/run_tests.py), by the benchmarks, and by the pytest fixtures that
need an installed database (``odoo_db`` in tests/integration/conftest.py).
"""

import configparser
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
CONF = DATA / "odoo.conf"
MODULE = "civimail_addon"


class Odoo:
    """The Odoo source and database server named in .data/odoo.conf."""

    def __init__(self, conf=CONF):
        if not conf.exists():
            raise RuntimeError(f"{conf} is missing: run tools/setup.sh (make test does).")
        self.conf = conf
        parser = configparser.ConfigParser()
        parser.read(conf)
        self.options = parser["options"]
        self.source = Path((DATA / "odoo-src").read_text().strip())
        self.odoo_bin = self.source / "odoo-bin"
        self.python = sys.executable

    def connect(self, dbname="postgres"):
        password = self.options.get("db_password")
        connection = psycopg2.connect(
            dbname=dbname,
            host=self.options["db_host"],
            port=self.options["db_port"],
            user=self.options["db_user"],
            password=None if password in (None, "False") else password,
        )
        connection.autocommit = True
        return connection

    def database_exists(self, dbname):
        with self.connect() as connection, connection.cursor() as cr:
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname])
            return cr.fetchone() is not None

    def drop_database(self, dbname, data_dir=None):
        connection = self.connect()
        try:
            with connection.cursor() as cr:
                # Identifiers cannot be parameters; names are ours and checked here.
                if not dbname.replace("_", "").isalnum():
                    raise ValueError(f"refusing to drop database {dbname!r}")
                cr.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    [dbname],
                )
                cr.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        finally:
            connection.close()
        filestore = Path(data_dir or self.options["data_dir"]) / "filestore" / dbname
        if filestore.exists():
            subprocess.run(["rm", "-rf", str(filestore)], check=False)

    def command(self, *args, addons_path_first=False):
        """The argv of an odoo-bin call with this project's configuration.

        ``addons_path_first`` puts ``--addons-path`` before the subcommand, as
        Odoo needs to discover commands shipped by addons (``civimail``).
        """
        if addons_path_first:
            return [
                self.python,
                str(self.odoo_bin),
                f"--addons-path={self.options['addons_path']}",
                *args,
            ]
        if args and not args[0].startswith("-"):  # a subcommand (shell, db…) comes first
            return [self.python, str(self.odoo_bin), args[0], "-c", str(self.conf), *args[1:]]
        return [self.python, str(self.odoo_bin), "-c", str(self.conf), *args]

    def stock_command(self, addons_dir, data_dir, *args):
        """The argv of odoo-bin as a partner's CI runs it: Odoo's own addons and ``addons_dir``.

        Only the database connection comes from our configuration; an empty
        configuration file keeps a ``~/.odoorc`` out of it.
        """
        password = self.options.get("db_password")
        return [
            self.python, str(self.odoo_bin), "-c", os.devnull,
            f"--addons-path={self.source / 'odoo' / 'addons'},{self.source / 'addons'},"
            f"{addons_dir}",
            f"--data-dir={data_dir}",
            f"--db_host={self.options['db_host']}", f"--db_port={self.options['db_port']}",
            f"--db_user={self.options['db_user']}",
            *([f"--db_password={password}"] if password not in (None, "False") else []),
            *args,
        ]

    @staticmethod
    def stock_environ():
        """This process's environment without the repository's paths and CIVIMAIL_* settings."""
        return {name: value for name, value in os.environ.items()
                if not name.startswith("CIVIMAIL_") and name not in ("PYTHONPATH", "PYTHONSTARTUP")}

    def environ(self, **extra):
        env = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
        env.pop("PYTHONSTARTUP", None)
        return env

    def run(self, *args, addons_path_first=False, timeout=900, input_text=None, **extra_env):
        return subprocess.run(
            self.command(*args, addons_path_first=addons_path_first),
            env=self.environ(**extra_env),
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def install(self, dbname, *, demo=False, modules=MODULE):
        """Create ``dbname`` with ``modules`` installed; raise with Odoo's log on failure."""
        args = ["-d", dbname, "-i", modules, "--stop-after-init", "--no-http"]
        if not demo:
            args.append("--without-demo=all")
        result = self.run(*args)
        if result.returncode != 0 or " ERROR " in result.stderr:
            raise RuntimeError(f"installing {modules} in {dbname} failed:\n{result.stderr[-4000:]}")
        return result


def unique_dbname(prefix):
    return f"{prefix}_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"

