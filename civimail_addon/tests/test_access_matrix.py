"""Who may call what: every public method and button of the addon, for each role.

Any public method (no leading underscore) of any model is callable by any
logged-in user over JSON-RPC, on any records or on none: a button hidden in
a view guards nothing. The table below says, for each method the addon
defines or extends and each button of its views, which roles may call it.
Each cell is one real call over the web client's own routes
(``/web/dataset/call_button`` for buttons, as a list or form button sends
it, with a list of ids; ``/web/dataset/call_kw`` otherwise), in a savepoint
rolled back after it. "yes" must succeed; "no" must be refused with an
AccessError; "ran" must get past the rights check (it succeeds, or stops at
a UserError of its own, e.g. a server it cannot reach); anything else fails
the test.

A public method or button of the addon without a row fails the test, so a
new one cannot be added without deciding who may call it.
"""

import shutil
import tempfile

from lxml import etree
from odoo.exceptions import AccessError
from odoo.service.model import get_public_method
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..models.civimail_deliverability_check import NAMESERVERS_PARAM, TIMEOUT_PARAM
from .common import DnsZones

ROLES = ("portal", "internal", "marketing", "manager", "company_b", "admin")

# portal     a portal user (a customer)
# internal   an internal user without Email Marketing
# marketing  an Email Marketing user of company A (a CiviMail User)
# manager    a CiviMail Manager of company A, not a Settings administrator
# company_b  a CiviMail Manager of company B only; the records are company A's
# admin      a Settings administrator of company A (CiviMail Manager by implication)
#
# The host's own buttons placed in the addon's views (action_reload,
# action_view_traces_*) return a window action and read nothing: what it
# opens is still filtered by the reader's rights, hence "yes" for everyone.
#
# "on" names the records of company A the call is made on (see `targets`);
# "none" is an empty list of ids, as a list button sends with nothing selected.
MATRIX = """
model                          method                                on             portal internal marketing manager company_b admin
civimail.mail.account          action_test_connection                account        no     no       no        yes     no        yes
civimail.mail.account          action_fetch_now                      account        no     no       no        yes     no        yes
civimail.mail.account          action_open_processed_messages        account        no     no       yes       yes     no        yes
civimail.mail.account          create                                new_account    no     no       no        yes     no        yes
civimail.mail.account          write                                 rename_account no     no       no        yes     no        yes
civimail.mail.account          unlink                                spare_account  no     no       no        yes     no        yes
civimail.bounce.pattern        create                                new_pattern    no     no       no        yes     yes       yes
civimail.bounce.pattern        write                                 edit_pattern   no     no       no        yes     yes       yes
civimail.bounce.pattern        unlink                                pattern        no     no       no        yes     yes       yes
civimail.deliverability.check  action_check                          none           no     no       no        yes     yes       yes
civimail.deliverability.check  action_check                          check_line     no     no       no        yes     no        yes
civimail.job.status            action_open_job_log                   job_status     no     no       yes       yes     no        yes
civimail.header.analysis       action_analyze                        analysis       no     no       no        yes     yes       yes
civimail.test.email            action_send                           test_email     no     no       no        yes     yes       yes
ir.cron                        action_civimail_run_now               cron           no     no       no        no      no        yes
ir.cron                        method_direct_trigger                 cron           no     no       no        no      no        yes
ir.cron                        action_open_civimail_job_logs         cron           no     no       no        no      no        yes
ir.mail_server                 action_civimail_check_deliverability  server         no     no       no        yes     yes       yes
ir.mail_server                 action_civimail_send_test_email       server         no     no       no        yes     yes       yes
ir.mail_server                 action_civimail_reset_limit           server         no     no       no        yes     yes       yes
link.tracker                   search_or_create                      new_link       no     no       yes       yes     yes       yes
mailing.mailing                action_put_in_queue                   mailing        no     no       yes       yes     yes       yes
mailing.mailing                action_civimail_pause                 mailing        no     no       yes       yes     yes       yes
mailing.mailing                action_civimail_resume                mailing        no     no       yes       yes     yes       yes
mailing.mailing                action_cancel                         mailing        no     no       yes       yes     yes       yes
mailing.mailing                action_civimail_view_bounces          mailing        no     no       yes       yes     yes       yes
mailing.mailing                action_reload                         mailing        yes    yes      yes       yes     yes       yes
mailing.mailing                action_view_traces_failed             mailing        yes    yes      yes       yes     yes       yes
mailing.mailing                action_view_traces_canceled           mailing        yes    yes      yes       yes     yes       yes
mailing.mailing                action_view_replied                   mailing        no     no       yes       yes     yes       yes
civimail.provider.account      action_open_events                    provider       no     no       no        yes     no        yes
civimail.provider.account      action_send_test_event                provider       no     no       no        ran     no        ran
civimail.provider.account      create                                new_provider   no     no       no        yes     no        yes
civimail.mailing.report        action_open_bounces                   report_line    no     no       yes       yes     no        yes
res.config.settings            action_civimail_check_deliverability  settings       no     no       no        no      no        yes
res.config.settings            action_civimail_rotate_verp_secret    none           no     no       no        yes     yes       yes
res.partner                    action_civimail_put_on_hold           partner        no     no       no        yes     yes       yes
res.partner                    action_civimail_release_hold          partner        no     no       no        yes     yes       yes
res.partner                    action_open_civimail_bounces          partner        no     no       yes       yes     yes       yes
"""


