import logging
from collections import defaultdict

from markupsafe import Markup
from odoo import api, fields, models, tools
from odoo.tools.mail import decode_message_header, email_split_and_format, email_split_tuples

from ..engine import inbound
from ..engine.bounce import analyze
from ..engine.mailbox import IGNORED, PROCESSED
from .stored_messages import fact, render

_logger = logging.getLogger(__name__)

# Where a message names its recipients: the usual headers, the Bcc a sent copy
# keeps, and the envelope recipient that MTAs record on delivery.
RECIPIENT_HEADERS = ("To", "Cc", "Bcc", "Delivered-To", "X-Original-To")
# Sub-addressing separators: "return+" also owns return+anything@domain.
SUB_ADDRESS_SEPARATORS = "+-="
# Messages authored in Odoo (as opposed to emails it received).
AUTHORED_MESSAGE_TYPES = ("comment", "email_outgoing", "notification", "auto_comment",
                          "user_notification")


class CivimailInbound(models.AbstractModel):
    """Email-to-Activity: file each email of an "activity" mail account on contacts.

    As CiviCRM's "Process Inbound Emails", the email is filed on the contacts
    of its sender and recipients, creating contacts for unknown addresses. A
    filed email is what Odoo makes of a done activity (mail.activity's
    _action_done): a message on the contact's chatter carrying the activity
    type (here Email) and the Activities subtype, so it shows with its
    subject, sanitized body and attachments; the activity itself is kept,
    archived, only when its type keeps done activities.

    A mailbox batch is filed at once: its contacts are found with one query
    and the missing ones created with one create, and its chatter messages
    are created together. Reading the mailbox, committing and moving the
    messages is the mail account's business (civimail.mail.account), which
    files a failing batch again one message at a time.
    """

    _name = "civimail.inbound"
    _description = "CiviMail Email-to-Activity"

    @api.model
    def _file_messages(self, account, raws):
        """File raw messages of ``account`` ({uid: raw}): {uid: (outcome, label, reason)}."""
        results, emails = {}, {}
        for uid, raw in raws.items():
            try:
                emails[uid] = self._parse(raw)
            except Exception as error:  # a broken message is set aside, not fatal
                _logger.info("CiviMail: unparseable message set aside", exc_info=True)
                results[uid] = IGNORED, "unparseable", fact(
                    "reason_unparseable", error_type=type(error).__name__, error=str(error)
                )
        own = self._own_addresses()
        sent_here = self._sent_by_this_database(emails)
        for uid, parsed in list(emails.items()):
            refusal = self._refusal(parsed, uid in sent_here, own)
            if refusal:
                results[uid] = IGNORED, *refusal
                del emails[uid]
        # The addresses each email concerns, and the batch's with the first
        # display name met for each (a contact to create is named after it).
        names = {}
        for parsed in emails.values():
            parsed["addresses"] = []
            for name, address in parsed["senders"] + parsed["recipients"]:
                if address not in parsed["addresses"] and not self._is_own(address, own):
                    parsed["addresses"].append(address)
                    if not names.get(address):
                        names[address] = name
        contacts, skipped = self._contacts(account, names)
        users = self._sender_users({parsed["senders"][0][1] for parsed in emails.values()})
        results.update(self._file(emails, contacts, skipped, users, account))
        return {uid: results[uid] for uid in raws}

    # ------------------------------------------------------------------
    # What the message says
    # ------------------------------------------------------------------
    @api.model
    def _parse(self, raw):
        """The values of ``raw`` filing needs; raises when it cannot be parsed.

        The host's message_parse also looks up partners, parent messages and
        bounce data, one query each per message; only its body and
        attachments extraction (charsets, alternatives, inline images) is
        reused here.
        """
        message = inbound.parse(raw)
        parsed = {
            "raw": raw,
            "message": message,
            "message_id": self._message_id(message, raw),
            "odoo_message_id": " ".join(str(message.get("X-Odoo-Message-Id") or "").split()),
            "senders": self._addresses(message, ("From",)),
            "recipients": self._addresses(message, RECIPIENT_HEADERS),
            "subject": decode_message_header(message, "Subject") or False,
            "email_from": next(iter(email_split_and_format(
                decode_message_header(message, "From", separator=","))), False),
            "date": self._date(message),
            "to": decode_message_header(message, "To", separator=", ") or "",
            "cc": decode_message_header(message, "Cc", separator=", ") or "",
        }
        parsed.update(self.env["mail.thread"]._message_parse_extract_payload(message, {}))
        return parsed

    @api.model
    def _addresses(self, message, headers):
        """[(display name, normalized email)] of ``headers``, in order, each once."""
        found = {}
        for header in headers:
            # The SMTP policy has decoded encoded words (RFC 2047) already.
            value = decode_message_header(message, header, separator=",")
            for name, address in email_split_tuples(value):
                normalized = tools.email_normalize(address)
                if normalized:
                    found.setdefault(normalized, " ".join((name or "").split()))
        return [(name, address) for address, name in found.items()]

    @api.model
    def _message_id(self, message, raw):
        """The Message-ID, else one derived from the content, stable across copies."""
        return inbound.message_id(message, raw)

    @api.model
    def _date(self, message):
        """The Date header in UTC, as stored; False when missing or invalid (dated now)."""
        date = inbound.message_date(message)
        return fields.Datetime.to_string(date) if date else False

    @api.model
    def _refusal(self, parsed, sent_here, own):
        """(result code, reason) when the message is not to be filed, else None."""
        report = analyze(parsed["raw"])
        senders = parsed["senders"]
        if report.kind in ("bounce", "complaint"):
            refusal = "bounce", report.reason
        elif report.kind in ("autoreply", "challenge"):  # both answer a message automatically
            refusal = "auto_reply", report.reason
        elif parsed["message"].get_content_type() == "multipart/report":
            # RFC 6522 reports are machine-made: delivery (success or delay) and
            # read receipts, which concern a message, not a contact.
            refusal = "report", fact("reason_report")
        elif not senders:
            refusal = "unparseable", fact("reason_no_sender")
        elif sent_here:
            refusal = "sent_here", fact("reason_sent_here", message_id=parsed["message_id"])
        elif self._is_own(senders[0][1], own):
            refusal = "loop", fact("reason_loop", email=senders[0][1])
        else:
            refusal = None
        return refusal

    @api.model
    def _sent_by_this_database(self, emails):
        """The uids of ``emails`` ({uid: parsed}) this database sent.

        Odoo sends a mail.message under its Message-ID (later 18.0 revisions
        also stamp it as X-Odoo-Message-Id when a recipient gets another
        one); mailings keep theirs on their traces. An inbound email filed or
        routed here keeps its own Message-ID too, hence the check on how the
        stored message came to be.
        """
        message_ids = {parsed["message_id"] for parsed in emails.values()}
        odoo_message_ids = {parsed["odoo_message_id"] for parsed in emails.values()} - {""}
        if not message_ids:
            return set()
        Message = self.env["mail.message"].sudo()
        stamped = {message_id for [message_id] in Message._read_group(
            [("message_id", "in", list(odoo_message_ids))], ["message_id"]
        )} if odoo_message_ids else set()
        authored = {message_id for [message_id] in Message._read_group(
            [("message_id", "in", list(message_ids)),
             ("message_type", "in", AUTHORED_MESSAGE_TYPES)],
            ["message_id"],
        )}
        traced = {message_id for [message_id] in self.env["mailing.trace"].sudo()._read_group(
            [("message_id", "in", list(message_ids | odoo_message_ids))], ["message_id"]
        )}
        stamped |= traced
        authored |= traced
        return {
            uid for uid, parsed in emails.items()
            if parsed["odoo_message_id"] in stamped or parsed["message_id"] in authored
        }

    @api.model
    def _own_addresses(self):
        """(exact addresses, (prefix, domain) pairs) of every CiviMail mail account."""
        exact, prefixes = set(), set()
        accounts = self.env["civimail.mail.account"].sudo().with_context(active_test=False)
        for account in accounts.search_fetch(
            [], ["username", "return_path", "local_part", "email_domain"]
        ):
            for value in (account.username, account.return_path):
                address = tools.email_normalize(value or "")
                if address:
                    exact.add(address)
            local = (account.local_part or "").strip().lower()
            domain = (account.email_domain or "").strip().lstrip("@").lower()
            if local and domain:
                base = local.rstrip(SUB_ADDRESS_SEPARATORS)
                exact.add(f"{base}@{domain}")
                if base != local:
                    prefixes.add((local, domain))
        return exact, prefixes

    @api.model
    def _is_own(self, address, own):
        exact, prefixes = own
        if address in exact:
            return True
        local, _at, domain = address.rpartition("@")
        return any(domain == own_domain and local.startswith(prefix)
                   for prefix, own_domain in prefixes)

    # ------------------------------------------------------------------
    # Contacts
    # ------------------------------------------------------------------
    @api.model
    def _contacts(self, account, names):
        """({address: contacts to file on}, {address: why it is skipped}).

        ``names`` are the addresses ({address: display name}) of a batch.
        Individuals are preferred; an address only a company has gets a new
        individual (as CiviCRM) unless the account files on the company.
        """
        Partner = self.env["res.partner"].sudo()
        matches = defaultdict(lambda: Partner)
        for partner in Partner.search_fetch(
            [("email_normalized", "in", list(names)),
             *Partner._check_company_domain(account.company_id)],
            ["email_normalized", "is_company"],
        ):
            matches[partner.email_normalized] |= partner
        contacts, skipped, to_create = {}, {}, []
        for address, name in names.items():
            individuals = matches[address].filtered(lambda p: not p.is_company)
            if individuals:
                contacts[address] = individuals
            elif matches[address] and account.activity_company_policy == "company":
                contacts[address] = matches[address]
            elif account.activity_create_contacts:
                to_create.append((address, name))
            elif matches[address]:
                skipped[address] = fact("reason_skipped_company", email=address)
            else:
                skipped[address] = fact("reason_skipped_no_contact", email=address)
        if to_create:
            created = Partner.with_context(mail_create_nosubscribe=True).create([
                {"name": name or address.partition("@")[0], "email": address}
                for address, name in to_create
            ])
            for (address, _name), partner in zip(to_create, created, strict=True):
                contacts[address] = partner
        for line in skipped.values():
            _logger.info("CiviMail account %s: %s", account.name, render(self.env, line))
        return contacts, skipped

    @api.model
    def _sender_users(self, addresses):
        """{address: the internal user with that email} for the senders ``addresses``."""
        users = {}
        for user in self.env["res.users"].sudo().search_fetch(
            [("partner_id.email_normalized", "in", list(addresses)), ("share", "=", False)],
            ["partner_id"],
        ):
            users.setdefault(user.partner_id.email_normalized, user)
        return users

    # ------------------------------------------------------------------
    # Filing
    # ------------------------------------------------------------------
    @api.model
    def _file(self, emails, contacts, skipped, users, account):
        """File ``emails`` ({uid: parsed}) on their contacts: {uid: (outcome, label, reason)}.

        Each email is filed once per contact, by Message-ID, whichever batch
        or account brought it. Its attachments are stored once, on the first
        contact, and linked to every contact's message.
        """
        Partner = self.env["res.partner"].sudo()
        partners = {
            uid: Partner.union(*(contacts[a] for a in parsed["addresses"] if a in contacts))
            for uid, parsed in emails.items()
        }
        everyone = Partner.union(*partners.values())
        filed = {
            (message.message_id, message.res_id)
            for message in self.env["mail.message"].sudo().search_fetch(
                [("model", "=", "res.partner"), ("res_id", "in", everyone.ids),
                 ("message_id", "in", [parsed["message_id"] for parsed in emails.values()])],
                ["message_id", "res_id"],
            )
        }
        # What message_post records of the contact, for the batch at once.
        companies = everyone._mail_get_companies(default=self.env.company)
        alias_domains = everyone._mail_get_alias_domains(default_company=self.env.company)
        activity_type = self.env.ref("mail.mail_activity_data_email")
        subtype_id = self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_activities")
        results = {}
        filings = defaultdict(list)  # {sender's user: [message values]}
        for uid, parsed in emails.items():
            message_id = parsed["message_id"]
            lines = [skipped[a] for a in parsed["addresses"] if a in skipped]
            if not partners[uid]:
                results[uid] = IGNORED, "no_contact", lines or fact("reason_no_contact_address")
                continue
            todo = partners[uid].filtered(lambda p, m=message_id: (m, p.id) not in filed)
            if not todo:
                results[uid] = PROCESSED, "already_filed", fact(
                    "reason_already_filed", names=", ".join(partners[uid].mapped("display_name"))
                )
                continue
            filed.update((message_id, partner.id) for partner in todo)
            sender_email = parsed["senders"][0][1]
            # With the sender's user, the filing is theirs (creator and author).
            user = users.get(sender_email, self.env["res.users"])
            author = user.partner_id or contacts.get(sender_email, Partner)[:1]
            values = {
                "subject": parsed["subject"],
                "message_type": "email",
                # What mail.activity._action_done posts: the activity type and its subtype.
                "mail_activity_type_id": activity_type.id,
                "subtype_id": subtype_id,
                "author_id": author.id,
                "email_from": parsed["email_from"],
                "reply_to": parsed["email_from"],
                "message_id": message_id,
                "model": "res.partner",
                **self._body_and_attachments(todo[0], parsed, user),
            }
            if parsed["date"]:  # else now, as for any message
                values["date"] = parsed["date"]
            filings[user].extend(
                dict(values, res_id=partner.id, record_name=partner.display_name,
                     body=self._filed_body(partner, account, parsed, values["body"]),
                     record_company_id=companies[partner.id].id,
                     record_alias_domain_id=alias_domains[partner.id].id)
                for partner in todo
            )
            results[uid] = PROCESSED, "filed", [
                fact("reason_filed", names=", ".join(todo.mapped("display_name"))), *lines,
            ]
        for user, values_list in filings.items():
            self._create_filings(user, activity_type, values_list)
        return results

    @api.model
    def _body_and_attachments(self, partner, parsed, user):
        """{body, attachment_ids} of the email's messages, its attachments stored on ``partner``.

        The host's post helper stores the files and points the body's inline
        images (cid:) to them. The body is HTML (Markup) as the host's
        extraction made it; mail.message sanitizes it when it is stored.
        """
        body = parsed["body"] or Markup()
        if not parsed["attachments"]:
            return {"body": body, "attachment_ids": []}
        poster = (partner.with_user(user) if user else partner).sudo()
        values = poster._process_attachments_for_post(parsed["attachments"], [], {"body": body})
        return {"body": values.get("body", body), "attachment_ids": values["attachment_ids"]}

    @api.model
    def _filed_body(self, partner, account, parsed, body):
        """The email's body under a line saying where it was filed from and whom it was to,
        in the contact's language: a filed email is not one the contact's chatter received."""
        env = partner._civimail_in_own_language()
        lines = [env._("Filed from the mail account “%(account)s”.", account=account.name)]
        if parsed["to"]:
            lines.append(env._("To: %(addresses)s", addresses=parsed["to"]))
        if parsed["cc"]:
            lines.append(env._("Cc: %(addresses)s", addresses=parsed["cc"]))
        header = Markup('<p class="text-muted small">%s</p>') % Markup("<br/>").join(lines)
        return header + body

    @api.model
    def _create_filings(self, user, activity_type, values_list):
        """Create the chatter messages (``values_list``) of emails ``user`` sent, at once.

        As the host's batch logging (_message_log_batch), nobody is notified:
        the email already reached its recipients, and filing it only records
        it on the contacts.
        """
        user = user or self.env.user
        self.env["res.partner"].with_user(user).sudo()._message_create(values_list)
        if activity_type.keep_done:
            # The host archives, rather than deletes, done activities of this type.
            model_id = self.env["ir.model"]._get_id("res.partner")
            self.env["mail.activity"].with_user(user).sudo().with_context(
                mail_activity_quick_update=True,  # done by the user: no assignment notice
            ).create([{
                "res_model_id": model_id,
                "res_id": values["res_id"],
                "activity_type_id": activity_type.id,
                "summary": values["subject"],
                "user_id": user.id,
                "date_deadline": fields.Datetime.to_datetime(values.get("date"))
                or fields.Datetime.now(),
                "attachment_ids": values["attachment_ids"],
                "active": False,
            } for values in values_list])
