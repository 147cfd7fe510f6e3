import werkzeug.urls
from odoo import models


class MailMail(models.Model):
    """The CiviMail job renders each message with an in-memory mail.mail.

    The host's rendering (``_prepare_outgoing_list``) then runs unchanged;
    only the ids it writes into tracked links and the open-tracking pixel are
    those of records that exist: the trace, and a mail id reserved for it
    (``mailing.trace.mail_mail_id_int``), which the host's tracking route reads.
    """

    _inherit = "mail.mail"

    def _get_tracking_url(self):
        mail_id = self.env.context.get("civimail_mail_id")
        if self.id or not mail_id:
            return super()._get_tracking_url()
        token = self._generate_mail_recipient_token(mail_id)
        return werkzeug.urls.url_join(
            self.get_base_url(), f"mail/track/{mail_id}/{token}/blank.gif"
        )

    def _prepare_outgoing_body(self):
        body = super()._prepare_outgoing_body()
        trace_id = self.env.context.get("civimail_trace_id")
        if body and trace_id and not self.id and self.mailing_trace_ids:
            # The host wrote the new record's id (NewId_<trace>) into /r/<code>/m/ links.
            body = body.replace(f"/m/{self.mailing_trace_ids[0].id}", f"/m/{trace_id}")
        return body
