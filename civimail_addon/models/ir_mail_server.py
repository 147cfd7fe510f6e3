import contextvars

from odoo import api, fields, models
from odoo.addons.base.models import ir_mail_server as host_mail_server
from odoo.exceptions import ValidationError

from ..engine.deliverability import dnsquery
from ..engine.send_policy import window_end, window_start
from ..engine.tls import client_context
from .access import check_manager

# The TLS context of the SMTP connection being opened by ``IrMailServer.connect``.
_TLS_CONTEXT = contextvars.ContextVar("civimail_smtp_tls_context", default=None)


class VerifyingSMTPConnection(host_mail_server.SMTPConnection):
    """The host's SMTP connection, given CiviMail's TLS context where the host gives none.

    Odoo 18 opens SMTP over TLS and STARTTLS with no SSL context unless the
    server authenticates by certificate, and Python then accepts any
    certificate: anyone on the way could read the password and the mail.
    Outside ``IrMailServer.connect`` below the context is unset and this is
    the host's class unchanged.
    """

    def __init__(self, server, port, encryption, context=None):
        super().__init__(server, port, encryption, context=context or _TLS_CONTEXT.get())

    def starttls(self, *args, context=None, **kwargs):
        return self.__obj__.starttls(*args, context=context or _TLS_CONTEXT.get(), **kwargs)


host_mail_server.SMTPConnection = VerifyingSMTPConnection


