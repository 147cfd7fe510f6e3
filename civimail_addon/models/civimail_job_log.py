import logging
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, LazyTranslate

from .stored_messages import FactError, fact, render

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

# Every CiviMail job, by the name the scheduled actions and the command line
# use (`civimail run-job <name>`).
JOBS = [
    ("fetch_bounces", "Fetch Bounces"),
    ("process_inbound", "Process Inbound Emails"),
    ("housekeeping", "Housekeeping"),
    ("send_mailings", "Send Scheduled Mailings"),
    ("check_deliverability", "Check Deliverability"),
    ("process_provider_events", "Process Provider Events"),
]

# First key of the advisory lock a run holds on its line (the second is the line's id).
JOB_LOCK_KEY = 0x43_69_4A  # "CiJ"

#: What each job does, as its scheduled job shows it.
JOB_DESCRIPTIONS = {
    "fetch_bounces": _lt(
        "Reads the bounce accounts: records each bounce with its type on the mailing trace "
        "and the contact, and puts emails on hold at their type's threshold."),
    "process_inbound": _lt(
        "Reads the Email-to-activity accounts and files each email on the contacts it "
        "names, as an activity."),
    "housekeeping": _lt(
        "Deletes job log lines and processed messages older than the retention setting."),
    "send_mailings": _lt(
        "Starts the email mailings that are due and sends their messages with VERP return "
        "addresses, within each outgoing server's limits."),
    "check_deliverability": _lt(
        "Checks SPF, DKIM, DMARC, MX, reverse DNS and blocklists of the sending servers and "
        "domains; tells CiviMail Managers when a check turns to error."),
    "process_provider_events": _lt(
        "Records the bounces, complaints, unsubscribes and deliveries your sending "
        "providers reported to their webhooks, as Fetch Bounces records bounces."),
}

RUN_STATUSES = [
    ("running", "Running"),
    ("ok", "OK"),
    ("warning", "Warning"),
    ("error", "Error"),
]

#: How a run was started.
ORIGINS = [
    ("cron", "Schedule"),
    ("manual", "Manual"),
    ("button", "Button"),
    ("cli", "Command line"),
]

RETENTION_PARAM = "civimail_addon.job_log_retention_days"
DEFAULT_RETENTION_DAYS = 90


