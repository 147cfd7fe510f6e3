import json
import os
import time
from unittest.mock import patch

from odoo.addons.civimail_addon.models.civimail_provider_account import SNS_CERTIFICATE_HOST_PARAM
from odoo.addons.civimail_addon.tests.common import CivimailCase, make_dsn
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

DIAGNOSTIC = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"


def harness_providers():
    """The signed-request helpers of the test harness (keys made by the test)."""
    try:
        from harness import providers  # noqa: PLC0415 - the harness exists only in tests
    except ImportError as error:
        raise AssertionError(
            "the test harness is not importable: run the Odoo suite with `make test` "
            f"(or `make odoo-test`), which puts the repository on PYTHONPATH ({error})"
        ) from error
    return providers


class ProviderWebhookMixin:
    """The acceptance checks of one provider's webhook; subclasses say how it signs."""

    provider = None
    allow_inherited_tests_method = True  # Odoo's loader runs these checks in each subclass

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.providers = harness_providers()
        cls.env["civimail.mail.account"].search([]).active = False
        cls.mail_account = cls.env["civimail.mail.account"].create({
            "name": "Bounces", "usage": "bounce", "protocol": "maildir", "path": "/nonexistent",
            "local_part": "return+", "email_domain": "example.org",
        })
        cls.account = cls.env["civimail.provider.account"].create({
            "name": f"{cls.provider} account", "provider": cls.provider,
            "signing_key": "signing-secret", "webhook_user": "civimail",
        })
        cls.other_company = cls.env["res.company"].create({"name": "Other Org"})
        cls.mailing = cls.env["mailing.mailing"].create({
            "subject": "Autumn newsletter", "body_html": "<p>Hello</p>",
            "mailing_model_id": cls.env["ir.model"]._get_id("res.partner"),
        })
        cls.Bounce = cls.env["civimail.bounce"]
        cls.Event = cls.env["civimail.provider.event"]

    def make_trace(self, email, mailing=None, **values):
        partner = self.env["res.partner"].create({"name": email.split("@")[0], "email": email})
        return self.env["mailing.trace"].create({
            "mass_mailing_id": (mailing or self.mailing).id, "model": "res.partner",
            "res_id": partner.id, "email": email, "trace_status": "sent", **values,
        })

    def post(self, body, headers, path=None):
        return self.url_open(path or self.account._webhook_path(), data=body, headers=headers)

    def process(self):
        log = self.env["civimail.job.log"]._run_job("process_provider_events")
        self.assertEqual(log.status, "ok", log.message)
        return log

    def signed(self, kind, email, **kwargs):
        """(body, headers) of a signed event ``kind`` (bounce, complaint, unsubscribe,
        delivered) for ``email``."""
        raise NotImplementedError

    # -- the acceptance checks -----------------------------------------------------
    def test_bounce_recorded_as_the_same_bounce_by_mailbox(self):
        by_webhook = self.make_trace("ada@example.com")
        by_mailbox = self.make_trace("bob@example.com")
        response = self.post(*self.signed(
            "bounce", "ada@example.com", trace=by_webhook,
            diagnostic=DIAGNOSTIC.format(rcpt="ada@example.com")))
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self.Event.search([("account_id", "=", self.account.id)]).state, "new")
        log = self.process()
        self.assertIn(f"{self.provider} bounce: 1", log.message)
        verp = self.mail_account._verp_codec().build(by_mailbox.id, by_mailbox.email)
        self.Bounce._process_bounce_messages(self.mail_account, {"u": make_dsn(
            verp, by_mailbox.email, diagnostic=DIAGNOSTIC)})
        webhook = self.Bounce.search([("trace_id", "=", by_webhook.id)])
        mailbox = self.Bounce.search([("trace_id", "=", by_mailbox.id)])
        fields = ["type_id", "hard", "status", "mailing_id"]
        self.assertEqual([webhook[f] for f in fields], [mailbox[f] for f in fields])
        self.assertEqual(webhook.provider_account_id, self.account)
        self.assertEqual(webhook.type_id.code, "invalid")
        partners = self.env["res.partner"].search(
            [("email", "in", ["ada@example.com", "bob@example.com"])])
        self.assertEqual(partners.mapped("email_on_hold"), [True, True])
        self.assertEqual({by_webhook.trace_status, by_mailbox.trace_status}, {"bounce"})
        self.assertEqual(self.Event.search([("account_id", "=", self.account.id)]).state, "done")

    def stored_message_id(self, message_id):
        """The provider's id of a message as our sending job stores it from the 250 reply."""
        return message_id

    def test_bounce_matched_by_the_providers_message_id(self):
        trace = self.make_trace("cleo@example.com", civimail_provider_message_id=(
            self.stored_message_id("0100018cPROVIDERID")))
        self.post(*self.signed("bounce", "cleo@example.com", message_id="0100018cPROVIDERID",
                               diagnostic=DIAGNOSTIC.format(rcpt="cleo@example.com")))
        self.process()
        self.assertEqual(self.Bounce.search([("trace_id", "=", trace.id)]).type_id.code,
                         "invalid")

    def test_complaint_unsubscribe_and_delivery(self):
        complained = self.make_trace("dan@example.com")
        unsubscribed = self.make_trace("eve@example.com")
        delivered = self.make_trace("fay@example.com", trace_status="pending")
        for kind, trace in (("complaint", complained), ("unsubscribe", unsubscribed),
                            ("delivered", delivered)):
            response = self.post(*self.signed(kind, trace.email, trace=trace))
            self.assertEqual(response.status_code, 200, f"{kind}: {response.text}")
        self.process()
        self.assertEqual(self.Bounce.search([("trace_id", "=", complained.id)]).type_id.code,
                         "complaint")
        blocked = self.env["mail.blacklist"].search([]).mapped("email")
        self.assertIn("dan@example.com", blocked)
        self.assertIn("eve@example.com", blocked, "opted out as the one-click link does")
        self.assertFalse(self.Bounce.search([("trace_id", "=", unsubscribed.id)]))
        self.assertEqual(delivered.trace_status, "sent")

    def test_bad_signature_refused_and_nothing_stored(self):
        body, headers = self.signed("bounce", "ada@example.com", forged=True)
        response = self.post(body, headers)
        self.assertEqual(response.status_code, 403)
        response = self.post(body, headers, path=f"/civimail/webhook/{self.provider}/nope")
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.Event.search([]))

    def test_stale_event_refused(self):
        response = self.post(*self.signed("bounce", "ada@example.com",
                                          when=time.time() - 3 * 86400))
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.Event.search([]))

    def test_replayed_request_refused(self):
        trace = self.make_trace("gus@example.com")
        body, headers = self.signed("bounce", trace.email, trace=trace,
                                    diagnostic=DIAGNOSTIC.format(rcpt=trace.email))
        self.assertEqual(self.post(body, headers).status_code, 200)
        self.assertEqual(self.post(body, headers).status_code, 409)
        self.process()
        self.assertEqual(len(self.Event.search([])), 1)
        self.assertEqual(len(self.Bounce.search([("trace_id", "=", trace.id)])), 1)

    def test_other_company_and_unknown_message_stored_ignored(self):
        # A mailing sends for its responsible's company.
        other_user = new_test_user(self.env, login=f"{self.provider}_other",
                                   company_id=self.other_company.id,
                                   company_ids=[(6, 0, self.other_company.ids)])
        theirs = self.make_trace("hal@example.com",
                                 mailing=self.mailing.copy({"user_id": other_user.id}))
        self.post(*self.signed("bounce", theirs.email, trace=theirs,
                               diagnostic=DIAGNOSTIC.format(rcpt=theirs.email)))
        self.post(*self.signed("bounce", "nobody@example.com", message_id="unknown-id"))
        self.process()
        events = self.Event.search([], order="id")
        self.assertEqual(events.mapped("state"), ["ignored", "ignored"])
        self.assertIn("Other Org", events[0].reason)
        self.assertIn("no message of this database", events[1].reason)
        self.assertFalse(self.Bounce.search([("email", "in", [theirs.email,
                                                              "nobody@example.com"])]))

    def test_malformed_json_refused(self):
        body, headers = self.signed("bounce", "ada@example.com", raw=b'{"event": [unclosed')
        response = self.post(body, headers)
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.Event.search([]))

    def test_ten_megabyte_body_refused_before_reading(self):
        body, headers = self.signed("bounce", "ada@example.com",
                                    raw=b'{"padding": "' + b"x" * (10 * 1024 * 1024) + b'"}')
        response = self.post(body, headers)
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self.Event.search([]))

    def test_rate_limit_per_account(self):
        self.account.rate_limit = 1
        self.assertEqual(self.post(*self.signed("delivered", "ivy@example.com")).status_code,
                         200)
        refused = self.post(*self.signed("delivered", "ivy@example.com"))
        self.assertEqual(refused.status_code, 429)
        self.assertEqual(refused.headers["Retry-After"], "60", "the provider is told when to retry")