class IrMailServer(models.Model):
    """Send limits and a maximum message size for CiviMail mailings.

    The counter lives on the server's row: every worker reserves its batch
    with the row locked, so the limit holds however many workers send.
    """

    _inherit = "ir.mail_server"

    civimail_limit_period = fields.Selection(
        [("none", "No limit"), ("hour", "Per hour"), ("day", "Per day"), ("week", "Per week")],
        string="Send limit", default="none", required=True,
        help="CiviMail mailings send at most this many messages per period through this "
        "server; a mailing reaching it pauses and continues in the next period.",
    )
    civimail_limit = fields.Integer(string="Messages per period", default=0)
    civimail_window_start = fields.Datetime(string="Current period start", readonly=True,
                                            copy=False)
    civimail_window_used = fields.Integer(string="Sent in current period", readonly=True,
                                          copy=False)
    civimail_usage = fields.Char(string="Current usage", compute="_compute_civimail_usage")
    civimail_max_size_kb = fields.Integer(
        string="Maximum message size (kB)", default=0,
        help="A CiviMail mailing whose message is larger refuses to start. 0: no maximum.",
    )

    civimail_accept_self_signed = fields.Boolean(
        string="Accept self-signed certificate",
        help="Skip the verification of the server's certificate (SSL/TLS and STARTTLS). Anyone "
        "between Odoo and the server could then read the password and the mail: use it only "
        "for a server you control whose certificate no authority signed.",
    )
    civimail_sending_ip = fields.Char(
        string="Sending IP",
        help="The public IP address mail sent through this server leaves from, for the "
        "deliverability checks (SPF, reverse DNS, blocklists). Empty: the addresses of the "
        "SMTP host, unless they are local or private.",
    )

    _sql_constraints = [
        ("civimail_limit_positive", "CHECK(civimail_limit >= 0)",
         "The send limit cannot be negative."),
        ("civimail_max_size_positive", "CHECK(civimail_max_size_kb >= 0)",
         "The maximum message size cannot be negative."),
    ]

    @api.constrains("civimail_sending_ip")
    def _check_civimail_sending_ip(self):
        for server in self:
            if server.civimail_sending_ip and dnsquery.parse_ip(server.civimail_sending_ip) is None:
                raise ValidationError(self.env._(
                    "“%s” is not an IP address: enter the public IPv4 or IPv6 address the "
                    "server sends from.", server.civimail_sending_ip,
                ))

    # Server code only: over JSON-RPC any user could make Odoo log in to any server.
    @api.private
    def connect(self, host=None, port=None, user=None, password=None, encryption=None,  # noqa: PLR0917 - the host's signature
                smtp_from=None, ssl_certificate=None, ssl_private_key=None, smtp_debug=False,
                mail_server_id=None, allow_archived=False):
        """The host's connection, its TLS certificate verified (see VerifyingSMTPConnection)."""
        token = _TLS_CONTEXT.set(self._civimail_tls_context(mail_server_id, host, smtp_from))
        try:
            return super().connect(
                host=host, port=port, user=user, password=password, encryption=encryption,
                smtp_from=smtp_from, ssl_certificate=ssl_certificate,
                ssl_private_key=ssl_private_key, smtp_debug=smtp_debug,
                mail_server_id=mail_server_id, allow_archived=allow_archived,
            )
        finally:
            _TLS_CONTEXT.reset(token)

    @api.model
    def _civimail_tls_context(self, mail_server_id, host, smtp_from):
        """A verifying TLS context, unless the server the host will use accepts any certificate.

        The server is found as the host's ``connect`` finds it; a connection
        given by its host (or odoo-bin's SMTP options) is always verified.
        """
        if mail_server_id:
            server = self.sudo().browse(mail_server_id)
        elif not host:
            # None when no server is configured: the host then uses odoo-bin's SMTP options.
            server = self.sudo()._find_mail_server(smtp_from)[0] or self.browse()
        else:
            server = self.browse()
        return client_context(verify=not server.civimail_accept_self_signed)

    def action_civimail_check_deliverability(self):
        """Check the sending IPs of these servers and the mailings' domains now."""
        Check = self.env["civimail.deliverability.check"]
        Check._check_manager()
        self.check_access("read")
        return Check._action_check(self)

    def action_civimail_send_test_email(self):
        self.ensure_one()
        self.env["civimail.deliverability.check"]._check_manager()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_test_email_action")
        action["context"] = {"default_mail_server_id": self.id}
        return action

    @api.depends("civimail_limit_period", "civimail_limit", "civimail_window_start",
                 "civimail_window_used")
    def _compute_civimail_usage(self):
        now = fields.Datetime.now()
        for server in self:
            if server.civimail_limit_period == "none":
                server.civimail_usage = False
                continue
            used = server._civimail_used(now)
            server.civimail_usage = self.env._(
                "%(used)s of %(limit)s, until %(end)s (UTC)",
                used=used, limit=server.civimail_limit,
                end=fields.Datetime.to_string(window_end(server.civimail_limit_period, now)),
            )

    def _civimail_used(self, now):
        self.ensure_one()
        start = window_start(self.civimail_limit_period, now)
        return self.civimail_window_used if self.civimail_window_start == start else 0

    def action_civimail_reset_limit(self):
        # CiviMail Managers reset limits without being Settings administrators.
        check_manager(self.env, self.env._("Only CiviMail Managers can reset a send limit."))
        self.sudo().write({"civimail_window_used": 0, "civimail_window_start": False})
        return True

    @api.model
    def _civimail_server_for(self, mailing):
        """(outgoing server, SMTP sender) of ``mailing``'s messages, chosen as the host chooses."""
        if mailing.mail_server_id:
            return mailing.mail_server_id.sudo(), mailing.email_from
        return self.sudo()._find_mail_server(mailing.email_from)

    @api.model
    def _civimail_connect(self, route):
        """A new SMTP session of ``route`` (server id, SMTP sender), opened the host's way."""
        server_id, smtp_from = route
        return self.sudo().connect(mail_server_id=server_id, smtp_from=smtp_from)

    def _civimail_reserve(self, cr, count, now):
        """Reserve up to ``count`` sends on this server: (granted, window end or None).

        Runs on ``cr`` (the worker's journal cursor, committed by the caller)
        with the server's row locked, so concurrent workers never exceed it.
        """
        self.ensure_one()
        cr.execute(
            "SELECT civimail_limit_period, civimail_limit, civimail_window_start, "
            "civimail_window_used FROM ir_mail_server WHERE id = %s FOR UPDATE",
            [self.id],
        )
        period, limit, start, used = cr.fetchone()
        if not period or period == "none":
            return count, None
        current = window_start(period, now)
        used = used if start == current else 0
        granted = max(0, min(count, (limit or 0) - used))
        cr.execute(
            "UPDATE ir_mail_server SET civimail_window_start = %s, civimail_window_used = %s "
            "WHERE id = %s",
            [current, used + granted, self.id],
        )
        self.invalidate_recordset(["civimail_window_start", "civimail_window_used"])
        return granted, window_end(period, now)

    def _civimail_release(self, cr, count, now):
        """Give back ``count`` unused reservations of the current period."""
        self.ensure_one()
        if count <= 0 or self.civimail_limit_period == "none":
            return
        cr.execute(
            "UPDATE ir_mail_server "
            "SET civimail_window_used = GREATEST(civimail_window_used - %s, 0) "
            "WHERE id = %s AND civimail_window_start = %s",
            [count, self.id, window_start(self.civimail_limit_period, now)],
        )
        self.invalidate_recordset(["civimail_window_used"])
