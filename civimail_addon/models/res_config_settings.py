from odoo import fields, models

from ..engine.deliverability import DEFAULT_DOMAIN_BLOCKLISTS, DEFAULT_IP_BLOCKLISTS
from .access import check_manager
from .civimail_deliverability_check import (
    DEFAULT_TIMEOUT,
    DKIM_SELECTORS_PARAM,
    DOMAIN_BLOCKLISTS_PARAM,
    IP_BLOCKLISTS_PARAM,
    NAMESERVERS_PARAM,
    TIMEOUT_PARAM,
)
from .civimail_job_log import DEFAULT_RETENTION_DAYS, RETENTION_PARAM
from .civimail_mail_account import DEFAULT_VERP_GRACE_DAYS, VERP_GRACE_DAYS_PARAM
from .mailing_mailing import (
    BATCH_SIZE_PARAM,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_DELAY,
    DELIVERY_MODE_PARAM,
    DELIVERY_MODES,
    MAX_ATTEMPTS_PARAM,
    RETRY_DELAY_PARAM,
    TEST_ADDRESS_PARAM,
)


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    civimail_job_log_retention_days = fields.Integer(
        string="Keep job log lines (days)",
        config_parameter=RETENTION_PARAM,
        default=DEFAULT_RETENTION_DAYS,
        help="The CiviMail: Housekeeping job deletes job log lines older than this.",
    )
    civimail_verp_grace_days = fields.Integer(
        string="Accept the previous VERP secret for (days)",
        config_parameter=VERP_GRACE_DAYS_PARAM,
        default=DEFAULT_VERP_GRACE_DAYS,
        help="After a rotation, bounces of mail signed with the previous secret are still "
        "recognised for this many days.",
    )

    civimail_delivery_mode = fields.Selection(
        DELIVERY_MODES,
        string="Delivery mode",
        config_parameter=DELIVERY_MODE_PARAM,
        default="send",
        help="Send: through the outgoing mail servers. Disabled: nothing leaves and mailings "
        "cannot start. Redirect to database: each message is stored in CiviMail > Spooled "
        "Messages. Test mode: every message goes to the test address.",
    )
    civimail_test_address = fields.Char(
        string="Test address", config_parameter=TEST_ADDRESS_PARAM,
        help="In test mode, every message of every mailing goes to this address.",
    )
    civimail_send_batch_size = fields.Integer(
        string="Recipients per batch", config_parameter=BATCH_SIZE_PARAM,
        default=DEFAULT_BATCH_SIZE,
    )
    civimail_send_max_attempts = fields.Integer(
        string="Attempts before failure", config_parameter=MAX_ATTEMPTS_PARAM,
        default=DEFAULT_MAX_ATTEMPTS,
        help="A recipient refused temporarily (4xx, dropped connection) is tried this many "
        "times, waiting longer each time, before it is marked failed.",
    )
    civimail_send_retry_delay = fields.Integer(
        string="First retry after (s)", config_parameter=RETRY_DELAY_PARAM,
        default=DEFAULT_RETRY_DELAY,
    )

    civimail_dns_nameservers = fields.Char(
        string="Nameservers", config_parameter=NAMESERVERS_PARAM,
        help="The DNS servers the deliverability checks ask (IP or IP:port, separated by "
        "commas); empty: the system's resolver. Spamhaus refuses queries coming through "
        "public resolvers such as 8.8.8.8 or 1.1.1.1: its answers then show as “Could not "
        "check”, never as a listing.",
    )
    civimail_dns_timeout = fields.Float(
        string="Timeout (s)", config_parameter=TIMEOUT_PARAM, default=DEFAULT_TIMEOUT,
        help="How long a DNS lookup may take; one that does not answer in time shows as "
        "“Could not check”.",
    )
    civimail_ip_blocklists = fields.Char(
        string="IP blocklists", config_parameter=IP_BLOCKLISTS_PARAM,
        default=", ".join(DEFAULT_IP_BLOCKLISTS),
        help="DNS blocklist zones the sending IPs are looked up in, separated by commas.",
    )
    civimail_domain_blocklists = fields.Char(
        string="Domain blocklists", config_parameter=DOMAIN_BLOCKLISTS_PARAM,
        default=", ".join(DEFAULT_DOMAIN_BLOCKLISTS),
        help="DNS blocklist zones the From domains are looked up in, separated by commas.",
    )
    civimail_dkim_selectors = fields.Char(
        string="DKIM selectors", config_parameter=DKIM_SELECTORS_PARAM,
        help="The selectors your mail server or provider signs with, separated by commas.",
    )

    def action_civimail_check_deliverability(self):
        """Save the settings, then check deliverability with them."""
        Check = self.env["civimail.deliverability.check"]
        Check._check_manager()
        self.execute()
        return Check._action_check()

    def action_civimail_rotate_verp_secret(self):
        """Sign return addresses with a new secret (e.g. after the old one leaked)."""
        check_manager(self.env, self.env._("Only CiviMail Managers can rotate the VERP secret."))
        self.env["civimail.mail.account"]._rotate_verp_secret()
        # The grace period in force, not the form's (an empty recordset has none).
        grace_days = self.env["civimail.mail.account"]._verp_grace_days()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("VERP secret rotated"),
                "message": self.env._(
                    "New mailings are signed with the new secret; bounces of earlier ones "
                    "are recognised for %s more days.",
                    grace_days,
                ),
                "type": "success",
            },
        }
