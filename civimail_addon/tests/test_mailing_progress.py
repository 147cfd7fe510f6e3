from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestMailingProgress(HttpCase):
    """The mailing form's progress bar while CiviMail sends, in a real browser."""

    def test_progress_refreshes_while_sending_only(self):
        admin = self.env.ref("base.user_admin")
        readers = self.env["res.partner"].create([
            {"name": name, "email": f"{name.lower()}.reader@example.com"}
            for name in ("First", "Second", "Third")
        ])
        mailing = self.env["mailing.mailing"].create({
            "subject": "Live progress",
            "body_html": "<p>Hello</p>",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": repr([("id", "in", readers.ids)]),
            "user_id": admin.id,
            "state": "sending",
        })
        traces = self.env["mailing.trace"].create([
            {"mass_mailing_id": mailing.id, "model": "res.partner", "res_id": reader.id,
             "email": reader.email, "trace_status": status}
            for reader, status in zip(readers, ("sent", "outgoing", "outgoing"), strict=True)
        ])
        self.start_tour(f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{mailing.id}",
                        "civimail_mailing_live_progress_tour", login="admin")
        self.assertTrue(mailing.civimail_paused)
        self.assertEqual(traces.mapped("trace_status"), ["sent", "sent", "sent"],
                         "the third was sent while paused: the form did not show it")
