import json
import logging
import secrets
import ssl
import time
import uuid
from datetime import UTC, datetime

import requests
from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..engine.webhooks import PROVIDERS, brevo, mailgun, postmark, sendgrid, ses

_logger = logging.getLogger(__name__)

# Tests only: a regular expression of the hosts SNS certificates may come from
# instead of sns.<region>.amazonaws.com. Production never sets it.
SNS_CERTIFICATE_HOST_PARAM = "civimail_addon.sns_certificate_host"
DEFAULT_MAX_AGE_MINUTES = {
    "ses": ses.DEFAULT_MAX_AGE // 60, "mailgun": mailgun.DEFAULT_MAX_AGE // 60,
    "sendgrid": sendgrid.DEFAULT_MAX_AGE // 60, "postmark": postmark.DEFAULT_MAX_AGE // 60,
    "brevo": brevo.DEFAULT_MAX_AGE // 60,
}
# SNS signing certificates by URL, as AWS advises (they change rarely).
_SNS_CERTIFICATES = {}
_SNS_CERTIFICATES_KEPT = 32


class CivimailProviderAccount(models.Model):
    """An email provider whose signed event webhook reports bounces, complaints,
    unsubscribes and deliveries of the mail we send through it."""

    _name = "civimail.provider.account"
    _description = "CiviMail Provider Account"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    provider = fields.Selection(
        [
            ("ses", "Amazon SES (through SNS)"),
            ("mailgun", "Mailgun"),
            ("sendgrid", "SendGrid"),
            ("postmark", "Postmark"),
            ("brevo", "Brevo"),
        ],
        required=True,
        default="ses",
    )
    mail_server_ids = fields.Many2many(
        "ir.mail_server", string="Outgoing servers",
        help="The outgoing mail servers that send through this provider.",
    )
    signing_key = fields.Char(
        string="Signing secret", groups="civimail_addon.group_civimail_manager", copy=False,
        help="Mailgun: the HTTP webhook signing key. SendGrid: the verification key of the "
        "signed event webhook. Postmark: the password of the webhook URL. Brevo: the bearer "
        "token of the webhook. Amazon SES: not used (SNS signs with Amazon's certificate).",
    )
    webhook_user = fields.Char(
        string="Webhook user", groups="civimail_addon.group_civimail_manager", copy=False,
        help="Postmark: the user name of the webhook URL (HTTP basic authentication).",
    )
    webhook_token = fields.Char(
        readonly=True, copy=False, groups="civimail_addon.group_civimail_manager",
        default=lambda self: secrets.token_urlsafe(24),
        help="The secret part of the webhook URL, which names this account.",
    )
    webhook_url = fields.Char(
        string="Webhook URL", compute="_compute_webhook_url",
        groups="civimail_addon.group_civimail_manager",
        help="Paste it in the provider's console (see the README's steps for each provider).",
    )
    max_event_age = fields.Integer(
        string="Maximum event age (minutes)", compute="_compute_max_event_age", store=True,
        readonly=False,
        help="Older events are refused (replayed requests): the signed time for Mailgun and "
        "SendGrid, which sign each attempt; the event's own time for the others, kept "
        "through the provider's retries.",
    )
    rate_limit = fields.Integer(
        string="Events per minute", default=6000,
        help="More requests within a minute are refused (HTTP 429); providers retry them.",
    )
    last_event_date = fields.Datetime(string="Last event received", compute="_compute_events")
    event_count = fields.Integer(string="Events", compute="_compute_events")

    _sql_constraints = [
        ("webhook_token_unique", "UNIQUE(webhook_token)", "The webhook token must be unique."),
    ]

    @api.depends("provider")
    def _compute_max_event_age(self):
        for account in self:
            account.max_event_age = DEFAULT_MAX_AGE_MINUTES.get(account.provider, 15)

    @api.depends("provider", "webhook_token")
    def _compute_webhook_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for account in self:
            account.webhook_url = (
                f"{base.rstrip('/')}{account._webhook_path()}" if account.webhook_token else False
            )

    def _compute_events(self):
        Event = self.env["civimail.provider.event"]
        stats = dict.fromkeys(self.ids, (False, 0))
        if self.ids:
            for account, last, count in Event.sudo()._read_group(
                [("account_id", "in", self.ids)], ["account_id"], ["create_date:max", "__count"]
            ):
                stats[account.id] = (last, count)
        for account in self:
            account.last_event_date, account.event_count = stats.get(account.id, (False, 0))

    def _webhook_path(self):
        self.ensure_one()
        return f"/civimail/webhook/{self.provider}/{self.sudo().webhook_token}"

    # ------------------------------------------------------------------
    # Receiving (called by the controller, as superuser, before anything else)
    # ------------------------------------------------------------------
    @api.model
    def _for_webhook(self, provider, token):
        """The active account a webhook URL names, else an empty recordset."""
        if provider not in PROVIDERS or not token:
            return self.browse()
        return self.sudo().search(
            [("provider", "=", provider), ("webhook_token", "=", token)], limit=1
        )

    def _verify(self, body, headers, token):
        """Check the request is the provider's and fresh; return its replay key.

        Raises :class:`Refused`.
        """
        self.ensure_one()
        account = self.sudo()
        now = time.time()
        max_age = account.max_event_age * 60
        secret = account.signing_key or ""
        if account.provider == "ses":
            return ses.verify(body, self._sns_certificate, now, max_age, self._sns_host())
        if account.provider == "mailgun":
            return mailgun.verify(body, secret, now, max_age)
        if account.provider == "sendgrid":
            return sendgrid.verify(body, headers, secret, now, max_age)
        if account.provider == "postmark":
            return postmark.verify(
                body, headers, path_token=token, user=account.webhook_user or "",
                password=secret, expected_token=account.webhook_token, now=now, max_age=max_age,
            )
        return brevo.verify(body, headers, secret, now, max_age)

    @api.model
    def _sns_host(self):
        host = self.env["ir.config_parameter"].sudo().get_param(SNS_CERTIFICATE_HOST_PARAM)
        return host or ses.CERT_HOST

    @api.model
    def _sns_certificate(self, url):
        """The PEM at an allowed SNS certificate URL, fetched once per process."""
        if url not in _SNS_CERTIFICATES:
            pem = ses.fetch_certificate(url, self._sns_host(), context=ssl.create_default_context())
            if len(_SNS_CERTIFICATES) >= _SNS_CERTIFICATES_KEPT:
                _SNS_CERTIFICATES.clear()
            _SNS_CERTIFICATES[url] = pem
        return _SNS_CERTIFICATES[url]

    def _confirm_sns_subscription(self, body):
        """Confirm a verified SNS SubscriptionConfirmation (else nothing).

        Returns the reason to store with the event, or "".
        """
        self.ensure_one()
        if self.provider != "ses":
            return ""
        try:
            if not ses.confirm_subscription(body, self._sns_host(),
                                            context=ssl.create_default_context()):
                return ""
        except OSError as error:
            _logger.warning("CiviMail: SNS subscription not confirmed: %s", error)
            return self.env._("Amazon SNS subscription not confirmed: %(error)s", error=error)
        _logger.info("CiviMail: SNS subscription of provider account %s confirmed", self.id)
        return self.env._("Amazon SNS subscription confirmed.")

    def _over_rate_limit(self):
        """True when the account received ``rate_limit`` events within the last minute."""
        self.ensure_one()
        limit = self.sudo().rate_limit
        if limit <= 0:
            return False
        self.env.cr.execute(SQL(
            "SELECT COUNT(*) FROM (SELECT 1 FROM civimail_provider_event WHERE account_id = %s "
            "AND create_date > (now() at time zone 'UTC') - interval '1 minute' LIMIT %s) recent",
            self.id, limit,
        ))
        return self.env.cr.fetchone()[0] >= limit

    # ------------------------------------------------------------------
    # What the bounce recording needs of the account that reported a bounce
    # ------------------------------------------------------------------
    def _civimail_bounce_origin(self):
        return {"provider_account_id": self.id}

    def _notify_blocked(self, bounce):
        """Managers hear of Blocked bounces through the company's bounce account."""
        default = self.env["civimail.mail.account"]._default_bounce_account(self.company_id)
        if default:
            default._notify_blocked(bounce)

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------
    def action_open_events(self):
        self.ensure_one()
        self.check_access("read")
        self.env["civimail.provider.event"].check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_provider_event_action"
        )
        action["domain"] = [("account_id", "=", self.id)]
        action["context"] = {}
        return action

    def action_send_test_event(self):
        """Post a signed sample event (a delivery of no message of ours) to our own endpoint."""
        self.ensure_one()
        self.check_access("write")
        body, headers = self._sample_request()
        try:
            response = requests.post(self.webhook_url, data=body, headers=headers, timeout=15)
        except requests.RequestException as error:
            raise UserError(self.env._(
                "The webhook URL %(url)s cannot be reached from this server: %(error)s",
                url=self.webhook_url, error=error,
            )) from error
        expected = 403 if self.provider in ("ses", "sendgrid") else 200
        if response.status_code == expected:
            message, kind = (
                self.env._("The endpoint answered and refuses unsigned events, as it should "
                           "(only the provider holds the key that signs them).")
                if expected == 403 else
                self.env._("The endpoint accepted a signed sample event; it is stored and "
                           "will be ignored (it names no message of ours).")
            ), "success"
        else:
            message, kind = self.env._(
                "The endpoint answered %(status)s: %(text)s", status=response.status_code,
                text=response.text[:200],
            ), "warning"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": self.env._("Test event"), "message": message, "type": kind,
                       "sticky": False},
        }

    def _sample_request(self):
        """A sample delivery event for this account, signed when we hold its secret."""
        account = self.sudo()
        now = int(time.time())
        stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        headers = {"Content-Type": "application/json"}
        sample_id = str(uuid.uuid4())
        secret = account.signing_key or ""
        if account.provider == "mailgun":
            token = secrets.token_hex(25)
            payload = {"signature": {"timestamp": str(now), "token": token,
                                     "signature": mailgun.sign(secret, str(now), token)},
                       "event-data": {"event": "delivered", "id": sample_id, "timestamp": now,
                                      "recipient": "test@example.invalid"}}
        elif account.provider == "postmark":
            headers["Authorization"] = postmark.basic_authorization(
                account.webhook_user or "", secret)
            payload = {"RecordType": "Delivery", "MessageID": sample_id,
                       "Recipient": "test@example.invalid", "DeliveredAt": stamp}
        elif account.provider == "brevo":
            headers["Authorization"] = f"Bearer {secret}"
            payload = {"event": "delivered", "email": "test@example.invalid",
                       "message-id": f"<{sample_id}@example.invalid>", "ts_event": now}
        elif account.provider == "sendgrid":
            payload = [{"event": "delivered", "email": "test@example.invalid",
                        "timestamp": now, "sg_event_id": sample_id}]
        else:
            payload = {"Type": "Notification", "MessageId": sample_id, "Timestamp": stamp,
                       "SignatureVersion": "1", "Signature": "",
                       "SigningCertURL": "https://sns.us-east-1.amazonaws.com/unsigned.pem",
                       "Message": json.dumps({"notificationType": "Delivery"})}
        return json.dumps(payload).encode(), headers
