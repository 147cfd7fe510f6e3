import re
from unittest.mock import patch

import dns.exception
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.modules import module as odoo_module
from odoo.tests import tagged
from odoo.tools.translate import TranslationModuleReader, code_translations

from ..engine.deliverability import MESSAGES, dmarc, headers
from ..engine.deliverability.dnsquery import describe
from ..models.civimail_deliverability_check import (
    DKIM_SELECTORS_PARAM,
    DOMAIN_BLOCKLISTS_PARAM,
    IP_BLOCKLISTS_PARAM,
    NAMESERVERS_PARAM,
    TIMEOUT_PARAM,
)
from .common import CivimailMailCase, DnsZones, make_dsn

GOOD_IP = "192.0.2.10"
BAD_IP = "192.0.2.66"

# example.org authorizes GOOD_IP only; BAD_IP is listed on zen.spamhaus.org.
ZONES = {
    "example.org": (
        '@ TXT "v=spf1 ip4:192.0.2.10 -all"\n'
        "@ MX 10 mail.example.org.\n"
        "mail A 192.0.2.10\n"
    ),
    "2.0.192.in-addr.arpa": "10 PTR mail.example.org.\n",
    "zen.spamhaus.org": "66.2.0.192 A 127.0.0.2\n66.2.0.192 TXT \"https://check.spamhaus.org/\"\n",
    "dbl.spamhaus.org": "spam.example.com A 127.0.1.2\n",
}


