import logging
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import LazyTranslate

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
]

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
        called without) and returns a dict with ``processed``, ``failed`` and
        an optional ``message``. It may commit its own batches.
        """
        accounts = self.env["civimail.mail.account"]
        return {
            "fetch_bounces": lambda records=None: accounts._job_fetch("bounce", records),
            "process_inbound": lambda records=None: accounts._job_fetch("activity", records),
            "housekeeping": self._job_housekeeping,
            "check_deliverability": self.env["civimail.deliverability.check"]._job_check,
            "send_mailings": self.env["mailing.mailing"]._civimail_job_send,
        }

    @api.model
    def _run_job(self, job, records=None, origin="cron"):
        """Run ``job`` once and return its log line (never raises for the job's own errors)."""
        runners = self._job_runners()
        if job not in runners:
            raise UserError(
                self.env._(
                    "Unknown CiviMail job “%(job)s”. Known jobs: %(jobs)s.",
                    job=job,
                    jobs=", ".join(sorted(runners)),
                )
            )
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        log = self.sudo().create(
            {
                "job": job,
                "origin": origin,
                # A scheduled job run by hand runs as its user: the log names who pressed.
                "user_id": self.env.context.get("civimail_started_by") or self.env.uid,
                "company_id": records.company_id[:1].id
                if records is not None and "company_id" in records
                else False,
                "date_start": fields.Datetime.now(),
            }
        )
        if auto_commit:
            # The line shows "Running" while the job works and survives its failure.
            self.env.cr.commit()  # pylint: disable=invalid-commit
        started = time.monotonic()
        try:
            with self._job_transaction(auto_commit):
                result = runners[job]() if records is None else runners[job](records)
        except Exception as error:  # a job's failure must not break the caller
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
        log.write(
            {
                **values,
                "date_end": fields.Datetime.now(),
                "duration": time.monotonic() - started,
            }
        )
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return log

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
