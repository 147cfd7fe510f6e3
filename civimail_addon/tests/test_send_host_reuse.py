import tempfile

from odoo import Command
from odoo.tests import tagged
from odoo.tools.mail import html_normalize

from ..models.mail_mail import OUTGOING_KEYS
from .common import CivimailCase


@tagged("post_install", "-at_install")
class TestSendHostReuse(CivimailCase):
    """What the sending job takes from the host: its composer, its rendering, what it keeps.

    Mailings go to the database ("Redirect to database" delivery mode): no
    server is needed to see what the job does around each message.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["civimail.mail.account"].create({
            "name": "Returns", "usage": "bounce", "protocol": "directory",
            "path": tempfile.gettempdir(),
            "local_part": "return+", "email_domain": "bounces.example.org", "is_default": True,
        })
        cls.env["ir.config_parameter"].sudo().set_param("civimail_addon.delivery_mode", "spool")
        cls.responsible = cls.env["res.users"].create({
            "name": "Mailing Owner", "login": "civimail_owner", "email": "owner@example.org",
            "groups_id": [Command.link(cls.env.ref("mass_mailing.group_mass_mailing_user").id)],
        })
        cls.partners = cls.env["res.partner"].create([
            {"name": "Ada <Lovelace> & Co", "email": "ada@example.com"},
            {"name": "Zoë Ünïcødé", "email": "zoe@example.com", "user_id": cls.responsible.id},
            {"name": "Grace", "email": "grace@example.com"},
        ])

    def make_mailing(self, **values):
        return self.env["mailing.mailing"].create({
            "subject": "News for {{ object.name }}",
            "body_html": '<p>Dear <t t-out="object.name"/>, read on.</p>',
            "email_from": "News <news@example.org>",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": repr([("id", "in", self.partners.ids)]),
            "user_id": self.responsible.id,
            **values,
        })

    def send(self, mailing):
        mailing.action_put_in_queue()
        log = self.env["civimail.job.log"]._run_job(
            "send_mailings", records=mailing, origin="button")
        self.assertEqual(log.status, "ok", log.message)
        self.assertEqual(mailing.state, "done")
        return self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)])

    def test_regex_rendering_is_the_hosts(self):
        """The copy of the host's regex renderer gives the host's result on every record."""
        template = (
            '<p>Dear <t t-out="object.name"/>,</p>'
            '<p>Your contact: <b t-out="object.user_id.name">our team</b>'
            '<t t-out="object.partner_id.name"/></p>'
            "<p>écrit & envoyé</p>"
        )
        host = self.env["mail.render.mixin"]._render_template_qweb_regex(
            template, "res.partner", self.partners.ids)
        ours = self.env["mail.compose.message"]._civimail_render_regex(
            html_normalize(f"<div>{template}</div>"), "res.partner", self.partners.ids)
        self.assertEqual(ours, host)
        self.assertIn("Ada &lt;Lovelace&gt; &amp; Co", host[self.partners[0].id])
        self.assertIn("<b>Mailing Owner</b>", host[self.partners[1].id])
        self.assertIn("<b>our team</b>", host[self.partners[2].id])
        # Through the composer's override (several records at once), the same again.
        composer_render = self.env["mail.compose.message"].with_context(
            civimail_sending=True)._render_template_qweb_regex
        self.assertEqual(composer_render(template, "res.partner", self.partners.ids), host)

    def test_prepared_messages_are_the_hosts(self):
        """The copy of the host's outgoing preparation gives what the host's gives, key by key."""
        mailing = self.make_mailing(
            body_html='<p>Dear <t t-out="object.name"/>, <a href="https://example.com/read">read'
                      '</a>, <a href="/view">online</a> or <a href="/unsubscribe_from_list">'
                      "unsubscribe</a>.</p><p>été</p>",
            reply_to_mode="new", reply_to="Réponses <replies@example.org>",
            civimail_track_replies=True)
        mailing._civimail_start()
        Trace = self.env["mailing.trace"].sudo()
        traces = Trace._civimail_claim(mailing, 1, 10)
        self.assertEqual(len(traces), 3)
        values_all = mailing._civimail_composer()._prepare_mail_values(traces.mapped("res_id"))
        route = mailing._civimail_route()
        MailMail = self.env["mail.mail"].sudo()
        context = MailMail._civimail_mailing_context(mailing, "send")
        for trace in traces:
            values = values_all[trace.res_id]
            addresses = trace._civimail_addresses(route[3])
            ours = MailMail._civimail_prepare_outgoing(mailing, trace, values, addresses, context)
            host = MailMail._civimail_prepare_outgoing_host(
                mailing, trace, values, route[0], addresses)
            for key in OUTGOING_KEYS:
                self.assertEqual(ours[key], host[key], key)
            self.assertRegex(ours["body"], rf"/r/\w+/m/{trace.id}")
            self.assertIn(f"/mail/track/{trace.mail_mail_id_int}/", ours["body"])
            self.assertIn(f"/mailing/{mailing.id}/confirm_unsubscribe?", ours["body"])
            self.assertIn(f"/mailing/{mailing.id}/view?", ours["body"])
            self.assertIn("+r.", ours["reply_to"])
        # At run time the first message is compared too: equal, so the copy goes on.
        MailMail._civimail_build_message(
            mailing, traces[0], values_all[traces[0].res_id], route, context, probe=True)
        self.assertFalse(context["host_rendering"])

    def test_recipients_are_the_ones_the_host_finds(self):
        """The copy of the host's recipient finding (trace emails) gives the host's addresses."""
        people = self.partners | self.env["res.partner"].create([
            {"name": "Two Addresses", "email": "first@example.com, second@example.com"},
            {"name": "Formatted", "email": '"Dr. Who" <Who@Example.com>'},
            {"name": "Nobody", "email": False},
            {"name": "Broken", "email": "not an address"},
        ])
        contacts = self.env["mailing.contact"].create([
            {"name": "Élise", "email": "Elise <elise@example.com>"},
            {"name": "Bare", "email": "bare@example.com"},
        ])
        for model, records in (("res.partner", people), ("mailing.contact", contacts)):
            mailing = self.make_mailing(mailing_model_id=self.env["ir.model"]._get_id(model),
                                        mailing_domain=repr([("id", "in", records.ids)]))
            composer = self.env["mail.compose.message"].with_context(
                active_ids=records.ids).create({
                    "composition_mode": "mass_mail", "model": model,
                    "mass_mailing_id": mailing.id, "body": mailing.body_html,
                    "subject": mailing.subject, "email_from": mailing.email_from})
            host = composer._get_recipients_data(composer._prepare_mail_values(records.ids))
            ours = mailing._civimail_recipients(records.ids)
            for record in records:
                mail_to = host[record.id]["mail_to"]
                # No address: the host's False, ours "" (both leave the trace without email).
                self.assertEqual(ours[record.id] or False, mail_to[0] if mail_to else False,
                                 record.name)

    def test_the_composer_is_the_one_the_host_builds(self):
        """The host's own sending builds the composer: its archive, author and body settings."""
        mailing = self.make_mailing(keep_archives=True, reply_to_mode="update",
                                    preview="A short preview")
        mailing._civimail_start()
        composer = mailing._civimail_composer()
        self.assertEqual(composer.composition_mode, "mass_mail")
        self.assertFalse(composer.auto_delete, "keep_archives keeps the mails")
        self.assertTrue(composer.auto_delete_keep_log, "replies to the document keep the log")
        self.assertEqual(composer.author_id, self.responsible.partner_id)
        self.assertIn("A short preview", composer.body)
        self.assertFalse(composer.attachment_ids)
        # The host's sending stopped before sending or marking the mailing sent.
        self.assertEqual(mailing.state, "sending")
        self.assertFalse(self.env["mail.mail"].search([("mailing_id", "=", mailing.id)]))
        plain = self.make_mailing()
        plain._civimail_start()
        composer = plain._civimail_composer()
        self.assertTrue(composer.auto_delete)
        self.assertFalse(composer.auto_delete_keep_log)

    def test_archives_are_kept_when_the_mailing_keeps_them(self):
        traces = self.send(self.make_mailing(keep_archives=True))
        self.assertEqual(set(traces.mapped("trace_status")), {"sent"})
        for trace in traces:
            mail = trace.mail_mail_id
            self.assertTrue(mail, "the host keeps each sent mail of a mailing keeping archives")
            self.assertEqual(mail.state, "sent")
            self.assertEqual(mail.message_id, trace.message_id)
            self.assertEqual((mail.model, mail.res_id), ("res.partner", trace.res_id))
            self.assertIn(trace.res_id, self.partners.ids)

    def test_replies_to_the_document_keep_the_message_that_routes_them(self):
        traces = self.send(self.make_mailing(reply_to_mode="update"))
        self.assertEqual(set(traces.mapped("trace_status")), {"sent"})
        self.assertFalse(traces.mail_mail_id, "the mails themselves are deleted, as the host does")
        messages = self.env["mail.message"].search(
            [("message_id", "in", traces.mapped("message_id"))])
        self.assertEqual(sorted(messages.mapped("res_id")), sorted(traces.mapped("res_id")))
        self.assertEqual(set(messages.mapped("model")), {"res.partner"})

    def test_a_plain_mailing_leaves_no_mail_behind(self):
        traces = self.send(self.make_mailing())
        self.assertEqual(set(traces.mapped("trace_status")), {"sent"})
        self.assertFalse(traces.mail_mail_id)
        self.assertFalse(self.env["mail.message"].search(
            [("message_id", "in", traces.mapped("message_id"))]))