class CivimailJobLog(models.Model):
    """One line per run of a CiviMail job, whoever started it.

    ``_run_job`` is the single way a job runs: from its scheduled action
    (scheduled or "Run Manually"), from a button on a record, or from the
    ``civimail run-job`` command. It writes the line, isolates the job's
    failure from the caller and from other jobs, and never shows a traceback
    to users: the traceback goes to the server log, the message to the line.
    """

    _name = "civimail.job.log"
    _description = "CiviMail Job Log"
    _order = "date_start desc, id desc"
    _rec_name = "job"

    job = fields.Selection(JOBS, required=True, readonly=True, index=True)
    origin = fields.Selection(
        ORIGINS,
        string="Started by",
        required=True,
        readonly=True,
        default="cron",
    )
    user_id = fields.Many2one("res.users", string="Run by", readonly=True)
    company_id = fields.Many2one(
        "res.company",
        readonly=True,
        help="Set when the run concerned the records of one company only.",
    )
    date_start = fields.Datetime(string="Start", required=True, readonly=True)
    date_end = fields.Datetime(string="End", readonly=True)
    duration = fields.Float(string="Duration (s)", digits=(16, 2), readonly=True)
    status = fields.Selection(
        RUN_STATUSES,
        required=True,
        readonly=True,
        default="running",
        index=True,
    )
    processed_count = fields.Integer(string="Processed", readonly=True)
    failed_count = fields.Integer(string="Failed", readonly=True)
    message_data = fields.Json(readonly=True)  # what the run said, as facts (stored_messages)
    message = fields.Text(compute="_compute_message")

    @api.depends("message_data")
    @api.depends_context("lang")
    def _compute_message(self):
        for log in self:
            log.message = render(self.env, log.message_data)

    @api.depends("job")
    def _compute_display_name(self):
        # The job's label (e.g. in notifications and breadcrumbs), not its code.
        labels = dict(self._fields["job"]._description_selection(self.env))
        for log in self:
            log.display_name = labels.get(log.job, log.job)

    @api.model
    def _action_for_job(self, job):
        """The job log, showing the runs of ``job`` only."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_job_log_action"
        )
        action["domain"] = [("job", "=", job)]
        action["context"] = {}
        return action

    @api.model
    def _job_runners(self):
        """Map each job to the method doing its work.

        A runner takes the records to work on (all relevant records when
        called without; ``company``: all those of one company) and returns a
        dict with ``processed``, ``failed`` and an optional ``message``;
        ``idle`` when the run found nothing to do (a scheduled or
        command-line run then leaves no line). It may commit its own batches.
        """
        accounts = self.env["civimail.mail.account"]
        return {
            "fetch_bounces": lambda records=None, company=None: accounts._job_fetch(
                "bounce", records),
            "process_inbound": lambda records=None, company=None: accounts._job_fetch(
                "activity", records),
            "housekeeping": lambda records=None, company=None: self._job_housekeeping(),
            "check_deliverability": lambda records=None, company=None: self.env[
                "civimail.deliverability.check"]._job_check(records, company),
            "send_mailings": lambda records=None, company=None: self.env[
                "mailing.mailing"]._civimail_job_send(records),
            "process_provider_events": lambda records=None, company=None: self.env[
                "civimail.provider.event"]._job_process(records),
        }

    @api.model
    def _job_scopes(self, job):
        """[(company, records)]: what a run of ``job`` over everything works on, by company.

        Each company's part gets a log line of its own, which the record rule
        shows to that company's users only; a job that holds no company data
        (housekeeping), or finds nothing to do, writes one line for all.
        """
        usage = {"fetch_bounces": "bounce", "process_inbound": "activity"}.get(job)
        if usage:
            records = self.env["civimail.mail.account"].sudo().search([("usage", "=", usage)])
            companies = records.company_id
            by_company = records.grouped("company_id")
        elif job == "send_mailings":
            records = self.env["mailing.mailing"].sudo().search([
                ("mailing_type", "=", "mail"), ("state", "in", ("in_queue", "sending")),
            ])
            by_company = records.grouped(lambda mailing: mailing._civimail_company())
            companies = self.env["res.company"].concat(*by_company)
        elif job == "process_provider_events":
            records = self.env["civimail.provider.account"].sudo().search([])
            companies = records.company_id
            by_company = records.grouped("company_id")
        elif job == "check_deliverability":
            companies = self.env["res.company"].sudo().search([])
            by_company = {}
        else:
            companies, by_company = self.env["res.company"], {}
        return [(company, by_company.get(company)) for company in companies] or [(False, None)]

    @api.model
    def _run_job(self, job, records=None, origin="cron"):
        """Run ``job`` and return its log lines (never raises for the job's own errors).

        On ``records``: one line. Over everything (``records`` None): one line
        per company the job worked for (see ``_job_scopes``).
        """
        runners = self._job_runners()
        if job not in runners:
            raise UserError(
                self.env._(
                    "Unknown CiviMail job “%(job)s”. Known jobs: %(jobs)s.",
                    job=job,
                    jobs=", ".join(sorted(runners)),
                )
            )
        self._close_interrupted(job)
        if records is None:
            scopes = self._job_scopes(job)
        else:
            company = records.company_id[:1] if "company_id" in records else self.env.company
            scopes = [(company, records)]
        logs = self.sudo().browse()  # as the lines are written: any company's
        for company, scope_records in scopes:
            logs |= self._run_once(job, runners[job], company, scope_records, origin)
        return logs

    @api.model
    def _run_once(self, job, runner, company, records, origin):
        """Run ``runner`` on ``records`` (of ``company``) and write its log line."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        log = self.sudo().create(
            {
                "job": job,
                "origin": origin,
                # A scheduled job run by hand runs as its user: the log names who pressed.
                "user_id": self.env.context.get("civimail_started_by") or self.env.uid,
                "company_id": company.id if company else False,
                "date_start": fields.Datetime.now(),
            }
        )
        # Held while the job runs, released when it ends or its worker dies
        # (its connection closes): how the next run knows a line is orphaned.
        # Taken before the line is committed, so that no run sees it unlocked.
        lock = log.id
        self.env.cr.execute(SQL("SELECT pg_advisory_lock(%s, %s)", JOB_LOCK_KEY, lock))
        try:
            if auto_commit:
                # The line shows "Running" while the job works and survives its failure.
                self.env.cr.commit()  # pylint: disable=invalid-commit
            started = time.monotonic()
            try:
                with self._job_transaction(auto_commit):
                    result = runner(records=records, company=company or None)
            except Exception as error:  # a job's failure must not break the caller
                result = {}
                if isinstance(error, UserError):  # an explained problem, e.g. a bad setting
                    _logger.warning("CiviMail job %s failed: %s", job, error.args[0])
                else:
                    _logger.exception("CiviMail job %s failed", job)
                values = {"status": "error", "message_data": self._job_error_message(error)}
            else:
                result = result or {}
                values = {
                    "status": "warning" if result.get("failed") else "ok",
                    "processed_count": result.get("processed", 0),
                    "failed_count": result.get("failed", 0),
                    "message_data": result.get("message") or False,
                }
            if result.get("idle") and self._is_unattended(origin):
                # A scheduled or command-line run that found nothing to do,
                # every few minutes, is noise; a manual run says so on its line.
                log.unlink()
                log = self.browse()
            else:
                log.write({
                    **values,
                    "date_end": fields.Datetime.now(),
                    "duration": time.monotonic() - started,
                })
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        finally:
            # The connection goes back to the pool: it must not keep the lock.
            self.env.cr.execute(SQL("SELECT pg_advisory_unlock(%s, %s)", JOB_LOCK_KEY, lock))
        return log

    @api.model
    def _is_unattended(self, origin):
        """Whether a run of ``origin`` is started by a machine, not by a person waiting for it:
        system cron (the command line) or the schedule (the cron runner names its job)."""
        return origin == "cli" or (origin == "cron" and bool(self.env.context.get("cron_id")))

    @api.model
    def _close_interrupted(self, job):
        """Close as failed the "Running" lines of ``job`` whose worker is gone.

        A worker killed mid-run (or whose server stopped) never wrote its
        line's end; no session holds its lock any more. A line whose lock is
        held is a run going on in another worker and is left alone.
        """
        running = self.sudo().search([("job", "=", job), ("status", "=", "running")])
        if not running:
            return
        self.env.cr.execute(SQL(
            "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s AND objid = ANY(%s) AND objsubid = 2 AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            JOB_LOCK_KEY, running.ids,
        ))
        alive = {row[0] for row in self.env.cr.fetchall()}
        interrupted = running.filtered(lambda line: line.id not in alive)
        if interrupted:
            _logger.warning("CiviMail job %s: %s runs were interrupted", job, len(interrupted))
            interrupted.write({
                "status": "error",
                "message_data": fact("job_interrupted"),
            })

    @contextmanager
    def _job_transaction(self, auto_commit):
        """Undo a failed job's uncommitted work, and only that.

        In production a job may commit per batch, so a failure rolls back to
        its last commit. Tests cannot commit: a savepoint gives the same effect.
        """
        if auto_commit:
            try:
                yield
            except Exception:
                self.env.cr.rollback()
                raise
        else:
            with self.env.cr.savepoint():
                yield

    @api.model
    def _job_error_message(self, error):
        """What the log line says of a failure: a fact, or an explained error's own words."""
        if isinstance(error, FactError):
            return error.fact
        if isinstance(error, UserError):
            return error.args[0]
        return fact("job_unexpected_error", error_type=type(error).__name__, error=str(error))

    @api.model
    def _job_housekeeping(self):
        """Forget job log lines and processed messages older than the retention setting."""
        parameters = self.env["ir.config_parameter"].sudo()
        days = int(parameters.get_param(RETENTION_PARAM, DEFAULT_RETENTION_DAYS))
        if days <= 0:
            raise FactError(self.env, "housekeeping_bad_retention", days=days)
        cutoff = fields.Datetime.now() - timedelta(days=days)
        old_lines = self.sudo().search([("date_start", "<", cutoff), ("status", "!=", "running")])
        count = len(old_lines)
        old_lines.unlink()
        forgotten = self.env["civimail.processed.message"]._purge(days)
        return {
            "processed": count + forgotten,
            "message": fact(
                "housekeeping_done", count=count, forgotten=forgotten, days=days
            ),
        }