def parse_matrix(text):
    """[(model, method, on, {role: "yes" | "no"})] of the table."""
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[3:]) == ROLES, header
    assert all(cell in ("yes", "no", "ran") for row in rows for cell in row[3:]), rows
    return [(model, method, on, dict(zip(ROLES, cells, strict=True)))
            for model, method, on, *cells in rows]


def addon_public_methods(env):
    """{(model, method)}: what the addon's classes define that JSON-RPC lets anyone call."""
    found = set()
    for model_name in env.registry:
        model = env[model_name]
        for klass in type(model).mro():
            if not klass.__module__.startswith("odoo.addons.civimail_addon."):
                continue
            for name, value in vars(klass).items():
                if name.startswith("_") or not callable(value):
                    continue
                try:
                    get_public_method(model, name)
                except AccessError:  # @api.private, e.g. init
                    continue
                found.add((model_name, name))
    return found


def button_model(env, view, node):
    """The model a button calls: a button of a field's embedded list calls the field's."""
    fields_path = [ancestor.get("name") for ancestor in node.iterancestors("field")]
    model = view.model
    for name in reversed(fields_path):
        model = env[model]._fields[name].comodel_name
    return model


def addon_buttons(env):
    """{(model, method)} of the buttons (type="object") of the addon's views."""
    views = env["ir.ui.view"].browse(env["ir.model.data"].search([
        ("module", "=", "civimail_addon"), ("model", "=", "ir.ui.view"),
    ]).mapped("res_id"))
    buttons = set()
    for view in views:
        arch = etree.fromstring(view.arch_db)
        for node in arch.iter():
            if node.get("type") != "object":
                continue
            # A button names its method; a kanban card's action does too.
            method = node.get("name") if node.tag == "button" else node.get("action")
            if method:
                buttons.add((button_model(env, view, node), method))
    return buttons


