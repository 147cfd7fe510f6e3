from odoo import api, fields, models

from .civimail_job_log import JOBS


class IrCron(models.Model):
    _inherit = "ir.cron"

    civimail_job = fields.Selection(
        JOBS,
        string="CiviMail Job",
        readonly=True,
        help="The CiviMail job this scheduled action runs; its runs are in the CiviMail job log.",
    )
    civimail_job_log_count = fields.Integer(
        string="Job Log Lines", compute="_compute_civimail_job_log_count"
    )

    @api.depends("civimail_job")
    def _compute_civimail_job_log_count(self):
        counts = dict(
            self.env["civimail.job.log"]._read_group(
                [("job", "in", self.mapped("civimail_job"))], ["job"], ["__count"]
            )
        )
        for cron in self:
            cron.civimail_job_log_count = counts.get(cron.civimail_job, 0)

    def action_open_civimail_job_logs(self):
        self.ensure_one()
        self.check_access("read")
        return self.env["civimail.job.log"]._action_for_job(self.civimail_job)
