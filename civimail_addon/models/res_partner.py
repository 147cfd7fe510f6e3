from markupsafe import Markup
from odoo import fields, models

from .access import check_manager


class ResPartner(models.Model):
    _inherit = "res.partner"

    email_on_hold = fields.Boolean(
        string="Email on hold",
        readonly=True,
        copy=False,
        index=True,
        help="Mailings skip this email: it bounced as often as its bounce type allows. "
        "A CiviMail Manager can release it.",
    )
    email_hold_date = fields.Datetime(string="On hold since", readonly=True, copy=False)
    email_hold_reason = fields.Char(string="Hold reason", readonly=True, copy=False)
    civimail_bounce_ids = fields.Many2many(
        "civimail.bounce", string="Bounces", compute="_compute_civimail_bounces",
    )
    civimail_bounce_count = fields.Integer(
        string="Bounce count", compute="_compute_civimail_bounces",
    )

    def _compute_civimail_bounces(self):
        Bounce = self.env["civimail.bounce"]
        emails = [email for email in self.mapped("email_normalized") if email]
        bounces = Bounce.search([("email", "in", emails)]) if emails else Bounce
        for partner in self:
            own = bounces.filtered(lambda b, p=partner: b.email == p.email_normalized)
            partner.civimail_bounce_ids = own
            partner.civimail_bounce_count = len(own)

    def _civimail_put_on_hold(self, holds):
        """Hold these contacts' email; ``holds`` maps each contact to the
        (bounce type, count, last diagnostic) that reached the type's threshold."""
        reasons = {
            partner: self.env._(
                "%(count)s bounces of type “%(type)s” (threshold %(threshold)s)",
                count=count,
                type=bounce_type.name,
                threshold=bounce_type.hold_threshold,
            )
            for partner, (bounce_type, count, _diagnostic) in holds.items()
        }
        now = fields.Datetime.now()
        for reason in set(reasons.values()):
            self.filtered(lambda p, r=reason: reasons[p] == r).write({
                "email_on_hold": True, "email_hold_date": now, "email_hold_reason": reason,
            })
        # A note per contact, without notifying followers: as cheap as the host's own logs.
        self._message_log_batch(bodies={
            partner.id: Markup("<p>%s</p>") % self.env._(
                "Email %(email)s put on hold: %(reason)s. Last diagnostic: %(diagnostic)s",
                email=partner.email_normalized,
                reason=reasons[partner],
                diagnostic=holds[partner][2] or "-",
            )
            for partner in self
        })

    def action_civimail_release_hold(self):
        """Release the email of these contacts: mailings reach it again."""
        check_manager(self.env, self.env._(
            "Only CiviMail Managers can release an email from hold."))
        self.check_access("read")
        emails = [email for email in self.mapped("email_normalized") if email]
        # Every contact sharing the email is released with it, and the counters restart.
        partners = self.sudo().search([
            ("email_normalized", "in", emails), ("email_on_hold", "=", True)
        ]) | self.sudo().filtered("email_on_hold")
        self.env["civimail.bounce"].sudo().search([
            ("email", "in", emails), ("released", "=", False)
        ]).write({"released": True})
        partners._message_reset_bounce(False)
        partners.write({"email_on_hold": False, "email_hold_date": False,
                        "email_hold_reason": False})
        partners._message_log_batch(bodies={
            partner.id: Markup("<p>%s</p>") % self.env._(
                "Email %(email)s released from hold by %(user)s.",
                email=partner.email_normalized or partner.email,
                user=self.env.user.name,
            )
            for partner in partners
        })
        return True

    def action_open_civimail_bounces(self):
        self.ensure_one()
        self.env["civimail.bounce"].check_access("read")
        action = self.env["ir.actions.actions"]._for_xml_id("civimail_addon.civimail_bounce_action")
        action["domain"] = [("email", "=", self.email_normalized or "")]
        return action
