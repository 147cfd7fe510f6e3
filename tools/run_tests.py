"""Run every suite of the project and end with one line: ``N passed, N failed``.

Suites, in order: lint (ruff, pylint-odoo), the pytest suites under tests/
(tests/engine, tests/integration: test servers, command line on a real
database; tests/docs), the module's own Odoo suite as a partner's CI runs it,
then the Odoo integration suite with the test servers up:

* ``odoo``: ``odoo-bin --test-enable --test-tags /civimail_addon`` on a stock
  Odoo 18 with PostgreSQL only: an addons path of Odoo's own addons and a
  temporary folder holding a copy of ``civimail_addon`` alone, no
  configuration file of ours, no ``CIVIMAIL_*`` variable, nothing of the
  repository on ``PYTHONPATH``; a database of its own, dropped after.
* ``odoo-integration``: the test-only addon ``civimail_integration``
  (tests/integration/odoo_addons) installed on a fresh database, its tests
  run while Dovecot, the SMTP sink and NSD are up; dropped after.

Each Odoo test runs once, in one of the two. Exit status 1 on any failure.
Run by ``make test`` after tools/setup.sh; ``--only`` runs one suite.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import free_ports  # noqa: E402
from harness.launcher import test_servers  # noqa: E402
from tools.odoo_driver import DATA, MODULE, Odoo, unique_dbname  # noqa: E402

INTEGRATION_ADDONS = ROOT / "tests" / "integration" / "odoo_addons"
INTEGRATION_MODULE = "civimail_integration"

BIN = Path(sys.executable).parent
ODOO_RESULT = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")
ODOO_SKIP = re.compile(r" INFO \S+ odoo\.\S+: skipped (.*)$", re.MULTILINE)
ODOO_PROBLEM = re.compile(r"^\S+ \S+ \d+ (ERROR|CRITICAL) ")


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list = field(default_factory=list)

    def add(self, suite, passed=0, failed=0, skipped=0, why=""):
        self.passed += passed
        self.failed += failed
        self.skipped += skipped
        if failed:
            self.failures.append(f"{suite}: {why or f'{failed} failed'}")
        print(f"== {suite}: {passed} passed, {failed} failed"
              + (f", {skipped} skipped" if skipped else ""), flush=True)


def run_lint(tally):
    checks = {
        "ruff": [str(BIN / "ruff"), "check", "--no-cache", "."],
        "pylint-odoo": [
            str(BIN / "pylint"), "--rcfile=.pylintrc", "--score=n", MODULE,
            str((INTEGRATION_ADDONS / INTEGRATION_MODULE).relative_to(ROOT)),
        ],
    }
    for name, command in checks.items():
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            tally.add(f"lint {name}", passed=1)
        else:
            print(result.stdout[-6000:], result.stderr[-2000:], sep="\n")
            tally.add(f"lint {name}", failed=1, why=f"{name} found problems (above)")


def run_pytest(tally, extra_args=()):
    report = DATA / "pytest-report.xml"
    report.unlink(missing_ok=True)
    result = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         *extra_args],
        cwd=ROOT, check=False,
    )
    if not report.exists():
        tally.add("pytest", failed=1, why=f"pytest ended with status {result.returncode}"
                  " and no report")
        return
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total, skipped = int(suite.get("tests")), int(suite.get("skipped"))
    failed = int(suite.get("failures")) + int(suite.get("errors"))
    if result.returncode not in (0, 1) and not failed:
        failed = 1  # interrupted, internal error or no tests collected
    tally.add("pytest", passed=total - failed - skipped, failed=failed, skipped=skipped)


def run_module_suite(tally, test_tags=f"/{MODULE}", log_path=DATA / "odoo-test.log"):
    """The module's own tests as a partner's CI runs them: stock Odoo, PostgreSQL, nothing else.

    Only a copy of civimail_addon is on the addons path, so nothing else of the
    repository (harness, tests/data, tools) can be imported or read by it.
    """
    odoo = Odoo()
    dbname = unique_dbname("civimail_module_test")
    http_port, gevent_port = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="civimail-stock-") as stock:
        addons = Path(stock) / "addons"
        shutil.copytree(ROOT / MODULE, addons / MODULE,
                        ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))
        data_dir = Path(stock) / "data"
        command = odoo.stock_command(
            addons, data_dir, "-d", dbname, "-i", MODULE, "--test-enable",
            f"--test-tags={test_tags}", "--stop-after-init", f"--http-port={http_port}",
            f"--gevent-port={gevent_port}", "--max-cron-threads=0",
        )
        try:
            process = _run_logged(command, odoo.stock_environ(), log_path, cwd=stock)
        finally:
            odoo.drop_database(dbname, data_dir=data_dir)
    _tally_odoo(tally, "odoo", process, log_path)


def run_integration_suite(tally, test_tags=f"/{INTEGRATION_MODULE}",
                          log_path=DATA / "odoo-test-integration.log"):
    """The test-only addon civimail_integration, with the test servers up."""
    odoo = Odoo()
    dbname = unique_dbname("civimail_integration_test")
    http_port, gevent_port = free_ports(2)
    addons_path = f"{odoo.options['addons_path']},{INTEGRATION_ADDONS}"
    try:
        with test_servers() as description:
            command = odoo.command(
                "-d", dbname, "-i", INTEGRATION_MODULE, f"--addons-path={addons_path}",
                "--test-enable", f"--test-tags={test_tags}", "--stop-after-init",
                f"--http-port={http_port}", f"--gevent-port={gevent_port}",
                "--max-cron-threads=0",
            )
            process = _run_logged(command, odoo.environ(CIVIMAIL_TEST_SERVERS=str(description)),
                                  log_path)
    finally:
        odoo.drop_database(dbname)
    _tally_odoo(tally, "odoo-integration", process, log_path)


def _run_logged(command, env, log_path, cwd=ROOT):
    with log_path.open("w") as log:
        return subprocess.run(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                              check=False)


def _tally_odoo(tally, suite, process, log_path):
    """Count an Odoo run from its log: failures, errors, skips and stray errors all fail."""
    output = log_path.read_text(errors="replace")
    problems = [line for line in output.splitlines() if ODOO_PROBLEM.match(line)]
    results = ODOO_RESULT.findall(output)
    if problems:
        print(f"{suite} errors (full log: {log_path}):")
        print("\n".join(problems[:40]))
    if not results:
        tally.add(suite, failed=1, why=f"the Odoo suite did not run to its end (see {log_path})")
        return
    failed, errors, total = (int(n) for n in results[-1])
    skips = ODOO_SKIP.findall(output)
    if skips:
        # Odoo skips a browser test when Chromium or websocket-client is missing:
        # a skipped test is a failed one here, with its reason.
        print(f"{suite} tests skipped:", *skips[:20], sep="\n  ")
    broken = failed + errors + len(skips)
    if not broken and (process.returncode != 0 or problems):
        # Errors logged outside any test (install, data, registry) still fail the run.
        tally.add(suite, passed=total, failed=1, why=f"errors were logged (see {log_path})")
        return
    if not total:
        tally.add(suite, failed=1, why=f"no test ran (see {log_path})")
        return
    # Odoo counts each failing subtest as one more failure of the same test.
    tally.add(suite, passed=max(total - broken, 0), failed=broken,
              why=f"{broken} failed or skipped (see {log_path})")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["lint", "pytest", "odoo"],
                        help="one suite; odoo: the module's suite, then the integration one")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. '-k verp'")
    parser.add_argument("--test-tags", default="",
                        help="Odoo test tags of one of the two Odoo suites, e.g. "
                             f"/{MODULE}:TestJobLog or /{INTEGRATION_MODULE}:TestBounceProcessing")
    parser.add_argument("--log", type=Path, default=None,
                        help="the Odoo suites' log file prefix (one per concurrent run)")
    options = parser.parse_args()
    tally = Tally()
    if options.only in (None, "lint"):
        run_lint(tally)
    if options.only in (None, "pytest"):
        run_pytest(tally, options.pytest_args.split())
    if options.only in (None, "odoo"):
        tags = options.test_tags
        log = options.log or DATA / "odoo-test.log"
        if not tags or INTEGRATION_MODULE not in tags:
            run_module_suite(tally, tags or f"/{MODULE}", log)
        if not tags or INTEGRATION_MODULE in tags:
            run_integration_suite(tally, tags or f"/{INTEGRATION_MODULE}",
                                  log.with_name(log.stem + "-integration" + log.suffix))
    for failure in tally.failures:
        print(f"FAILED {failure}")
    summary = f"{tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        summary += f", {tally.skipped} skipped"
    print(summary)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
