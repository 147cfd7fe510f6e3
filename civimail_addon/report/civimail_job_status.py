from odoo import fields, models, tools
from odoo.tools import SQL

from ..models.civimail_job_log import JOBS, ORIGINS

STATUSES = [
    ("never", "Never run"),
    ("running", "Running"),
    ("ok", "OK"),
    ("warning", "Warning"),
    ("error", "Error"),
]


class CivimailJobStatus(models.Model):
    """The latest run of each CiviMail job, for each company.

    A company sees the runs made for all companies (scheduled actions, the
    command line) and those made for it alone (e.g. "Fetch now" on one of
    its accounts); a job that never ran shows as such.
    """

    _name = "civimail.job.status"
    _description = "CiviMail Job Status"
    _auto = False
    _rec_name = "job"
    _order = "sequence, company_id"

    job = fields.Selection(JOBS, readonly=True)
    sequence = fields.Integer(readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    log_id = fields.Many2one("civimail.job.log", string="Latest run", readonly=True)
    status = fields.Selection(STATUSES, readonly=True)
    date_start = fields.Datetime(string="Last run", readonly=True)
    date_end = fields.Datetime(string="End", readonly=True)
    duration = fields.Float(string="Duration (s)", digits=(16, 2), readonly=True)
    origin = fields.Selection(ORIGINS, string="Started by", readonly=True)
    user_id = fields.Many2one("res.users", string="Run by", readonly=True)
    processed_count = fields.Integer(string="Processed", readonly=True)
    failed_count = fields.Integer(string="Failed", readonly=True)
    message = fields.Text(related="log_id.message")
    scheduled = fields.Boolean(
        readonly=True, help="Its scheduled action is active: the job runs by itself."
    )
    next_run = fields.Datetime(string="Next scheduled run", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        jobs = SQL(", ").join(
            SQL("(%s, %s)", code, sequence) for sequence, (code, _label) in enumerate(JOBS, 1)
        )
        self.env.cr.execute(SQL("""
            CREATE OR REPLACE VIEW %(view)s AS (
                SELECT company.id * 100 + job.sequence AS id,
                       job.code::varchar AS job,
                       job.sequence AS sequence,
                       company.id AS company_id,
                       latest.id AS log_id,
                       COALESCE(latest.status, 'never') AS status,
                       latest.date_start AS date_start,
                       latest.date_end AS date_end,
                       latest.duration AS duration,
                       latest.origin AS origin,
                       latest.user_id AS user_id,
                       latest.processed_count AS processed_count,
                       latest.failed_count AS failed_count,
                       COALESCE(cron.active, FALSE) AS scheduled,
                       CASE WHEN cron.active THEN cron.nextcall END AS next_run
                  FROM res_company company
            CROSS JOIN (VALUES %(jobs)s) AS job(code, sequence)
     LEFT JOIN LATERAL (
                       SELECT line.*
                         FROM civimail_job_log line
                        WHERE line.job = job.code
                          AND (line.company_id IS NULL OR line.company_id = company.id)
                     ORDER BY line.date_start DESC, line.id DESC
                        LIMIT 1
                       ) latest ON TRUE
     LEFT JOIN LATERAL (
                       SELECT ir_cron.active, ir_cron.nextcall
                         FROM ir_cron
                        WHERE ir_cron.civimail_job = job.code
                     ORDER BY ir_cron.active DESC, ir_cron.id
                        LIMIT 1
                       ) cron ON TRUE
            )
        """, view=SQL.identifier(self._table), jobs=jobs))

    def action_open_job_log(self):
        """The runs of this job, newest first."""
        self.ensure_one()
        self.check_access("read")
        return self.env["civimail.job.log"]._action_for_job(self.job)
