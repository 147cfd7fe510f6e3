import logging
import threading
from collections import Counter, defaultdict

from odoo import api, fields, models, tools
from odoo.tools import SQL

from ..engine.bounce import BouncedRecipient, Report
from ..engine.webhooks import (
    BOUNCE,
    COMPLAINT,
    DELIVERED,
    UNSUBSCRIBE,
    Refused,
    brevo,
    mailgun,
    postmark,
    sendgrid,
    ses,
)

_logger = logging.getLogger(__name__)

PARSERS = {"ses": ses.parse, "mailgun": mailgun.parse, "sendgrid": sendgrid.parse,
           "postmark": postmark.parse, "brevo": brevo.parse}
BATCH_SIZE = 200


class CivimailProviderEvent(models.Model):
    """One verified webhook request of a provider, stored as received, then processed.

    The controller inserts it (one statement, committed) and answers; the
    *Process Provider Events* job reads the new ones in batches, records
    their bounces, complaints, unsubscribes and deliveries, and says why the
    others are ignored.
    """

    _name = "civimail.provider.event"
    _description = "CiviMail Provider Event"
    _order = "id desc"
    _rec_name = "replay_key"

    account_id = fields.Many2one(
        "civimail.provider.account", required=True, readonly=True, index=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    provider = fields.Selection(
        related="account_id.provider", store=True, readonly=True,
    )
    replay_key = fields.Char(
        required=True, readonly=True,
        help="The provider's id of this request (or its digest): a request seen before is "
        "refused.",
    )
    body = fields.Text(readonly=True, help="The request's body, as received.")
    state = fields.Selection(
        [("new", "To process"), ("done", "Processed"), ("ignored", "Ignored"),
         ("error", "Error")],
        required=True, readonly=True, default="new", index=True,
    )
    kinds = fields.Char(
        string="Events", readonly=True,
        help="The provider's events in the request, e.g. “failed: 1”.",
    )
    reason = fields.Text(readonly=True)

    _sql_constraints = [
        ("replay_key_unique", "UNIQUE(account_id, replay_key)",
         "This provider request was received before."),
    ]

    def init(self):
        # The rate limit counts an account's requests of the last minute.
        tools.create_index(self.env.cr, "civimail_provider_event_account_received",
                           self._table, ["account_id", "create_date"])

    @api.model
    def _insert_received(self, account, replay_key, body, reason=""):
        """Store a verified request in one statement; its id, or None when seen before."""
        self.env.cr.execute(SQL(
            """INSERT INTO civimail_provider_event
                   (account_id, company_id, provider, replay_key, body, state, reason,
                    create_uid, write_uid, create_date, write_date)
            VALUES (%(account)s, %(company)s, %(provider)s, %(key)s, %(body)s, %(state)s,
                    %(reason)s, %(uid)s, %(uid)s, now() at time zone 'UTC',
                    now() at time zone 'UTC')
            ON CONFLICT (account_id, replay_key) DO NOTHING
            RETURNING id""",
            account=account.id, company=account.company_id.id, provider=account.provider,
            key=replay_key[:200], body=body.decode("utf-8", "replace"),
            state="ignored" if reason else "new", reason=reason or None, uid=self.env.uid,
        ))
        row = self.env.cr.fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------
    # The job
    # ------------------------------------------------------------------
    @api.model
    def _job_process(self, accounts=None):
        """Process the new events (of ``accounts``, else all) in committed batches."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        counts, processed, ignored, failed = Counter(), 0, 0, 0
        while True:
            query = SQL(
                "SELECT id FROM civimail_provider_event WHERE state = 'new' %s "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                SQL("AND account_id = ANY(%s)", accounts.ids) if accounts else SQL(),
                BATCH_SIZE,
            )
            self.env.cr.execute(query)
            events = self.sudo().browse([row[0] for row in self.env.cr.fetchall()])
            if not events:
                break
            counts.update(events._process_safely())
            processed += len(events.filtered(lambda e: e.state == "done"))
            ignored += len(events.filtered(lambda e: e.state == "ignored"))
            failed += len(events.filtered(lambda e: e.state == "error"))
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
            self.env.invalidate_all()
        by_kind = ", ".join(
            self.env._("%(provider)s %(kind)s: %(count)s", provider=provider, kind=kind,
                       count=count)
            for (provider, kind), count in sorted(counts.items())
        )
        return {
            "processed": processed,
            "failed": failed,
            "message": self.env._(
                "%(processed)s requests processed, %(ignored)s ignored, %(failed)s unreadable. "
                "Events: %(events)s.",
                processed=processed, ignored=ignored, failed=failed,
                events=by_kind or self.env._("none"),
            ),
        }

    def _process_safely(self):
        """``_process`` the batch; if it fails, each event alone, setting aside the one
        that fails with its reason, so one bad event never stops the others."""
        try:
            with self.env.cr.savepoint():
                return self._process()
        except Exception:  # retried one by one below
            _logger.warning("CiviMail: a batch of provider events failed; one by one now",
                            exc_info=True)
        counts = Counter()
        for event in self:
            try:
                with self.env.cr.savepoint():
                    counts.update(event._process())
            except Exception as error:  # set aside, the batch goes on
                _logger.exception("CiviMail: provider event %s could not be processed", event.id)
                error_type = type(error).__name__
                event.write({"state": "error", "reason": self.env._(
                    "Could not be processed (%(error_type)s): %(error)s",
                    error_type=error_type, error=error)})
        return counts

    def _process(self):
        """Process these events; returns a Counter of (provider, event kind)."""
        counts = Counter()
        parsed = {}
        patterns = self.env["civimail.bounce.pattern"]._pattern_set()
        for event in self:
            try:
                parsed[event] = PARSERS[event.provider](event.body.encode(), patterns)
            except Refused as error:
                event.write({"state": "error", "reason": self.env._(
                    "Unreadable event: %(error)s", error=error.detail or error.code)})
            except (TypeError, ValueError, AttributeError) as error:  # a field of a wrong type
                detail = f"{type(error).__name__}: {error}"
                event.write({"state": "error", "reason": self.env._(
                    "Unreadable event: %(error)s", error=detail)})
        traces = self._matching_traces([e for events in parsed.values() for e in events])
        entries = defaultdict(list)  # account: bounce entries for civimail.bounce
        outcomes = {}
        for event, found in parsed.items():
            results = []
            for item in found:
                counts[(event.provider, item.kind)] += 1
                results.append(event._apply(item, traces, entries))
            acted = [why for acted, why in results if acted]
            reasons = [why for _acted, why in results if why]
            outcomes[event] = ("done" if acted else "ignored", "; ".join(dict.fromkeys(reasons)),
                               ", ".join(f"{k}: {n}" for k, n in
                                         Counter(i.provider_event for i in found).items()))
        for account, account_entries in entries.items():
            self.env["civimail.bounce"]._record_many(account, account_entries)
        # Events of a burst mostly share their outcome: one write per outcome.
        by_outcome = defaultdict(list)
        for event, outcome in outcomes.items():
            by_outcome[outcome].append(event.id)
        for (state, reason, kinds), ids in by_outcome.items():
            self.browse(ids).write({
                "state": state,
                "reason": reason or (False if state == "done" else self.env._("no event")),
                "kinds": kinds,
            })
        return counts

    def _apply(self, item, traces, entries):
        """Act on one provider event; returns (acted, what was done or why not)."""
        self.ensure_one()
        trace = traces.find(item)
        if not trace:
            if item.kind not in (BOUNCE, COMPLAINT, UNSUBSCRIBE, DELIVERED):
                return False, self.env._("%(event)s: not acted on", event=item.provider_event)
            return False, self.env._(
                "%(event)s of %(email)s: no message of this database",
                event=item.provider_event, email=item.email or "?")
        company = trace.mass_mailing_id._civimail_company() if trace.mass_mailing_id else None
        if company != self.account_id.company_id:
            return False, self.env._(
                "%(event)s: trace %(trace)s belongs to %(company)s, not to the account's company",
                event=item.provider_event, trace=trace.id,
                company=company.name if company else "-")
        report = Report(item.kind, self.env._("%(provider)s event %(event)s",
                                              provider=self.account_id.name,
                                              event=item.provider_event),
                        message_id=f"{self.provider}:{self.replay_key}")
        if item.kind == BOUNCE:
            entries[self.account_id].append((report, item.bounce, trace))
        elif item.kind == COMPLAINT:
            found = BouncedRecipient(trace.email or item.email, "complaint", False)
            entries[self.account_id].append((report, found, trace))
        elif item.kind == UNSUBSCRIBE:
            trace._civimail_unsubscribe(self.env._(
                "Unsubscribed through %(provider)s (mailing %(mailing)s).",
                provider=self.account_id.name, mailing=trace.mass_mailing_id.display_name))
        elif item.kind == DELIVERED:
            if trace.trace_status == "pending":  # our sending job marks accepted mail "sent"
                trace.write({"trace_status": "sent"})
        else:
            return False, self.env._("%(event)s: not acted on", event=item.provider_event)
        return True, ""

    @api.model
    def _matching_traces(self, items):
        """The traces the events name, found in three queries whatever their number."""
        return _TraceIndex(self.env["mailing.trace"].sudo(), items)


class _TraceIndex:
    """Traces by our id (echoed header or variable), provider's id and Message-ID."""

    def __init__(self, Trace, items):
        ids = {i.trace_id for i in items if i.trace_id}
        provider_ids = {c for i in items if i.message_id for c in _provider_ids(i.message_id)}
        headers = {i.header_message_id for i in items if i.header_message_id}
        self.by_id = {t.id: t for t in Trace.browse(ids).exists()} if ids else {}
        self.by_provider_id = {
            t.civimail_provider_message_id: t for t in Trace.search(
                [("civimail_provider_message_id", "in", list(provider_ids))])
        } if provider_ids else {}
        self.by_header = {
            (t.message_id or "").strip("<>"): t for t in Trace.search(
                [("message_id", "in", [f"<{h}>" for h in headers] + list(headers))])
        } if headers else {}
        self.empty = Trace.browse()

    def find(self, item):
        trace = self.by_id.get(item.trace_id)
        if trace and (not item.email or tools.email_normalize(trace.email) == item.email):
            return trace
        for candidate in _provider_ids(item.message_id):
            if candidate in self.by_provider_id:
                return self.by_provider_id[candidate]
        return self.by_header.get(item.header_message_id, self.empty)


def _provider_ids(message_id):
    """The forms of a provider's message id its reply to DATA may have given: SendGrid's
    ``sg_message_id`` is that id followed by ``.filter…``."""
    if not message_id:
        return []
    return list(dict.fromkeys([message_id, message_id.split(".", 1)[0]]))