@tagged("post_install", "-at_install")
class TestAccessMatrix(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.company_a = env.company
        cls.company_b = env["res.company"].create({"name": "Company B"})
        users = {
            "portal": ("base.group_portal", cls.company_a),
            "internal": ("base.group_user", cls.company_a),
            "marketing": ("mass_mailing.group_mass_mailing_user", cls.company_a),
            "manager": ("mass_mailing.group_mass_mailing_user,"
                        "civimail_addon.group_civimail_manager", cls.company_a),
            "company_b": ("mass_mailing.group_mass_mailing_user,"
                          "civimail_addon.group_civimail_manager", cls.company_b),
            "admin": ("mass_mailing.group_mass_mailing_user,base.group_system", cls.company_a),
        }
        cls.users = {
            role: new_test_user(env, login=f"matrix_{role}", groups=groups, name=role,
                                company_id=company.id, company_ids=[company.id])
            for role, (groups, company) in users.items()
        }
        # Checks get their answers from dnspython patched (no zone: every question
        # refused), never from the internet; the resolver named is never asked.
        cls.startClassPatcher(DnsZones().patch())
        params = env["ir.config_parameter"].sudo()
        params.set_param(NAMESERVERS_PARAM, "127.0.0.1")
        params.set_param(TIMEOUT_PARAM, "2")
        params.set_param("civimail_addon.delivery_mode", "spool")
        env["ir.mail_server"].search([]).active = False
        cls.server = env["ir.mail_server"].create({
            "name": "Relay", "smtp_host": "localhost", "smtp_port": 25,
            "smtp_encryption": "none",
        })
        env["civimail.mail.account"].search([]).active = False
        cls.folder = tempfile.mkdtemp(prefix="civimail-matrix-")
        cls.addClassCleanup(shutil.rmtree, cls.folder, True)
        account_values = {
            "usage": "bounce", "protocol": "directory", "path": cls.folder,
            "local_part": "return+", "email_domain": "example.org",
            "company_id": cls.company_a.id,
        }
        cls.account = env["civimail.mail.account"].create({"name": "A bounces", **account_values})
        cls.spare_account = env["civimail.mail.account"].create({
            **account_values, "name": "A inbox", "usage": "activity"})
        cls.account_values = {**account_values, "name": "New", "usage": "activity"}
        unknown = env.ref("civimail_addon.bounce_type_unknown")
        cls.pattern = env["civimail.bounce.pattern"].create({
            "type_id": unknown.id, "pattern": "matrix pattern"})
        cls.pattern_values = {"type_id": unknown.id, "pattern": "another matrix pattern"}
        Check = env["civimail.deliverability.check"]
        cls.check_line = Check.sudo()._run_checks(cls.company_a)[:1]
        assert cls.check_line, "the checks of company A wrote lines"
        cls.job_status = env["civimail.job.status"].search([
            ("company_id", "=", cls.company_a.id), ("job", "=", "housekeeping")])
        cls.analysis = env["civimail.header.analysis"].create({
            "raw": "Received: from mx.example.net (mx.example.net [192.0.2.1])\n"
                   "\tby mx.example.org; Mon, 1 Jan 2024 10:00:00 +0000\n"})
        cls.test_email = env["civimail.test.email"].create({
            "email_to": "someone@example.com", "email_from": "news@example.org",
            "mail_server_id": cls.server.id})
        cls.cron = env.ref("civimail_addon.ir_cron_civimail_housekeeping")
        cls.partner = env["res.partner"].create({"name": "Ada", "email": "ada@example.com"})
        cls.mailing = env["mailing.mailing"].create({
            "subject": "News", "body_html": "<p>Hello</p>",
            "email_from": "news@example.org",
            "mailing_model_id": env["ir.model"]._get_id("res.partner"),
            "mailing_domain": [("id", "=", cls.partner.id)],
            "user_id": cls.users["marketing"].id,
        })
        env["mailing.trace"].create({
            "mass_mailing_id": cls.mailing.id, "model": "res.partner", "res_id": cls.partner.id,
            "email": cls.partner.email, "trace_status": "bounce",
        })
        cls.report_line = env["civimail.mailing.report"].search(
            [("mailing_id", "=", cls.mailing.id)], limit=1)
        cls.settings = env["res.config.settings"].create({})
        # The test event goes to a closed port: the call stops at its UserError.
        env["ir.config_parameter"].sudo().set_param("web.base.url", "http://127.0.0.1:9")
        cls.provider = env["civimail.provider.account"].create({
            "name": "A Mailgun", "provider": "mailgun", "signing_key": "matrix-key",
            "company_id": cls.company_a.id,
        })
        cls.provider_values = {"name": "New provider", "provider": "brevo",
                               "company_id": cls.company_a.id}

    def targets(self):
        """The arguments of a call made "on" each name of the table."""
        return {
            "none": [[]],
            "account": [[self.account.id]],
            "new_account": [self.account_values],
            "rename_account": [[self.account.id], {"name": "Renamed"}],
            "spare_account": [[self.spare_account.id]],
            "new_pattern": [self.pattern_values],
            "edit_pattern": [[self.pattern.id], {"sequence": 99}],
            "pattern": [[self.pattern.id]],
            "check_line": [[self.check_line.id]],
            "job_status": [[self.job_status.id]],
            "analysis": [[self.analysis.id]],
            "test_email": [[self.test_email.id]],
            "cron": [[self.cron.id]],
            "server": [[self.server.id]],
            "new_link": [[{"url": "https://example.org/matrix", "title": "Matrix"}]],
            "mailing": [[self.mailing.id]],
            "report_line": [[self.report_line.id]],
            "provider": [[self.provider.id]],
            "new_provider": [self.provider_values],
            "settings": [[self.settings.id]],
            "partner": [[self.partner.id]],
        }

    def call(self, model, method, args):
        """Call over JSON-RPC as the web client does: "yes", "no", or what went wrong."""
        kind = "call_button" if method.startswith("action_") else "call_kw"
        savepoint = self.env.cr.savepoint()
        try:
            self.make_jsonrpc_request(f"/web/dataset/{kind}/{model}/{method}", {
                "model": model, "method": method, "args": args, "kwargs": {"context": {}},
            })
        except JsonRpcException as error:
            return "no" if str(error) == "odoo.exceptions.AccessError" else str(error)
        else:
            return "yes"
        finally:
            # Nothing a call did is seen by the next one.
            savepoint.close(rollback=True)
            self.env.invalidate_all()
            self.registry.clear_cache()

    def test_every_public_method_and_button_has_a_row(self):
        rows = {(model, method) for model, method, _on, _cells in parse_matrix(MATRIX)}
        callable_ = addon_public_methods(self.env)
        buttons = addon_buttons(self.env)
        self.assertIn(("civimail.mail.account", "action_test_connection"), callable_)
        self.assertIn(("civimail.deliverability.check", "action_check"), buttons)
        self.assertFalse(sorted(callable_ - rows),
                         "public methods of the addon without a row in MATRIX")
        self.assertFalse(sorted(buttons - rows), "buttons of the addon without a row in MATRIX")
        for model, method in rows - callable_ - buttons:  # e.g. the ORM's unlink
            get_public_method(self.env[model], method)

    def test_each_role_calls_each_method(self):
        targets = self.targets()
        rows = parse_matrix(MATRIX)
        self.assertFalse({on for _model, _method, on, _cells in rows} - targets.keys())
        wrong = []
        for role in ROLES:
            self.authenticate(self.users[role].login, self.users[role].login)
            for model, method, on, expected in rows:
                got = self.call(model, method, targets[on])
                if expected[role] == "ran" and got in ("yes", "odoo.exceptions.UserError"):
                    continue
                if got != expected[role]:
                    wrong.append(f"{model}.{method} on {on} as {role}: expected "
                                 f"{expected[role]}, got {got}")
        self.assertFalse(wrong, "\n" + "\n".join(wrong))

    def test_list_button_with_selected_lines_checks_now(self):
        """Check now from the Deliverability list (it failed: a list is no recordset)."""
        self.authenticate(self.users["manager"].login, self.users["manager"].login)
        action = self.make_jsonrpc_request(
            "/web/dataset/call_button/civimail.deliverability.check/action_check", {
                "model": "civimail.deliverability.check", "method": "action_check",
                "args": [[self.check_line.id]], "kwargs": {"context": {}},
            })
        self.assertEqual(action["res_model"], "civimail.deliverability.check")
        run = self.env["civimail.job.log"].search([
            ("job", "=", "check_deliverability"), ("origin", "=", "button")])
        self.assertEqual(run.company_id, self.company_a | self.company_b, "a line per company")
        self.assertNotIn("error", run.mapped("status"))

    def test_rotating_the_secret_on_no_settings_takes_a_manager(self):
        """The VERP secret signs every mailing sent: a portal user cannot discard it."""
        params = self.env["ir.config_parameter"].sudo()
        secret = params.get_param("civimail_addon.verp_secret")
        self.authenticate(self.users["portal"].login, self.users["portal"].login)
        route = "/web/dataset/call_button/res.config.settings/action_civimail_rotate_verp_secret"
        request = {"model": "res.config.settings", "method": "action_civimail_rotate_verp_secret",
                   "args": [[]], "kwargs": {"context": {}}}
        with self.assertRaisesRegex(JsonRpcException, "AccessError"):
            self.make_jsonrpc_request(route, request)
        self.assertEqual(params.get_param("civimail_addon.verp_secret"), secret)
        self.authenticate(self.users["manager"].login, self.users["manager"].login)
        params.set_param("civimail_addon.verp_grace_days", "12")
        notification = self.make_jsonrpc_request(route, request)
        self.assertIn("12 more days", notification["params"]["message"])
        self.env.registry.clear_cache()
        self.assertNotEqual(params.get_param("civimail_addon.verp_secret"), secret)
        self.assertEqual(params.get_param("civimail_addon.verp_previous_secret"), secret)
