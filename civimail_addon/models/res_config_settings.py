from odoo import fields, models

from .civimail_job_log import DEFAULT_RETENTION_DAYS, RETENTION_PARAM


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    civimail_job_log_retention_days = fields.Integer(
        string="Keep job log lines (days)",
        config_parameter=RETENTION_PARAM,
        default=DEFAULT_RETENTION_DAYS,
        help="The CiviMail: Housekeeping job deletes job log lines older than this.",
    )
