"""Run every suite of the project and end with one line: ``N passed, N failed``.

Suites, in order: lint (ruff, pylint-odoo), the pytest suites under tests/
(engine, test servers, command line on a real database), and the module's
Odoo suite on a fresh throw-away database through Odoo's own runner, with the
test servers (Dovecot, SMTP sink, DNS) up for it. Exit status 1 on any failure.
Run by ``make test`` after tools/setup.sh; ``--only`` runs one suite.
"""

import argparse
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import free_ports  # noqa: E402
from harness.launcher import test_servers  # noqa: E402
from harness.odoo import DATA, MODULE, Odoo, unique_dbname  # noqa: E402

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


def run_odoo_suite(tally, test_tags=f"/{MODULE}", log_path=DATA / "odoo-test.log"):
    """Install the module on a fresh database with --test-enable, then drop it."""
    odoo = Odoo()
    dbname = unique_dbname("civimail_test")
    http_port, gevent_port = free_ports(2)
    try:
        with test_servers() as description, log_path.open("w") as log:
            process = subprocess.run(
                odoo.command(
                    "-d", dbname, "-i", MODULE, "--test-enable", f"--test-tags={test_tags}",
                    "--stop-after-init", f"--http-port={http_port}",
                    f"--gevent-port={gevent_port}", "--max-cron-threads=0",
                ),
                env=odoo.environ(CIVIMAIL_TEST_SERVERS=str(description)),
                stdout=log, stderr=subprocess.STDOUT, check=False,
            )
    finally:
        odoo.drop_database(dbname)
    output = log_path.read_text(errors="replace")
    problems = [line for line in output.splitlines() if ODOO_PROBLEM.match(line)]
    results = ODOO_RESULT.findall(output)
    if problems:
        print(f"Odoo suite errors (full log: {log_path}):")
        print("\n".join(problems[:40]))
    if not results:
        tally.add("odoo", failed=1, why=f"the Odoo suite did not run to its end (see {log_path})")
        return
    failed, errors, total = (int(n) for n in results[-1])
    skips = ODOO_SKIP.findall(output)
    if skips:
        # Odoo skips a browser test when Chromium or websocket-client is missing:
        # a skipped test is a failed one here, with its reason.
        print("Odoo tests skipped:", *skips[:20], sep="\n  ")
    broken = failed + errors + len(skips)
    if not broken and (process.returncode != 0 or problems):
        # Errors logged outside any test (install, data, registry) still fail the run.
        tally.add("odoo", passed=total, failed=1, why=f"errors were logged (see {log_path})")
        return
    # Odoo counts each failing subtest as one more failure of the same test.
    tally.add("odoo", passed=max(total - broken, 0), failed=broken,
              why=f"{broken} failed or skipped (see {log_path})")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["lint", "pytest", "odoo"])
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. '-k verp'")
    parser.add_argument("--test-tags", default=f"/{MODULE}",
                        help="Odoo test tags, e.g. /civimail_addon:TestJobLog")
    parser.add_argument("--log", type=Path, default=DATA / "odoo-test.log",
                        help="the Odoo suite's log file (one per concurrent run)")
    options = parser.parse_args()
    tally = Tally()
    if options.only in (None, "lint"):
        run_lint(tally)
    if options.only in (None, "pytest"):
        run_pytest(tally, options.pytest_args.split())
    if options.only in (None, "odoo"):
        run_odoo_suite(tally, options.test_tags, options.log)
    for failure in tally.failures:
        print(f"FAILED {failure}")
    summary = f"{tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        summary += f", {tally.skipped} skipped"
    print(summary)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