@tagged("post_install", "-at_install")
class TestSesWebhook(ProviderWebhookMixin, CivimailCase, HttpCase):
    provider = "ses"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sns = cls.providers.SnsCertificateServer()
        cls.addClassCleanup(cls.sns.close)
        # Trust the run's CA as an admin trusts a private one; accept its host instead of
        # sns.<region>.amazonaws.com (what production never does).
        cls.startClassPatcher(patch.dict(os.environ, {"SSL_CERT_FILE": cls.sns.ca_file}))
        cls.env["ir.config_parameter"].set_param(SNS_CERTIFICATE_HOST_PARAM,
                                                 cls.sns.host_pattern)

    def signed(self, kind, email, *, trace=None, message_id="", diagnostic="", when=None,
               forged=False, raw=None):
        headers = {"Content-Type": "text/plain; charset=UTF-8"}
        if raw is not None:
            return raw, headers
        name = {"bounce": "Bounce", "complaint": "Complaint", "unsubscribe": "Subscription",
                "delivered": "Delivery"}[kind]
        message = self.providers.ses_notification(
            name, email, trace_id=trace.id if trace else 0, message_id=message_id,
            diagnostic=diagnostic, status="5.1.1" if diagnostic else "", when=when)
        if kind == "unsubscribe":
            ses = json.loads(message["Message"])
            ses["subscription"] = {"contactEmail": email}
            message["Message"] = json.dumps(ses)
        body = self.sns.sign(message, version="2")
        if forged:
            body = body.replace(b"Bounce", b"Delivery")
        return body, headers

    def test_subscription_confirmation_is_verified_then_visited(self):
        message = {"Type": "SubscriptionConfirmation", "MessageId": "sub-1", "Token": "t",
                   "TopicArn": "arn:aws:sns:eu-west-1:1:civimail", "Message": "confirm",
                   "SubscribeURL": self.sns.subscribe_url,
                   "Timestamp": self.providers.iso_time(time.time())}
        forged = json.loads(self.sns.sign(message))
        forged["SubscribeURL"] += "&evil=1"
        self.assertEqual(self.post(json.dumps(forged).encode(), {}).status_code, 403)
        self.assertEqual(self.sns.confirmed, [])
        response = self.post(self.sns.sign(message), {})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.sns.confirmed), 1)
        event = self.Event.search([])
        self.assertEqual((event.state, event.reason),
                         ("ignored", "Amazon SNS subscription confirmed."))


