import json

from markupsafe import Markup
from odoo import api, fields, models

from .access import check_manager
from .stored_messages import fact, render


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
    email_hold_data = fields.Json(readonly=True, copy=False)
    email_hold_type_id = fields.Many2one(
        "civimail.bounce.type", string="Held for", readonly=True, copy=False,
        index="btree_not_null", help="The bounce type that put the email on hold.",
    )
    email_hold_reason = fields.Char(
        string="Hold reason", compute="_compute_email_hold_reason",
        help="Why the email is on hold, in the reader's language.",
    )
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

    @api.depends("email_hold_data")
    @api.depends_context("lang")
    def _compute_email_hold_reason(self):
        for partner in self:
            partner.email_hold_reason = render(self.env, partner.email_hold_data) or False

    def _civimail_put_on_hold(self, holds):
        """Hold these contacts' email; ``holds`` maps each contact to the
        (bounce type, count, last diagnostic) that reached the type's threshold."""
        reasons = {
            partner: (
                fact("hold_reason_one", type={"result": bounce_type.code}) if count == 1
                else fact("hold_reason", count=count, type={"result": bounce_type.code},
                          threshold=bounce_type.hold_threshold)
            )
            for partner, (bounce_type, count, _diagnostic) in holds.items()
        }
        now = fields.Datetime.now()
        keys = {partner: json.dumps(reason, sort_keys=True) for partner, reason in reasons.items()}
        for partners in self.grouped(lambda p: keys[p]).values():
            partners.write({
                "email_on_hold": True, "email_hold_date": now,
                "email_hold_data": reasons[partners[0]],
                "email_hold_type_id": holds[partners[0]][0].id,
            })
        self._civimail_log_hold_notes({
            partner.id: (reasons[partner], holds[partner][2]) for partner in self})

    def _civimail_log_hold_notes(self, holds, date=None):
        """Log on each contact the note of its hold, in the contact's language;
        ``holds`` maps each contact's id to (reason as a fact, last diagnostic);
        ``date``: when the hold was put, if not now.

        Without notifying followers: as cheap as the host's own logs. Each
        reason is worded once per language.
        """
        envs, worded = {}, {}
        bodies = {}
        for partner in self:
            reason, diagnostic = holds[partner.id]
            key = (partner.lang or self.env.lang, json.dumps(reason, sort_keys=True))
            env = envs.get(key[0]) or envs.setdefault(key[0], partner._civimail_in_own_language())
            if key not in worded:
                worded[key] = render(env, reason)
            bodies[partner.id] = Markup("<p>%s</p>") % env._(
                "Email %(email)s put on hold: %(reason)s. Last diagnostic: %(diagnostic)s",
                email=partner.email_normalized,
                reason=worded[key],
                diagnostic=diagnostic or "-",
            )
        return self._civimail_log_notes(bodies, date)

    def _civimail_log_notes(self, bodies, date=None):
        """Log ``bodies`` (by contact id) as notes, dated ``date`` when it is not now."""
        messages = self._message_log_batch(bodies=bodies)
        if date:
            messages.write({"date": date})
        return messages

    def _civimail_in_own_language(self):
        """The environment in which notes about this contact are worded, as the host does."""
        self.ensure_one()
        return self.with_context(lang=self.lang or self.env.lang).env

    def action_civimail_put_on_hold(self):
        """Put the email of these contacts on hold by hand, as CiviCRM allows."""
        check_manager(self.env, self.env._("Only CiviMail Managers can put an email on hold."))
        self.check_access("read")
        partners = self.sudo().filtered(lambda p: p.email_normalized and not p.email_on_hold)
        reason = fact("hold_manual", user=self.env.user.name)
        partners.write({"email_on_hold": True, "email_hold_date": fields.Datetime.now(),
                        "email_hold_data": reason})
        partners._message_log_batch(bodies={
            partner.id: Markup("<p>%s</p>") % partner._civimail_in_own_language()._(
                "Email %(email)s put on hold by %(user)s.",
                email=partner.email_normalized,
                user=self.env.user.name,
            )
            for partner in partners
        })
        return True

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
                        "email_hold_data": False, "email_hold_type_id": False})
        partners._civimail_log_release_notes(self.env.user)
        return True

    def _civimail_log_release_notes(self, user, date=None):
        """Log on each contact that ``user`` released its email, in the contact's language
        (``date``: when, if not now)."""
        return self._civimail_log_notes({
            partner.id: Markup("<p>%s</p>") % partner._civimail_in_own_language()._(
                "Email %(email)s released from hold by %(user)s.",
                email=partner.email_normalized or partner.email,
                user=user.name,
            )
            for partner in self
        }, date)

    def action_open_civimail_bounces(self):
        self.ensure_one()
        self.env["civimail.bounce"].check_access("read")
        action = self.env["ir.actions.actions"]._for_xml_id("civimail_addon.civimail_bounce_action")
        action["domain"] = [("email", "=", self.email_normalized or "")]
        return action
