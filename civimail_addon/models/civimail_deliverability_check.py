import re
from datetime import timedelta

from markupsafe import Markup
from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from ..engine.deliverability import (
    DEFAULT_DOMAIN_BLOCKLISTS,
    DEFAULT_IP_BLOCKLISTS,
    ERROR,
    MESSAGES,
    PHRASE_PARAMS,
    Checker,
    dnsquery,
    no_server,
    sending_ips,
)
from .access import check_manager
from .civimail_job_log import DEFAULT_RETENTION_DAYS, RETENTION_PARAM
from .stored_messages import fact

NAMESERVERS_PARAM = "civimail_addon.dns_nameservers"
TIMEOUT_PARAM = "civimail_addon.dns_timeout"
IP_BLOCKLISTS_PARAM = "civimail_addon.ip_blocklists"
DOMAIN_BLOCKLISTS_PARAM = "civimail_addon.domain_blocklists"
DKIM_SELECTORS_PARAM = "civimail_addon.dkim_selectors"
DEFAULT_TIMEOUT = 5.0
#: How far back mailings count for their From domains.
RECENT_MAILING_DAYS = 90

CHECKS = [
    ("spf", "SPF"),
    ("dkim", "DKIM"),
    ("dmarc", "DMARC"),
    ("mx", "Bounce domain MX"),
    ("reverse_dns", "Reverse DNS"),
    ("ip_blocklist", "IP blocklist"),
    ("domain_blocklist", "Domain blocklist"),
    ("sending_ip", "Sending IP"),
]
STATUSES = [
    ("error", "Error"),
    ("warning", "Warning"),
    ("unknown", "Could not check"),
    ("ok", "OK"),
]
SEVERITY = {status: index for index, (status, _label) in enumerate(STATUSES)}


def split_list(text):
    """Items of a comma- or space-separated setting."""
    return [item for item in re.split(r"[\s,;]+", text or "") if item]


class _Values(dict):
    """Placeholder values; a placeholder a translation misspells stays visible."""

    def __missing__(self, key):
        return "{" + key + "}"


