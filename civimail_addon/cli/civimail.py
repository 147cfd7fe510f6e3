"""``odoo-bin [--addons-path=…] civimail``: CiviMail from the command line.

``run-job`` runs one CiviMail job exactly as its scheduled action does, for
system cron (like CiviCRM's ``cli.php -e Job -a fetch_bounces``).
``analyze`` runs the bounce analyzer on message files; it needs no database.
"""

# pylint: disable=print-used
# A command line answers on standard output and standard error.

import argparse
import json
import sys
from pathlib import Path

from odoo import SUPERUSER_ID, api
from odoo.cli import Command
from odoo.modules.registry import Registry
from odoo.tools import config

from ..engine.bounce import analyze, render_table
from ..models.civimail_job_log import JOBS

# Server options run-job accepts and hands to Odoo's own configuration parser.
SERVER_OPTIONS = {
    "config": ("-c", "--config"),
    "db_host": ("--db_host",),
    "db_port": ("--db_port",),
    "db_user": ("--db_user",),
    "db_password": ("--db_password",),
    "addons_path": ("--addons-path",),
    "data_dir": ("-D", "--data-dir"),
    "log_level": ("--log-level",),
    "logfile": ("--logfile",),
}


class Civimail(Command):
    """CiviMail jobs and tools (run-job, analyze)"""

    def run(self, args):
        parser = self._parser()
        options = parser.parse_args(args)
        sys.exit(options.handler(options))

    def _parser(self):
        prog = f"{Path(sys.argv[0]).name} [--addons-path=PATH] civimail"
        parser = argparse.ArgumentParser(
            prog=prog,
            description="CiviMail for Odoo: run jobs from system cron and inspect mail.",
        )
        commands = parser.add_subparsers(title="commands", dest="command", required=True)

        run_job = commands.add_parser(
            "run-job",
            help="run one CiviMail job now, as its scheduled action would",
            description="Run one CiviMail job now, as its scheduled action would, and write "
            "its job log line. Exit status 0 when it ran (with or without warnings), "
            "1 when it failed; the error is printed on standard error.",
        )
        run_job.add_argument("job", choices=[name for name, _label in JOBS], metavar="JOB",
                             help="one of: " + ", ".join(name for name, _label in JOBS))
        run_job.add_argument("-d", "--database", required=True, help="database name")
        for dest, flags in SERVER_OPTIONS.items():
            run_job.add_argument(*flags, dest=dest, help=f"as for odoo-bin {flags[-1]}")
        run_job.set_defaults(handler=self._run_job)

        analyze_cmd = commands.add_parser(
            "analyze",
            help="tell what bounce, auto-reply or complaint message files report",
            description="Analyze message files (one raw RFC 5322 message each, as saved from "
            "a mailbox: .eml or maildir files) with CiviMail's bounce analyzer and the default "
            "bounce patterns; no database is needed. For each file, in order: its kind "
            "(bounce, autoreply, complaint or not_bounce) and each failed recipient with its "
            "bounce type, hard flag, RFC 3463 status and diagnostic. A file that cannot be "
            "read is reported on standard error (and, with --json, as an entry "
            '{"file": PATH, "error": MESSAGE}); the other files are still analyzed and the '
            "exit status is then 1, else 0.",
        )
        analyze_cmd.add_argument("files", nargs="+", metavar="FILE", help="message file")
        analyze_cmd.add_argument(
            "--json", action="store_true",
            help='print one JSON array of {"file", "kind", "bounces": [{"email", "type", '
            '"hard", "status", "diagnostic"}]} objects instead of a table',
        )
        analyze_cmd.set_defaults(handler=self._analyze)
        return parser

    def _analyze(self, options):
        entries, reports, failed = [], [], False
        for path in options.files:
            try:
                raw = Path(path).read_bytes()
            except OSError as error:
                reason = error.strerror or str(error)
                print(f"civimail analyze: cannot read {path}: {reason}", file=sys.stderr)
                entries.append({"file": path, "error": reason})
                failed = True
                continue
            report = analyze(raw)
            entries.append(report.to_dict(path))
            reports.append((path, report))
        if options.json:
            print(json.dumps(entries, indent=2))
        elif reports:
            print(render_table(reports))
        return 1 if failed else 0

    def _run_job(self, options):
        odoo_args = ["-d", options.database]
        for dest, flags in SERVER_OPTIONS.items():
            value = getattr(options, dest)
            if value is not None:
                odoo_args += [flags[-1], value]
        config.parse_config(odoo_args, setup_logging=True)
        try:
            registry = Registry(options.database)
        except Exception as error:  # noqa: BLE001 - reported as exit status 1
            print(f"civimail: cannot open database {options.database!r}: {error}", file=sys.stderr)
            return 1
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cron = env["ir.cron"].with_context(active_test=False).search(
                [("civimail_job", "=", options.job)], limit=1
            )
            user = cron.user_id or env.user
            logs = env["civimail.job.log"].with_user(user).with_context(
                lang=user.lang or "en_US"
            )._run_job(options.job, origin="cli")
            if not logs:
                # An idle run leaves no job log line (see civimail.job.log._run_job).
                print(f"{options.job}: nothing to do, no job log line written")
                return 0
            # One line per company the job worked for.
            runs = [
                (
                    f"{options.job}{f' ({log.company_id.name})' if log.company_id else ''}: "
                    f"{log.status}, {log.processed_count} processed, "
                    f"{log.failed_count} failed, {log.duration:.2f} s",
                    log.message or "",
                    log.status == "error",
                )
                for log in logs
            ]
        failed = False
        for summary, message, error in runs:
            print(summary)
            if error:
                print(f"civimail: {options.job} failed: {message}", file=sys.stderr)
                failed = True
            elif message:
                print(message)
        return 1 if failed else 0