@tagged("post_install", "-at_install")
class TestMailgunWebhook(ProviderWebhookMixin, CivimailCase, HttpCase):
    provider = "mailgun"

    def signed(self, kind, email, *, trace=None, message_id="", diagnostic="", when=None,
               forged=False, raw=None):
        headers = {"Content-Type": "application/json"}
        if raw is not None:
            return raw, headers
        event = {"bounce": "failed", "complaint": "complained", "unsubscribe": "unsubscribed",
                 "delivered": "delivered"}[kind]
        key = "forged-key" if forged else "signing-secret"
        return self.providers.mailgun_body(
            key, event, email, trace_id=trace.id if trace else 0,
            message_id=message_id, diagnostic=diagnostic, when=when), headers

    def test_matched_by_our_message_id_header(self):
        trace = self.make_trace("jo@example.com", message_id="<abc.123@example.org>")
        self.post(*self.signed("bounce", trace.email, message_id="abc.123@example.org",
                               diagnostic=DIAGNOSTIC.format(rcpt=trace.email)))
        self.process()
        self.assertEqual(self.Bounce.search([("trace_id", "=", trace.id)]).type_id.code,
                         "invalid")

    def test_an_unreadable_event_is_set_aside_and_the_batch_goes_on(self):
        good = self.make_trace("kim@example.com")
        body = json.loads(self.providers.mailgun_body("signing-secret", "delivered",
                                                      "lea@example.com"))
        body["event-data"]["timestamp"] = "yesterday"  # signed, but not a time
        self.assertEqual(self.post(json.dumps(body).encode(), {}).status_code, 200)
        self.post(*self.signed("bounce", good.email, trace=good,
                               diagnostic=DIAGNOSTIC.format(rcpt=good.email)))
        log = self.env["civimail.job.log"]._run_job("process_provider_events")
        self.assertEqual(log.status, "warning")
        events = self.Event.search([], order="id")
        self.assertEqual(events.mapped("state"), ["error", "done"])
        self.assertIn("ValueError", events[0].reason)
        self.assertEqual(good.trace_status, "bounce")

    def test_provider_accounts_are_for_managers_of_their_company(self):
        for user in (self.user_civimail, self.user_internal):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.account.with_user(user).action_send_test_event()
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.account.with_user(user).read(["signing_key"])
        manager = self.account.with_user(self.user_manager)
        self.assertTrue(manager.webhook_url.endswith(self.account._webhook_path()))
        other_manager = new_test_user(
            self.env, login="other_manager", groups="civimail_addon.group_civimail_manager",
            company_id=self.other_company.id, company_ids=[(6, 0, self.other_company.ids)])
        self.assertFalse(self.env["civimail.provider.account"].with_user(other_manager).search(
            [("id", "=", self.account.id)]))

    def test_test_button_posts_a_signed_sample(self):
        self.env["ir.config_parameter"].set_param("web.base.url", self.base_url())
        action = self.account.with_user(self.user_manager).action_send_test_event()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.process()
        self.assertEqual(self.Event.search([]).state, "ignored")


