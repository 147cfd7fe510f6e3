import base64
import smtplib

from odoo import api, fields, models, tools
from odoo.addons.base.models.ir_mail_server import MailDeliveryException
from odoo.exceptions import UserError

from ..models.mailing_mailing import TEST_ADDRESS_PARAM


def smtp_reply(error):
    """(code, text) of the SMTP answer behind a sending failure; (0, text) without one."""
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code, text = next(iter(error.recipients.values()))
    elif isinstance(error, smtplib.SMTPResponseException):
        code, text = error.smtp_code, error.smtp_error
    else:
        return 0, str(error)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return code, text


class CivimailTestEmail(models.TransientModel):
    """Send one email through an outgoing server and say what the server answered."""

    _name = "civimail.test.email"
    _description = "CiviMail: Send Test Email"

    email_to = fields.Char(string="Send to", required=True)
    email_from = fields.Char(
        string="From", required=True,
        default=lambda self: self.env.user.email_formatted
        or self.env["ir.mail_server"]._get_default_from_address(),
    )
    mail_server_id = fields.Many2one(
        "ir.mail_server", string="Outgoing server",
        default=lambda self: self._default_mail_server(),
        help="Empty: the server Odoo would choose for the From address.",
    )
    delivery_mode = fields.Char(
        compute="_compute_delivery_mode", default=lambda self: self._delivery_mode_label()
    )
    state = fields.Selection(
        [("draft", "To send"), ("accepted", "Accepted"), ("refused", "Refused"),
         ("spooled", "Stored in the database"), ("disabled", "Not sent")],
        default="draft", readonly=True,
    )
    smtp_code = fields.Integer(string="SMTP code", readonly=True)
    smtp_text = fields.Char(string="SMTP answer", readonly=True)
    result = fields.Text(readonly=True)

    @api.model
    def _default_mail_server(self):
        """The server Odoo would send the default From address through, else the first one."""
        servers = self.env["ir.mail_server"].sudo()
        email_from = self.env.user.email or servers._get_default_from_address()
        server = servers._find_mail_server(email_from)[0] if email_from else servers
        return server or servers.search([], limit=1)

    @api.depends_context("lang")
    def _compute_delivery_mode(self):
        for wizard in self:
            wizard.delivery_mode = self._delivery_mode_label()

    @api.model
    def _delivery_mode_label(self):
        """What the Send button does under the current delivery mode, in words."""
        mode = self._mode()
        labels = {
            "send": self.env._("Send"),
            "disabled": self.env._("Disabled: nothing is sent"),
            "spool": self.env._("Redirect to database: the message is stored, not sent"),
            "test": self.env._("Test mode: the message goes to the test address"),
        }
        return labels.get(mode, mode)

    @api.model
    def _mode(self):
        return self.env["mailing.mailing"]._civimail_delivery_mode()

    def action_send(self):
        self.ensure_one()
        self.env["civimail.deliverability.check"]._check_manager()
        self.check_access("write")
        email_to = tools.email_normalize(self.email_to or "")
        if not email_to:
            raise UserError(self.env._("“%s” is not a valid email address.", self.email_to))
        mode = self._mode()
        if mode == "disabled":
            self._report("disabled", 0, "", self.env._(
                "CiviMail delivery is disabled (setting “Delivery mode”): nothing was sent."))
            return self._reopen()
        if mode == "test":
            email_to = tools.email_normalize(
                self.env["ir.config_parameter"].sudo().get_param(TEST_ADDRESS_PARAM) or ""
            ) or email_to
        IrMailServer = self.env["ir.mail_server"].sudo()
        message = IrMailServer.build_email(
            self.email_from, [email_to], self.env._("CiviMail test email"),
            self.env._(
                "This test email was sent by CiviMail through the outgoing server "
                "“%(server)s” to check that mail is delivered. Look at its headers (or paste "
                "them into CiviMail's header analyzer) to see how it was received.",
                server=self.mail_server_id.name or self.env._("chosen by Odoo"),
            ),
        )
        if mode == "spool" and "civimail.spool" in self.env:
            data = message.as_bytes()
            self.env["civimail.spool"].sudo().create({
                "mail_from": self.email_from, "rcpt_to": email_to,
                "subject": message["Subject"], "size": len(data),
                "raw": base64.b64encode(data),
            })
            self._report("spooled", 0, "", self.env._(
                "Delivery mode “Redirect to database”: the message to %s was stored in "
                "Spooled Messages, not sent.", email_to))
            return self._reopen()
        try:
            IrMailServer.send_email(message, mail_server_id=self.mail_server_id.id or None)
        except MailDeliveryException as error:
            code, text = smtp_reply(error.__context__ or error)
            self._report("refused", code, text, self.env._(
                "The server refused the message to %(email)s: %(code)s %(text)s",
                email=email_to, code=code or "", text=text))
        except (UserError, smtplib.SMTPException, OSError) as error:
            code, text = smtp_reply(error)
            if isinstance(error, UserError):
                text = error.args[0]
            self._report("refused", code, text, self.env._(
                "The message to %(email)s could not be sent: %(text)s",
                email=email_to, text=text))
        else:
            self._report("accepted", 0, "", self.env._(
                "The server accepted the message to %(email)s (Message-ID %(message_id)s). "
                "Whether it reaches the inbox is up to the receiving server: check the inbox "
                "and the spam folder.",
                email=email_to, message_id=message["Message-Id"]))
        return self._reopen()

    def _report(self, state, code, text, result):
        self.write({"state": state, "smtp_code": code, "smtp_text": text or False,
                    "result": result})

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Send Test Email"),
        }
