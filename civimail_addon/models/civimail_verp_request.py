import logging

from markupsafe import Markup
from odoo import Command, api, fields, models, tools

from ..engine.bounce import BouncedRecipient, analyze
from ..engine.mailbox import IGNORED, PROCESSED
from ..engine.verp import OPT_OUT, REPLY, UNSUBSCRIBE
from .stored_messages import ALREADY_PROCESSED, fact, render

_logger = logging.getLogger(__name__)


class CivimailVerpRequest(models.AbstractModel):
    """Emails sent to a message's action addresses, read by Fetch Bounces.

    As CiviCRM's bounce processor, one mailbox serves every VERP address of a
    message (see ``engine.verp``): ``u.`` unsubscribe (the ``mailto:`` of
    List-Unsubscribe; RFC 2369/8058: any email to it is the request), ``o.``
    opt-out (the blocklist), ``r.`` reply (mailings that track replies). Each
    address is signed for its trace, its recipient and its action: a forged
    or damaged one is ignored with the reason. A request already honoured for
    the trace is a replay: counted apart, done once.
    """

    _name = "civimail.verp.request"
    _description = "CiviMail VERP request"

    @api.model
    def _process_requests(self, account, codec, raws):
        """Process the messages of ``raws`` ({uid: raw}) sent to an action address.

        Returns {uid: (outcome, label, reason)} for those only; the others
        (bounces) are left to the caller.
        """
        requests = {}
        for uid, raw in raws.items():
            headers = account._headers(raw)
            tokens = codec.find_requests(headers) if headers is not None else []
            if tokens:
                requests[uid] = tokens[0]
        if not requests:
            return {}
        traces = self.env["mailing.trace"].sudo().browse(
            {token.trace_id for token in requests.values()}).exists()
        traces_by_id = {trace.id: trace for trace in traces}
        Bounce = self.env["civimail.bounce"]
        handlers = {UNSUBSCRIBE: self._unsubscribe, OPT_OUT: self._opt_out, REPLY: self._reply}
        results = {}
        for uid, token in requests.items():
            trace, why = Bounce._verified_token(account, codec, token, traces_by_id)
            if why:
                _logger.info("CiviMail request ignored (%s)", why)
                results[uid] = (IGNORED, "unidentified", why)
                continue
            results[uid] = handlers[token.action](account, trace, raws[uid])
        return results

    # ------------------------------------------------------------------
    # Unsubscribe and opt-out
    # ------------------------------------------------------------------
    @api.model
    def _unsubscribe(self, account, trace, raw):
        """What the host's one-click unsubscribe does: leave the mailing's lists, or the
        blocklist for a mailing to other documents."""
        if trace.civimail_unsubscribe_date:
            return self._replay(trace)
        mailing = trace.mass_mailing_id
        if mailing.mailing_on_mailing_list:
            said = fact("request_unsubscribed_lists", mailing=mailing.subject,
                        lists=", ".join(mailing.contact_list_ids.mapped("name")))
            trace._civimail_unsubscribe(render(self.env, said))
        else:
            said = fact("request_unsubscribed", mailing=mailing.subject)
            trace._civimail_unsubscribe(render(self.env, said))
            self._log_on_recipient(trace, said)
        trace.civimail_unsubscribe_date = fields.Datetime.now()
        return PROCESSED, "unsubscribed", said

    @api.model
    def _opt_out(self, account, trace, raw):
        """The host's blocklist, whatever the mailing."""
        if trace.civimail_opt_out_date:
            return self._replay(trace)
        said = fact("request_opted_out", mailing=trace.mass_mailing_id.subject)
        message = Markup("<p>%s</p>") % render(self.env, said)
        self.env["mail.blacklist"].sudo()._add(tools.email_normalize(trace.email), message=message)
        trace.civimail_opt_out_date = fields.Datetime.now()
        self._log_on_recipient(trace, said)
        return PROCESSED, "opted_out", said

    @api.model
    def _replay(self, trace):
        return PROCESSED, ALREADY_PROCESSED, fact("request_replayed", trace=trace.id)

    @api.model
    def _log_on_recipient(self, trace, said):
        """A note in the chatter of the trace's recipient (contact, mailing contact...),
        in the recipient's language when it has one."""
        record = self.env[trace.model].sudo().browse(trace.res_id).exists() \
            if trace.model in self.env else None
        if record and hasattr(record, "_message_log"):
            lang = record.lang if "lang" in record._fields and record.lang else self.env.lang
            note = render(self.env(context={**self.env.context, "lang": lang}), said)
            record._message_log(body=Markup("<p>%s</p>") % note)

    # ------------------------------------------------------------------
    # Replies
    # ------------------------------------------------------------------
    @api.model
    def _reply(self, account, trace, raw):
        """A reply: the trace is replied, the email filed on the contact and forwarded.

        An auto-reply (out of office...) is no reply: it counts as an Away
        bounce; a bounce sent there counts as the bounce it is.
        """
        report = analyze(raw, self.env["civimail.bounce.pattern"]._pattern_set())
        if report.kind != "not_bounce":
            # Servers that answer the Reply-To: an out-of-office (Away), or a
            # bounce of the message, recorded as Fetch Bounces records bounces.
            if report.kind != "autoreply" and report.bounces:
                found = report.bounces[0]
            else:
                kind = "away" if report.kind == "autoreply" else "unknown"
                found = BouncedRecipient(trace.email or "", kind, False, "", report.reason)
            bounce = self.env["civimail.bounce"]._record_many(account, [(report, found, trace)])
            return PROCESSED, bounce.type_id.code, report.reason
        Inbound = self.env["civimail.inbound"]
        parsed = Inbound._parse(raw)
        if not parsed["senders"]:
            return IGNORED, "no_sender", fact("request_no_sender", trace=trace.id)
        email = tools.email_normalize(trace.email) or parsed["senders"][0][1]
        sender_name, sender_email = parsed["senders"][0]
        contacts, skipped = Inbound._contacts(
            account, {email: sender_name if sender_email == email else ""})
        parsed["addresses"] = [email]
        users = Inbound._sender_users({sender_email})
        _outcome, label, filed = Inbound._file({0: parsed}, contacts, skipped, users, account)[0]
        if label == "already_filed":
            return self._replay(trace)
        if trace.trace_status in ("sent", "open", "reply"):
            trace.set_replied()
        forwarded = self._forward(account, trace, parsed)
        return PROCESSED, "replied", [said for said in (filed, forwarded) if said]

    @api.model
    def _forward_address(self, account, mailing):
        """Where a reply goes: the mailing's reply-to address, else its responsible's email."""
        Inbound = self.env["civimail.inbound"]
        own = Inbound._own_addresses()
        for candidate in (mailing.reply_to if mailing.reply_to_mode == "new" else "",
                          mailing.user_id.email):
            address = tools.email_normalize(candidate or "")
            # Never back to a mailbox CiviMail reads: that would loop.
            if address and not Inbound._is_own(address, own):
                return candidate
        return False

    @api.model
    def _forward(self, account, trace, parsed):
        """Queue the reply to the mailing's reply-to address, its sender in Reply-To.

        Queued in the host's mail queue (one mail.mail): a batch rolled back
        forwards nothing, and a forward the server refuses stays in the host's
        Emails with its error.
        """
        mailing = trace.mass_mailing_id
        address = self._forward_address(account, mailing)
        if not address:
            return fact("request_not_forwarded")
        from_address = tools.email_split(mailing.email_from or "")
        sender_name, sender_email = parsed["senders"][0]
        mail = self.env["mail.mail"].sudo().create({
            "subject": parsed["subject"] or "",
            "body_html": tools.html_sanitize(parsed["body"] or ""),
            # As mailing lists do: the organisation's address sends, the
            # reader's is where an answer goes.
            "email_from": tools.formataddr((sender_name or sender_email, from_address[0]))
            if from_address else mailing.email_from,
            "reply_to": parsed["email_from"],
            "email_to": address,
            "headers": repr({"X-CiviMail-Trace": str(trace.id),
                             "X-CiviMail-Mailing": str(mailing.id),
                             "X-CiviMail-Reply-From": parsed["email_from"]}),
            "attachment_ids": [
                Command.create({
                    "name": attachment.fname or "attachment",
                    "raw": attachment.content.encode()
                    if isinstance(attachment.content, str) else attachment.content,
                }) for attachment in parsed["attachments"]
            ],
            "auto_delete": True,
        })
        self.env.ref("mail.ir_cron_mail_scheduler_action")._trigger()
        _logger.info("CiviMail: reply to trace %s forwarded as mail %s", trace.id, mail.id)
        return fact("request_forwarded", address=address)