@tagged("post_install", "-at_install")
class TestSendGridWebhook(ProviderWebhookMixin, CivimailCase, HttpCase):
    provider = "sendgrid"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.signer = cls.providers.SendGridSigner()
        cls.account.signing_key = cls.signer.verification_key

    def signed(self, kind, email, *, trace=None, message_id="", diagnostic="", when=None,
               forged=False, raw=None):
        event = {"bounce": "bounce", "complaint": "spamreport", "unsubscribe": "unsubscribe",
                 "delivered": "delivered"}[kind]
        body = raw if raw is not None else json.dumps([self.providers.sendgrid_event(
            event, email, trace_id=trace.id if trace else 0, message_id=message_id,
            diagnostic=diagnostic, status="5.1.1" if diagnostic else "", when=when)]).encode()
        signer = self.providers.SendGridSigner() if forged else self.signer
        return body, signer.headers(body, when=when)


@tagged("post_install", "-at_install")
class TestPostmarkWebhook(ProviderWebhookMixin, CivimailCase, HttpCase):
    provider = "postmark"

    def signed(self, kind, email, *, trace=None, message_id="", diagnostic="", when=None,
               forged=False, raw=None):
        headers = self.providers.postmark_headers("civimail",
                                                  "wrong" if forged else "signing-secret")
        if raw is not None:
            return raw, headers
        record = {"bounce": "Bounce", "complaint": "SpamComplaint",
                  "unsubscribe": "SubscriptionChange", "delivered": "Delivery"}[kind]
        return json.dumps(self.providers.postmark_event(
            record, email, trace_id=trace.id if trace else 0, message_id=message_id,
            diagnostic=diagnostic, when=when)).encode(), headers


@tagged("post_install", "-at_install")
class TestBrevoWebhook(ProviderWebhookMixin, CivimailCase, HttpCase):
    provider = "brevo"

    def stored_message_id(self, message_id):
        # "250 2.0.0 OK: queued as <id@smtp-relay.mailin.fr>"
        return f"{message_id}@smtp-relay.mailin.fr"

    def signed(self, kind, email, *, trace=None, message_id="", diagnostic="", when=None,
               forged=False, raw=None):
        headers = self.providers.brevo_headers("wrong" if forged else "signing-secret")
        if raw is not None:
            return raw, headers
        event = {"bounce": "hard_bounce", "complaint": "spam", "unsubscribe": "unsubscribed",
                 "delivered": "delivered"}[kind]
        return json.dumps(self.providers.brevo_event(
            event, email, trace_id=trace.id if trace else 0, message_id=message_id,
            diagnostic=diagnostic, when=when)).encode(), headers