class DeliverabilityCaseMixin:
    """Checks of example.org and its servers; the class says where DNS answers come from.

    A class sets ``dns`` (an object with ``set_zones``), ``nameservers`` (the
    resolver setting) and ``smtp_host``/``smtp_port`` (its outgoing server)
    before this setUpClass runs.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Check = cls.env["civimail.deliverability.check"]
        cls.company = cls.env.company
        cls.company.email = "news@example.org"
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.params.set_param(NAMESERVERS_PARAM, cls.nameservers)
        cls.params.set_param(TIMEOUT_PARAM, "2")
        cls.params.set_param(IP_BLOCKLISTS_PARAM, "zen.spamhaus.org")
        cls.params.set_param(DOMAIN_BLOCKLISTS_PARAM, "dbl.spamhaus.org")
        cls.params.set_param(DKIM_SELECTORS_PARAM, "mail")
        cls.params.set_param("civimail_addon.delivery_mode", "send")
        # Only the servers of these tests are checked.
        cls.env["ir.mail_server"].search([]).active = False
        cls.server = cls.env["ir.mail_server"].create({
            "name": "Main relay", "smtp_host": cls.smtp_host, "smtp_port": cls.smtp_port,
            "smtp_encryption": "none", "civimail_sending_ip": GOOD_IP,
        })
        cls.account = cls.env["civimail.mail.account"].create({
            "name": "Bounces", "usage": "bounce", "protocol": "maildir", "path": "/nonexistent",
            "local_part": "return+", "email_domain": "example.org", "is_default": True,
        })
        cls.mailing.write({"email_from": "Newsletter <news@example.org>", "state": "in_queue"})

    def setUp(self):
        super().setUp()
        self.dns.set_zones(ZONES)
        self.addCleanup(self.dns.set_zones, {})

    def line(self, check, subject, detail=False, server=None):
        lines = self.Check.search([
            ("check", "=", check), ("subject", "=", subject), ("detail", "=", detail),
            ("mail_server_id", "=", server.id if server else False),
        ])
        self.assertEqual(len(lines), 1, f"one line for {check} {subject} {detail}")
        return lines

    def bad_server(self):
        return self.env["ir.mail_server"].create({
            "name": "Rented VPS", "smtp_host": self.smtp_host, "smtp_port": self.smtp_port,
            "smtp_encryption": "none", "civimail_sending_ip": BAD_IP,
        })

    def send_test_email(self, email_to):
        wizard = self.env["civimail.test.email"].create({
            "email_to": email_to, "email_from": "news@example.org",
            "mail_server_id": self.server.id,
        })
        # Odoo never sends during tests; lift that guard for this real send.
        with patch.object(odoo_module, "current_test", None):
            wizard.action_send()
        return wizard


@tagged("post_install", "-at_install")
class TestDeliverability(DeliverabilityCaseMixin, CivimailMailCase):
    """Deliverability checks on DNS answers this test writes, never the internet."""

    dns = DnsZones()
    nameservers = "127.0.0.1"  # never asked: dnspython is patched
    smtp_host, smtp_port = "localhost", 25  # nothing is sent to it

    @classmethod
    def setUpClass(cls):
        cls.startClassPatcher(cls.dns.patch())
        super().setUpClass()

    # -- the checks -------------------------------------------------------------------
    def test_spf_pass_and_fail_for_each_server_ip(self):
        bad = self.bad_server()
        self.Check._run_checks(self.company)
        good_spf = self.line("spf", "example.org", GOOD_IP, self.server)
        bad_spf = self.line("spf", "example.org", BAD_IP, bad)
        self.assertEqual(good_spf.status, "ok")
        self.assertEqual(bad_spf.status, "error")
        self.assertIn("does not authorize 192.0.2.66", bad_spf.message)
        self.assertIn("ip4:192.0.2.66", bad_spf.fix)
        self.assertEqual((bad_spf.message_key, bad_spf.message_values["ip"]), ("fail", BAD_IP))
        self.assertEqual(self.line("reverse_dns", GOOD_IP, server=self.server).status, "ok")
        self.assertEqual(self.line("mx", "example.org").status, "ok")
        # The server's button checks it and shows its lines.
        action = bad.action_civimail_check_deliverability()
        self.assertIn(("mail_server_id", "in", bad.ids), action["domain"])
        # The latest result is kept in place; lines no run produces any more are archived.
        checked = bad_spf.date
        bad.active = False
        self.Check._run_checks(self.company)
        self.assertFalse(bad_spf.active)
        self.assertTrue(good_spf.active)
        self.assertGreaterEqual(good_spf.date, checked)
        self.assertEqual(
            self.Check.with_context(active_test=False).search_count([
                ("check", "=", "spf"), ("subject", "=", "example.org"),
                ("detail", "=", GOOD_IP)]), 1,
            "one line per check, subject and server, updated by each run")

    def test_sending_ip_from_the_smtp_host(self):
        resolved = self.env["ir.mail_server"].create({
            "name": "By name", "smtp_host": "relay.example.org", "smtp_port": 25,
        })
        local = self.env["ir.mail_server"].create({
            "name": "Local", "smtp_host": "127.0.0.1", "smtp_port": 25,
        })
        self.dns.set_zones({**ZONES, "example.org": ZONES["example.org"]
                            + "relay A 192.0.2.10\n"})
        self.Check._run_checks(self.company)
        # 192.0.2.0/24 is documentation space, not global: said, not checked.
        relay = self.line("sending_ip", "relay.example.org", server=resolved)
        self.assertEqual(relay.status, "warning")
        self.assertIn("Sending IP", relay.fix)
        self.assertEqual(self.line("sending_ip", "127.0.0.1", server=local).status, "warning")
        with self.assertRaises(ValidationError):
            resolved.civimail_sending_ip = "not an ip"

    def test_without_outgoing_server_the_ip_checks_say_not_checked(self):
        self.server.active = False
        self.Check._run_checks(self.company)
        line = self.line("sending_ip", "-")
        self.assertEqual(line.status, "unknown")
        self.assertIn("were not run", line.with_context(lang="en_US").message)
        self.assertIn("Outgoing Mail Servers", line.with_context(lang="en_US").fix)

    def test_missing_dkim_and_dmarc(self):
        self.Check._run_checks(self.company)
        dkim_line = self.line("dkim", "example.org", "mail")
        self.assertEqual(dkim_line.status, "error")
        self.assertIn("No DKIM key is published for selector mail", dkim_line.message)
        self.assertIn("mail._domainkey.example.org", dkim_line.fix)
        dmarc_line = self.line("dmarc", "example.org")
        self.assertEqual(dmarc_line.status, "error")
        self.assertIn("publishes no DMARC record", dmarc_line.message)
        self.dns.set_zones({**ZONES, "example.org": ZONES["example.org"]
                            + '_dmarc TXT "v=DMARC1; p=reject"\n'})
        self.Check._run_checks(self.company)
        self.assertEqual(dmarc_line.status, "ok")
        self.assertEqual(dmarc_line.previous_status, "error")
        self.assertIn("reject mail that fails DMARC", dmarc_line.message)

    def test_messages_are_translated_when_read(self):
        self.Check._run_checks(self.company)
        dmarc_line = self.line("dmarc", "example.org")
        self.env["res.lang"]._activate_lang("fr_FR")
        message, fix = dmarc.MESSAGES["missing"]
        # A translation as fr.po gives it, placeholders kept.
        french = {message: "{subject} ne publie aucun enregistrement DMARC.",
                  fix: "Publiez _dmarc.{org}."}
        translations = code_translations.python_translations
        key = ("civimail_addon", "fr_FR")
        with patch.dict(translations, {key: {**code_translations.get_python_translations(
                *key), **french}}):
            line = dmarc_line.with_context(lang="fr_FR")
            self.assertEqual(line.message, "example.org ne publie aucun enregistrement DMARC.")
            self.assertEqual(line.fix, "Publiez _dmarc.example.org.")
        self.assertEqual(dmarc_line.with_context(lang="en_US").message, dmarc_line.message_en)

    def test_engine_sentences_are_exported_for_translation(self):
        """The engine's templates are the only copy: Odoo's export finds each one."""
        sources = {
            source for _module, _type, _name, _res_id, source, _value, _comments
            in TranslationModuleReader(self.env.cr, modules=["civimail_addon"])
        }
        templates = [template for messages in MESSAGES.values()
                     for pair in messages.values() for template in pair if template]
        templates.extend(headers.MEANINGS.values())
        self.assertEqual(len(MESSAGES), len(self.Check._fields["check"].selection))
        self.assertFalse([template for template in templates if template not in sources])
        # Phrases put into placeholders are exported too.
        self.assertIn(describe(dns.exception.Timeout()), sources)

    def test_ip_listed_on_a_blocklist(self):
        bad = self.bad_server()
        self.Check._run_checks(self.company)
        listed = self.line("ip_blocklist", BAD_IP, "zen.spamhaus.org", bad)
        self.assertEqual(listed.status, "error")
        self.assertIn("is listed on zen.spamhaus.org", listed.message)
        self.assertIn("https://check.spamhaus.org/", listed.message)
        clean = self.line("ip_blocklist", GOOD_IP, "zen.spamhaus.org", self.server)
        self.assertEqual(clean.status, "ok")
        self.assertEqual(self.line("domain_blocklist", "example.org", "dbl.spamhaus.org").status,
                         "ok")

    def test_bad_resolver_setting_is_explained(self):
        self.params.set_param(NAMESERVERS_PARAM, "not-a-server:x")
        log = self.env["civimail.job.log"]._run_job("check_deliverability")
        self.assertEqual(log.status, "error")
        self.assertIn("DNS resolver setting", log.message)

    # -- the daily job and its activity -----------------------------------------------------
    def test_job_tells_managers_once_when_a_check_turns_red(self):
        self.params.set_param(DKIM_SELECTORS_PARAM, "")  # not configured: could not check
        good = {**ZONES, "example.org": ZONES["example.org"]
                + '_dmarc TXT "v=DMARC1; p=reject"\n'}
        self.dns.set_zones(good)
        Job = self.env["civimail.job.log"]
        log = Job._run_job("check_deliverability")
        self.assertEqual(log.status, "ok", log.message)
        self.assertFalse(self.Check.search([("status", "=", "error")]))
        self.assertFalse(self.Check.search([]).activity_ids)

        self.dns.set_zones({**good, "example.org": good["example.org"].replace(
            "ip4:192.0.2.10", "ip4:198.51.100.1")})
        log = Job._run_job("check_deliverability")
        self.assertEqual(log.status, "warning", "red checks make the run a warning")
        spf_line = self.line("spf", "example.org", GOOD_IP, self.server)
        self.assertEqual(spf_line.status, "error")
        managers = self.env.ref("civimail_addon.group_civimail_manager").users.filtered(
            lambda u: not u.share and not u._is_superuser())
        activities = self.Check.search([]).activity_ids
        self.assertEqual(activities.user_id, managers)
        self.assertEqual(len(activities), len(managers), "one activity per manager")
        self.assertEqual(set(activities.mapped("res_id")), {spf_line.id})
        self.assertIn("SPF: example.org (192.0.2.10)", str(activities[0].note))

        Job._run_job("check_deliverability")
        self.assertEqual(self.Check.search([]).activity_ids, activities,
                         "no new activity while the check stays red")

    def test_cron_runs_the_job(self):
        cron = self.env.ref("civimail_addon.ir_cron_civimail_check_deliverability")
        self.assertTrue(cron.active)
        self.assertEqual((cron.civimail_job, cron.interval_type), ("check_deliverability",
                                                                     "days"))
        cron.method_direct_trigger()
        log = self.env["civimail.job.log"].search([("job", "=", "check_deliverability")],
                                                  limit=1)
        self.assertIn(log.status, ("ok", "warning"), log.message)
        self.assertTrue(self.Check.search([("check", "=", "spf")]))

    def test_blocked_bounce_triggers_a_check(self):
        cron = self.env.ref("civimail_addon.ir_cron_civimail_check_deliverability")
        Trigger = self.env["ir.cron.trigger"].sudo()
        before = Trigger.search([("cron_id", "=", cron.id)])
        partner = self.env["res.partner"].create({"name": "Ada", "email": "ada@example.com"})
        trace = self.make_trace(partner)
        verp = self.account._verp_codec().build(trace.id, trace.email)
        self.env["civimail.bounce"]._process_bounce_messages(self.account, {"blocked": make_dsn(
            verp, trace.email, status="5.7.1",
            diagnostic="smtp; 550 5.7.1 Service unavailable; Client host [192.0.2.66] blocked "
                       "using zen.spamhaus.org")})
        self.assertEqual(self.env["civimail.bounce"].search([("trace_id", "=", trace.id)])
                         .type_id.code, "blocked")
        self.assertTrue(Trigger.search([("cron_id", "=", cron.id)]) - before)

    # -- wizards --------------------------------------------------------------------------
    def test_header_analyzer_explains_a_dkim_signature_of_another_domain(self):
        raw = (
            "Authentication-Results: mx.example.net;\r\n"
            " dkim=pass header.i=@mailer.example header.s=s1;\r\n"
            " spf=pass smtp.mailfrom=return+b.1.x@bounces.mailer.example;\r\n"
            " dmarc=fail (p=REJECT) header.from=example.org\r\n"
            "From: news@example.org\r\n\r\nbody\r\n"
        )
        wizard = self.env["civimail.header.analysis"].create({"raw": raw})
        wizard.action_analyze()
        self.assertIn("DKIM passed for mailer.example, which is not the From domain "
                      "example.org", wizard.with_context(lang="en_US").summary)

    def test_send_test_email_follows_the_delivery_mode(self):
        self.params.set_param("civimail_addon.delivery_mode", "disabled")
        wizard = self.send_test_email("ada@example.com")
        self.assertEqual(wizard.state, "disabled")
        with self.assertRaises(UserError):
            self.env["civimail.test.email"].create({
                "email_to": "not an address", "mail_server_id": self.server.id,
            }).action_send()

    # -- access rights ---------------------------------------------------------------------
    def test_only_managers_run_checks_and_see_settings(self):
        self.Check._run_checks(self.company)
        self.assertTrue(self.Check.with_user(self.user_civimail).search([]),
                        "CiviMail users read the results")
        with self.assertRaises(AccessError):
            self.Check.with_user(self.user_civimail).action_check()
        with self.assertRaises(AccessError):
            self.Check.with_user(self.user_internal).search([])
        for wizard in ("civimail.test.email", "civimail.header.analysis"):
            with self.assertRaises(AccessError):
                self.env[wizard].with_user(self.user_civimail).create({})
        action = self.Check.with_user(self.user_manager).action_check()
        self.assertEqual(action["res_model"], "civimail.deliverability.check")
        menu = self.env.ref("civimail_addon.civimail_deliverability_check_menu")
        Menu = self.env["ir.ui.menu"]
        self.assertIn(menu.id, Menu.with_user(self.user_civimail)._visible_menu_ids())
        self.assertNotIn(self.env.ref("civimail_addon.civimail_header_analysis_menu").id,
                         Menu.with_user(self.user_civimail)._visible_menu_ids())
        view = self.env.ref("civimail_addon.res_config_settings_view_form")
        block = re.search(r'<block[^>]*name="civimail_setting_container"[^>]*>', view.arch)
        self.assertIn('groups="civimail_addon.group_civimail_manager"', block.group(0))
        self.assertIn('name="civimail_dns_nameservers"', view.arch)
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.civimail_dns_nameservers, self.nameservers)
        self.assertIn("zen.spamhaus.org", settings.civimail_ip_blocklists)
