import logging
from collections import defaultdict

from markupsafe import Markup
from odoo import api, fields, models, tools
from odoo.tools import SQL

from ..engine.bounce import DEFAULT_SECONDS as ANALYSIS_SECONDS
from ..engine.bounce import Report, analyze
from ..engine.bounce.refusal import smtp_refusal
from ..engine.mailbox import IGNORED, PROCESSED
from .stored_messages import ALREADY_PROCESSED, fact, render

_logger = logging.getLogger(__name__)

# What a bounce was reported by (the analyzer's report kinds that count).
BOUNCE_KINDS = [
    ("bounce", "Delivery failure"),
    ("autoreply", "Auto-reply"),
    ("complaint", "Complaint"),
    ("challenge", "Challenge-response"),
]

#: Reports sent by the recipient's side once the message arrived: no failed delivery.
ARRIVED_KINDS = ("autoreply", "challenge")


class CivimailBounce(models.Model):
    """One failed delivery to one email, as a bounce message reported it."""

    _name = "civimail.bounce"
    _description = "CiviMail Bounce"
    _order = "date desc, id desc"
    _rec_name = "email"

    date = fields.Datetime(required=True, default=fields.Datetime.now, readonly=True, index=True)
    email = fields.Char(required=True, readonly=True, index=True, help="Normalized email.")
    email_domain = fields.Char(compute="_compute_email_domain", store=True, string="Domain")
    partner_ids = fields.Many2many(
        "res.partner", string="Contacts", readonly=True,
        help="The contacts with this email when the bounce arrived.",
    )
    mailing_id = fields.Many2one("mailing.mailing", readonly=True, index="btree_not_null")
    trace_id = fields.Many2one(
        "mailing.trace", string="Mailing trace", readonly=True, index="btree_not_null",
        ondelete="set null",
    )
    type_id = fields.Many2one(
        "civimail.bounce.type", string="Bounce type", required=True, readonly=True, index=True
    )
    hard = fields.Boolean(readonly=True)
    status = fields.Char(string="DSN status", readonly=True, help="e.g. 5.1.1")
    diagnostic = fields.Text(readonly=True)
    account_id = fields.Many2one(
        "civimail.mail.account", string="Mail account", readonly=True, ondelete="set null"
    )
    provider_account_id = fields.Many2one(
        "civimail.provider.account", string="Provider account", readonly=True,
        ondelete="set null", help="The provider whose event webhook reported the bounce.",
    )
    message_id = fields.Char(string="Bounce Message-ID", readonly=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    released = fields.Boolean(
        readonly=True, help="Counted no more: the email was released from hold since."
    )
    kind = fields.Selection(
        BOUNCE_KINDS, compute="_compute_kind", store=True, precompute=True, readonly=True,
        required=True,
        help="What reported it. A mailing trace counts at most one bounce of each kind, "
        "however many copies of the report arrive.",
    )

    def init(self):
        # A report sent again (under another Message-ID) counts once: see _counted.
        index = "civimail_bounce_one_per_trace_and_kind"
        if not tools.index_exists(self.env.cr, index):
            # A database of an earlier version may hold copies counted before:
            # they stay (as counted) but leave their trace, which keeps one.
            self.flush_model(["kind"])
            self.env.cr.execute(SQL(
                "UPDATE %(table)s SET trace_id = NULL WHERE id IN ("
                " SELECT id FROM (SELECT id, row_number() OVER ("
                "  PARTITION BY trace_id, kind ORDER BY date, id) AS copy"
                "  FROM %(table)s WHERE trace_id IS NOT NULL) AS bounces WHERE copy > 1)",
                table=SQL.identifier(self._table),
            ))
            if self.env.cr.rowcount:
                _logger.warning("CiviMail: %s bounces counted again by their trace were "
                                "detached from it", self.env.cr.rowcount)
            self.env.cr.execute(SQL(
                "CREATE UNIQUE INDEX %s ON %s (trace_id, kind) WHERE trace_id IS NOT NULL",
                SQL.identifier(index),
                SQL.identifier(self._table),
            ))

    @api.depends("type_id")
    def _compute_kind(self):
        # Set from the report when it is recorded; the type tells for other bounces.
        kinds = {"complaint": "complaint", "away": "autoreply", "challenge": "challenge"}
        for bounce in self:
            bounce.kind = kinds.get(bounce.type_id.code, "bounce")

    @api.depends("email")
    def _compute_email_domain(self):
        for bounce in self:
            bounce.email_domain = (bounce.email or "").rpartition("@")[2]

    # ------------------------------------------------------------------
    # Processing a message of a bounce account
    # ------------------------------------------------------------------
    @api.model
    def _process_bounce_messages(self, account, raws):
        """Analyze and record messages of ``account`` ({uid: raw}) in bulk.

        Messages sent to an action address (unsubscribe, opt-out, reply) are
        requests, handled by civimail.verp.request; the others are bounces.

        Returns {uid: (outcome, label, reason)}. Analysis is pure Python;
        the database work of the whole batch is done in a few queries.
        """
        codec = account._verp_codec()
        # Emails to an unsubscribe, opt-out or reply address are requests, not bounces.
        results = self.env["civimail.verp.request"]._process_requests(account, codec, raws)
        raws = {uid: raw for uid, raw in raws.items() if uid not in results}
        patterns = self.env["civimail.bounce.pattern"]._pattern_set()
        seconds = self._analysis_seconds()
        reports = {uid: analyze(raw, patterns=patterns, verp=codec, seconds=seconds)
                   for uid, raw in raws.items()}
        traces = self.env["mailing.trace"].sudo().browse({
            found.verp.trace_id
            for report in reports.values() for found in report.challenges or report.bounces
            if found.verp
        }).exists()
        traces_by_id = {trace.id: trace for trace in traces}
        self.env["civimail.bounce.pattern"]._note_slow(
            {source for report in reports.values() for source in report.slow_patterns})
        counted = self._counted(traces)
        accepted = []
        for uid, report in reports.items():
            if report.kind == "not_bounce":
                results[uid] = (IGNORED, "not_bounce", report.reason)
                continue
            if report.kind == "unprocessable":
                # Over its time budget: set aside with the reason, the batch goes on.
                results[uid] = (IGNORED, "set_aside", report.reason)
                continue
            refused, entries, replayed = [], [], False
            for found in report.challenges or report.bounces:
                trace, why = self._verified_trace(account, codec, found, traces_by_id)
                if not why and (trace.id, report.kind) in counted:
                    # The same report again, maybe under another Message-ID: a copy
                    # of a genuine bounce must not count twice (nor hold anyone).
                    why, replayed = fact("reason_replayed", trace=trace.id), True
                if why:
                    refused.append(why)
                    _logger.info("CiviMail bounce ignored (%s)", render(self.env, why))
                else:
                    counted.add((trace.id, report.kind))
                    entries.append((report, found, trace))
            if not entries:
                label = ALREADY_PROCESSED if replayed else "unidentified"
                results[uid] = (IGNORED, label, refused or report.reason)
                continue
            accepted.append((uid, len(entries)))
            results[uid] = entries
        bounces = self._record_many(account, [
            entry for uid, _count in accepted for entry in results[uid]
        ])
        position = 0
        for uid, count in accepted:
            recorded = bounces[position:position + count]
            position += count
            labels = ", ".join(sorted(set(recorded.type_id.mapped("code"))))
            results[uid] = (PROCESSED, labels, reports[uid].reason)
        return results

    @api.model
    def _counted(self, traces):
        """{(trace id, kind)} of the bounces these traces already count."""
        if not traces:
            return set()
        groups = self.sudo()._read_group([("trace_id", "in", traces.ids)], ["trace_id", "kind"])
        return {(trace.id, kind) for trace, kind in groups}

    @api.model
    def _analysis_seconds(self):
        """Time one bounce may take to analyse before it is set aside."""
        return ANALYSIS_SECONDS

    @api.model
    def _verified_trace(self, account, codec, found, traces_by_id):
        """The mailing trace a VERP token names, or (empty, why it is refused)."""
        if found.verp is None:
            why = fact("reason_no_verp", email=found.email) if found.email \
                else fact("reason_no_recipient")
            return self.env["mailing.trace"].sudo(), why
        return self._verified_token(account, codec, found.verp, traces_by_id)

    @api.model
    def _verified_token(self, account, codec, token, traces_by_id):
        """The mailing trace a VERP token (of any action) names, or (empty, why it is refused)."""
        Trace = self.env["mailing.trace"].sudo()
        trace = traces_by_id.get(token.trace_id)
        if not trace:
            return Trace, fact("reason_no_trace", trace=token.trace_id)
        if not codec.verify(token, trace.email or ""):
            return Trace, fact("reason_bad_signature", trace=token.trace_id)
        company = (
            trace.mass_mailing_id._civimail_company() if trace.mass_mailing_id
            else account.company_id
        )
        if company != account.company_id:
            return Trace, fact("reason_other_company", trace=trace.id, company=company.name)
        return trace, None

    @api.model
    def _record_smtp_refusal(self, trace, account, smtp_code, smtp_message, stage=""):
        """Record a permanent refusal at send time (5xx on MAIL, RCPT or DATA) as a bounce."""
        found = smtp_refusal(trace.email or "", smtp_code, smtp_message, stage,
                             self.env["civimail.bounce.pattern"]._pattern_set())
        report = Report(kind="bounce", reason=fact("reason_smtp_refusal"))
        return self._record_many(account, [(report, found, trace)])

    @api.model
    def _record_many(self, account, entries):
        """Create bounces for (report, found, trace) entries and apply their consequences.

        ``account`` is the mail account or provider account that reported them.

        Traces are marked bounced, the host's bounce counters move, complaints
        go to the blocklist, Blocked bounces alert the managers, and emails that
        reach a threshold go on hold. Returns the bounces in the entries' order.
        """
        if not entries:
            return self.browse()
        types = self.env["civimail.bounce.type"]._by_code()
        emails = [tools.email_normalize(trace.email) or trace.email for _r, _f, trace in entries]
        partners = self.env["res.partner"].sudo().search([("email_normalized", "in", emails)])
        partners_by_email = defaultdict(self.env["res.partner"].sudo)
        for partner in partners:
            partners_by_email[partner.email_normalized] |= partner
        values, counted = [], []
        for email, (report, found, trace) in zip(emails, entries, strict=True):
            bounce_type = types.get(found.type)
            if not bounce_type or not bounce_type.active:
                bounce_type = types["unknown"]
            values.append({
                "email": email,
                "partner_ids": [fields.Command.set(partners_by_email[email].ids)],
                "mailing_id": trace.mass_mailing_id.id,
                "trace_id": trace.id,
                "type_id": bounce_type.id,
                "hard": found.hard,
                "status": found.status,
                "diagnostic": found.diagnostic,
                **account._civimail_bounce_origin(),
                "message_id": (report.message_id or "")[:998],
                "kind": report.kind,
                "company_id": account.company_id.id,
            })
            # A request to confirm, an out-of-office: the message arrived. Counted by
            # type (toward the Away threshold), the trace stays delivered.
            if report.kind not in ARRIVED_KINDS and bounce_type.code != "challenge":
                trace.set_bounced(
                    bounce_message=found.diagnostic or render(self.env, report.reason))
                counted.append(email)
        bounces = self.sudo().create(values)
        self._count_host_bounces(partners_by_email, counted)
        for email in set(bounces.filtered(lambda b: b.type_id.code == "complaint").mapped("email")):
            self.env["mail.blacklist"].sudo()._add(
                email,
                message=Markup("<p>%s</p>") % self.env._(
                    "Added by CiviMail: the recipient reported a mailing as spam."
                ),
            )
        blocked = bounces.filtered(lambda b: b.type_id.code == "blocked")
        if blocked:
            account._notify_blocked(blocked[0])
            # Is it our IP or domain? A deliverability check tells soon.
            self.env["civimail.deliverability.check"]._trigger_check()
        (bounces - blocked)._hold_when_due()
        return bounces

    @api.model
    def _count_host_bounces(self, partners_by_email, emails):
        """Tell the host of each bounce, as its mail gateway does (``_routing_handle_bounce``).

        The contacts with the bounced email get ``_message_receive_bounce``
        once per bounce: the host raises their bounce counter
        (``message_bounce``), and modules overriding the hook see CiviMail's
        bounces as they see the host's.
        """
        # One prefetch for the batch: what the host's write reads of each
        # contact (its children, its users) is read once for all of them.
        batch = self.env["res.partner"].sudo().browse(
            {pid for email in emails for pid in partners_by_email[email].ids})
        for email in emails:
            partners = partners_by_email[email].with_prefetch(batch._prefetch_ids)
            if partners:
                partners._message_receive_bounce(email, partners)

    def _hold_when_due(self):
        """Put on hold the emails of these bounces that reached their type's threshold."""
        due = self._hold_counts(set(self.mapped("email")))
        if not due:
            return
        candidates = self.env["res.partner"].sudo().search([
            ("email_normalized", "in", list(due)), ("email_on_hold", "=", False)
        ])
        last_by_email = {bounce.email: bounce for bounce in self}  # the latest of each email
        holds = {}
        for partner in candidates:
            bounce_type, count = due[partner.email_normalized]
            last = last_by_email[partner.email_normalized]
            holds[partner] = (bounce_type, count, last.diagnostic or last.status)
        candidates._civimail_put_on_hold(holds)

    @api.model
    def _hold_counts(self, emails):
        """{email: (type, count)} for emails whose unreleased bounces of one type
        reached that type's threshold (the type with most bounces if several)."""
        if not emails:
            return {}
        self.flush_model()
        self.env["civimail.bounce.type"].flush_model()
        self.env.cr.execute(
            """
            SELECT bounce.email, bounce_type.id, COUNT(*)
              FROM civimail_bounce bounce
              JOIN civimail_bounce_type bounce_type ON bounce_type.id = bounce.type_id
             WHERE bounce.email = ANY(%s)
               AND NOT COALESCE(bounce.released, FALSE)
               AND bounce_type.hold_threshold > 0
          GROUP BY bounce.email, bounce_type.id, bounce_type.hold_threshold
            HAVING COUNT(*) >= bounce_type.hold_threshold
          ORDER BY COUNT(*)
            """,
            [list(emails)],
        )
        Type = self.env["civimail.bounce.type"]
        return {email: (Type.browse(type_id), count)
                for email, type_id, count in self.env.cr.fetchall()}

    @api.model
    def _emails_on_hold(self, emails):
        """The emails among ``emails`` (normalized) on hold: by their bounces, or by hand.

        Derived from the bounces themselves, so an email on hold is skipped
        whether it belongs to a contact, a mailing list contact or no one; a
        contact's email put on hold by a manager is skipped too.
        """
        emails = set(emails)
        held = self.env["res.partner"].sudo().search_fetch(
            [("email_normalized", "in", list(emails)), ("email_on_hold", "=", True)],
            ["email_normalized"],
        ) if emails else self.env["res.partner"]
        return set(self._hold_counts(emails)) | set(held.mapped("email_normalized"))
