from odoo import models


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    def _get_done_emails(self, mail_values_dict):
        # The CiviMail job renders recipients whose traces it created itself,
        # duplicates already skipped: the host's "seen list" would name them all.
        if self.env.context.get("civimail_sending"):
            return []
        return super()._get_done_emails(mail_values_dict)