class CivimailDeliverabilityCheck(models.Model):
    """The latest result of one deliverability check.

    A run updates the line of each (check, subject, detail, server) in place,
    so the list shows the current state with the date it was checked; lines a
    full run no longer produces (a domain no mailing uses any more) are
    archived. Managers get one activity when a check turns to error, none
    while it stays red.
    """

    _name = "civimail.deliverability.check"
    _description = "CiviMail Deliverability Check"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "severity, check, subject, detail, id"

    check = fields.Selection(CHECKS, required=True, readonly=True, index=True)
    subject = fields.Char(
        required=True, readonly=True, help="The domain or IP address that was checked."
    )
    detail = fields.Char(
        string="For",
        readonly=True,
        help="The sending IP (SPF), the DKIM selector or the blocklist the line is about.",
    )
    status = fields.Selection(STATUSES, required=True, readonly=True, index=True)
    severity = fields.Integer(compute="_compute_severity", store=True)
    previous_status = fields.Selection(STATUSES, readonly=True)
    status_date = fields.Datetime(string="Status since", readonly=True)
    value = fields.Char(string="Found", readonly=True, help="The record or answer found.")
    message = fields.Text(compute="_compute_message")
    fix = fields.Text(string="How to fix", compute="_compute_message")
    message_key = fields.Char(readonly=True, help="The engine's template of the message.")
    message_values = fields.Json(readonly=True)
    message_en = fields.Text(string="Message (English)", readonly=True)
    fix_en = fields.Text(string="How to fix (English)", readonly=True)
    date = fields.Datetime(string="Checked on", required=True, readonly=True, index=True)
    mail_server_id = fields.Many2one(
        "ir.mail_server", string="Outgoing server", readonly=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    active = fields.Boolean(default=True, readonly=True)

    @api.depends("status")
    def _compute_severity(self):
        for check in self:
            check.severity = SEVERITY.get(check.status, len(SEVERITY))

    @api.depends("check", "message_key", "message_values", "message_en", "fix_en")
    @api.depends_context("lang")
    def _compute_message(self):
        """The engine's templates in the reader's language; English when none matches."""
        for check in self:
            templates = MESSAGES.get(check.check, {}).get(check.message_key or "")
            if templates is None:
                check.message, check.fix = check.message_en, check.fix_en
                continue
            values = dict(check.message_values or {})
            for name in PHRASE_PARAMS:
                if isinstance(values.get(name), str):
                    values[name] = self.env._(values[name])
            check.message, check.fix = (self._render_template(t, values) for t in templates)

    @api.model
    def _render_template(self, template, values):
        """An engine template (marked with ``_lt``) translated, its placeholders filled."""
        if not template:
            return ""
        try:
            return self.env._(template).format_map(_Values(values))
        except (ValueError, IndexError, KeyError, AttributeError):
            return template.format_map(_Values(values))  # a translation with broken braces

    @api.depends("check", "subject", "detail")
    def _compute_display_name(self):
        labels = dict(self._fields["check"]._description_selection(self.env))
        for check in self:
            name = f"{labels.get(check.check, check.check)}: {check.subject}"
            check.display_name = f"{name} ({check.detail})" if check.detail else name

    # ------------------------------------------------------------------
    # Settings
    # ------------------------------------------------------------------
    @api.model
    def _check_manager(self):
        check_manager(self.env, self.env._("Only CiviMail Managers can check deliverability."))

    @api.model
    def _checker(self):
        """A Checker with the resolver, timeout and blocklists of the settings."""
        params = self.env["ir.config_parameter"].sudo()
        nameservers = split_list(params.get_param(NAMESERVERS_PARAM, ""))
        try:
            timeout = float(params.get_param(TIMEOUT_PARAM, DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT)
        except ValueError:
            timeout = DEFAULT_TIMEOUT
        if timeout <= 0:
            timeout = DEFAULT_TIMEOUT
        ip_lists = split_list(params.get_param(IP_BLOCKLISTS_PARAM, "")) or DEFAULT_IP_BLOCKLISTS
        domain_lists = (split_list(params.get_param(DOMAIN_BLOCKLISTS_PARAM, ""))
                        or DEFAULT_DOMAIN_BLOCKLISTS)
        try:
            return Checker(nameservers=nameservers or None, timeout=timeout,
                           ip_blocklists=ip_lists, domain_blocklists=domain_lists)
        except ValueError as error:
            raise UserError(self.env._(
                "The DNS resolver setting “%(nameservers)s” is not valid (%(error)s): give "
                "IP addresses, with a port if needed (192.0.2.53:5353), separated by commas.",
                nameservers=", ".join(nameservers), error=error,
            )) from error

    @api.model
    def _dkim_selectors(self):
        return split_list(
            self.env["ir.config_parameter"].sudo().get_param(DKIM_SELECTORS_PARAM, "")
        )

    @api.model
    def _from_domains(self, company):
        """Domains mailings of ``company`` send from: recent or queued ones, and the company's."""
        since = fields.Datetime.now() - timedelta(days=RECENT_MAILING_DAYS)
        mailings = self.env["mailing.mailing"].sudo().with_context(active_test=False).search([
            "|", ("user_id.company_id", "=", company.id), ("user_id", "=", False),
            "|", ("state", "in", ("in_queue", "sending")),
            "&", ("state", "=", "done"), ("sent_date", ">=", since),
        ])
        alias_domain = company.sudo().alias_domain_id
        addresses = [*mailings.mapped("email_from"), company.email,
                     alias_domain.default_from_email]
        domains = [dnsquery.normalize_domain(tools.email_normalize(address) or "")
                   for address in addresses if address]
        domains.append(dnsquery.normalize_domain(alias_domain.name or ""))
        return [domain for domain in dict.fromkeys(domains) if domain]

    @api.model
    def _bounce_domain(self, company):
        """The domain of the bounce address: the default bounce account's, else Odoo's."""
        account = self.env["civimail.mail.account"]._default_bounce_account(company)
        return (account.email_domain or company.sudo().alias_domain_id.name or "").strip()

    @api.model
    def _sending_ips(self, servers, resolver):
        """({ip: servers}, [(server, CheckResult)]) of the servers' sending IPs.

        The Sending IP field wins; otherwise the public addresses of the SMTP
        host (the engine's ``sending_ips`` says why it found none).
        """
        by_ip, problems = {}, []
        for server in servers:
            if server.civimail_sending_ip:
                ips, problem = [server.civimail_sending_ip.strip()], None
            elif (server.smtp_host or "").strip():
                ips, problem = sending_ips(resolver, server.smtp_host, server.name)
            else:
                continue
            if problem:
                problems.append((server, problem))
            for ip in ips:
                by_ip[ip] = by_ip.get(ip, server.browse()) | server
        return by_ip, problems

    # ------------------------------------------------------------------
    # Running
    # ------------------------------------------------------------------
    @api.model
    def _run_checks(self, company, servers=None):
        """Check ``company``'s domains and ``servers`` (all active ones when None).

        Returns the check lines written. A run over all servers also archives
        the lines it did not produce any more.
        """
        full = servers is None
        MailServer = self.env["ir.mail_server"].sudo()
        servers = MailServer.search([]) if full else servers.sudo()
        checker = self._checker()
        by_ip, problems = self._sending_ips(servers, checker.resolver)
        if full and not servers:
            # The IP checks have nothing to look at: say so rather than show nothing.
            problems.append((servers, no_server()))
        domains = self._from_domains(company)
        bounce = self._bounce_domain(company)
        rows = {}

        def add(result, server_ids, detail=None):
            if detail is None:
                detail = result.params.get("selector") or result.params.get("zone") or ""
            for server_id in server_ids or [False]:
                rows[(result.check, result.subject, detail, server_id)] = result

        for server, result in problems:
            add(result, server.ids, detail="")
        # Domain checks; the IP checks below, one IP at a time, so each line
        # knows its IP and servers (SPF is checked for the bounce domain too:
        # receivers check the envelope sender).
        for result in checker.run_all(domains, [], bounce, self._dkim_selectors()):
            add(result, [])
        spf_domains = dict.fromkeys([*domains, dnsquery.normalize_domain(bounce) or bounce])
        for ip, ip_servers in by_ip.items():
            for domain in filter(None, spf_domains):
                add(checker.check_spf(domain, ip), ip_servers.ids, detail=ip)
            add(checker.check_reverse_dns(ip), ip_servers.ids)
            for result in checker.check_ip_blocklists(ip):
                add(result, ip_servers.ids)
        return self._store(company, rows, full, servers)

    @api.model
    def _store(self, company, rows, full, servers):
        """Write the results of a run; schedule an activity for checks turned red."""
        now = fields.Datetime.now()
        Check = self.sudo().with_context(active_test=False, tracking_disable=True,
                                         mail_create_nolog=True, mail_create_nosubscribe=True)
        existing = {
            (line.check, line.subject, line.detail or "", line.mail_server_id.id or False): line
            for line in Check.search([("company_id", "=", company.id)])
        }
        turned_red = written = Check.browse()
        for row_key, result in rows.items():
            check, subject, detail, server_id = row_key
            vals = {
                "status": result.status,
                "value": result.value or False,
                "message_key": result.key or False,
                "message_values": result.params or False,
                "message_en": result.message,
                "fix_en": result.fix or False,
                "date": now,
                "active": True,
            }
            line = existing.pop(row_key, None)
            if line is None:
                line = Check.create({
                    **vals, "check": check, "subject": subject, "detail": detail or False,
                    "mail_server_id": server_id, "company_id": company.id, "status_date": now,
                })
                was = None
            else:
                was = line.status if line.active else None
                if line.status != result.status or not line.active:
                    vals.update(previous_status=line.status, status_date=now)
                line.write(vals)
            if result.status == ERROR and was != ERROR:
                turned_red |= line
            written |= line
        # A full run replaces every line; a run for some servers only theirs.
        stale = Check.concat(*existing.values()).filtered(
            lambda line: line.active and (full or line.mail_server_id in servers))
        stale.write({"active": False})
        if turned_red:
            self._notify_turned_red(turned_red)
        return written

    @api.model
    def _notify_turned_red(self, lines):
        """One activity per CiviMail Manager for the checks that just turned to error."""
        activity_type = self.env.ref("mail.mail_activity_data_todo")
        managers = self.env.ref("civimail_addon.group_civimail_manager").users.filtered(
            lambda user: not user.share and user.active and not user._is_superuser()
        )
        items = Markup().join(
            Markup("<li>%s: %s</li>") % (line.display_name, line.message) for line in lines
        )
        note = Markup("<p>%s</p><ul>%s</ul>") % (
            self.env._("These deliverability checks turned to error:"), items)
        for manager in managers:
            lines[0].sudo().activity_schedule(
                activity_type_id=activity_type.id,
                summary=self._turned_red_summary(),
                note=note,
                user_id=manager.id,
            )

    @api.model
    def _turned_red_summary(self):
        return self.env._("Deliverability check failed")

    @api.model
    def _job_check(self, servers=None, company=None):
        """The "check_deliverability" job: ``company``'s domains and every server.

        With ``servers`` (a button on a server), the current company and those
        servers only.
        """
        self._check_manager()
        lines = self._run_checks(company or self.env.company, servers)
        if servers is None:
            self._purge_archived()
        counts = {status: len(lines.filtered(lambda line, s=status: line.status == s))
                  for status, _label in STATUSES}
        return {
            "processed": len(lines),
            "failed": counts["error"],
            "message": fact("deliverability_done", count=len(lines), **counts),
        }

    @api.model
    def _purge_archived(self):
        """Forget archived lines older than the job log retention."""
        params = self.env["ir.config_parameter"].sudo()
        days = int(params.get_param(RETENTION_PARAM, DEFAULT_RETENTION_DAYS) or 0)
        if days > 0:
            cutoff = fields.Datetime.now() - timedelta(days=days)
            self.sudo().with_context(active_test=False).search(
                [("active", "=", False), ("date", "<", cutoff)]).unlink()

    @api.model
    def _trigger_check(self):
        """Run the check job soon (e.g. after a receiving server blocked our mail)."""
        cron = self.env.ref("civimail_addon.ir_cron_civimail_check_deliverability",
                            raise_if_not_found=False)
        if cron and cron.sudo().active:
            cron.sudo()._trigger()

    def action_check(self):
        """"Check now" of the list: run every check of the current company now.

        A list button passes the selected lines (or none): the run is the
        same whichever are selected.
        """
        self._check_manager()
        self.check_access("read")
        return self._action_check()

    @api.model
    def _action_check(self, servers=None):
        """Run the checks now (of ``servers`` only, when given) and show their results."""
        self._check_manager()
        logs = self.env["civimail.job.log"]._run_job(
            "check_deliverability", records=servers, origin="button")
        # The run covered every company: another company's error is not the user's to read.
        failed = logs.filtered(lambda log: log.status == "error" and (
            not log.company_id or log.company_id in self.env.companies))
        if failed:
            raise UserError(failed[0].message)
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_deliverability_check_action")
        if servers:
            action["domain"] = ["|", ("mail_server_id", "in", servers.ids),
                                ("mail_server_id", "=", False)]
        return action
