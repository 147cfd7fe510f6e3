import email
import email.policy
import hashlib
import logging

from odoo import api, models, tools
from odoo.tools.mail import decode_message_header, email_split_tuples

from ..engine.analyzer import analyze
from ..engine.mailbox import IGNORED, PROCESSED

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
    filed email is what Odoo makes of a done activity: a message on the
    contact's chatter carrying the activity type (here Email), posted with
    the host's message_post, so it shows with its subject, sanitized body and
    attachments. Reading the mailbox, committing and moving the messages is
    the mail account's business (civimail.mail.account).
    """

    _name = "civimail.inbound"
    _description = "CiviMail Email-to-Activity"

    @api.model
    def _file_messages(self, account, raws):
        """File raw messages of ``account`` ({uid: raw}): {uid: (outcome, label, reason)}."""
        own = self._own_addresses()
        return {uid: self._file_message(account, raw, own) for uid, raw in raws.items()}

    @api.model
    def _file_message(self, account, raw, own):
        """File one raw message; ``own`` are the mail accounts' addresses."""
        try:
            message = email.message_from_bytes(raw, policy=email.policy.SMTP)
            # The host's parser decodes headers, charsets, bodies and attachments.
            parsed = self.env["mail.thread"].message_parse(message)
            senders = self._addresses(message, ("From",))
            recipients = self._addresses(message, RECIPIENT_HEADERS)
        except Exception as error:  # a broken message is set aside, not fatal
            _logger.info("CiviMail: unparseable message set aside", exc_info=True)
            return IGNORED, self.env._("unparseable"), self.env._(
                "The message could not be parsed (%(error_type)s): %(error)s",
                error_type=type(error).__name__,
                error=error,
            )
        message_id = self._message_id(message, raw)
        refusal = self._refusal(raw, message, message_id, senders, own)
        if refusal:
            return IGNORED, *refusal
        sender_email = senders[0][1]
        addresses = {}
        for name, address in senders + recipients:
            if not self._is_own(address, own):
                addresses.setdefault(address, name)
        contacts, skipped = self._contacts(account, addresses)
        if not contacts:
            return IGNORED, self.env._("no contact"), "\n".join(skipped) or self.env._(
                "No address of the message other than the mail accounts' own."
            )
        user = self._sender_user(sender_email)
        author = user.partner_id or contacts.get(sender_email, self.env["res.partner"])[:1]
        partners = self.env["res.partner"].union(*contacts.values())
        filed = self._file_on(partners, parsed, message_id, author, user)
        if not filed:
            return PROCESSED, self.env._("already filed"), self.env._(
                "Already filed on %s.", ", ".join(partners.mapped("display_name"))
            )
        reason = self.env._(
            "Filed on %(names)s.", names=", ".join(filed.mapped("display_name"))
        )
        return PROCESSED, self.env._("filed"), "\n".join([reason, *skipped])

    @api.model
    def _refusal(self, raw, message, message_id, senders, own):
        """(label, reason) when the message is not to be filed, else None."""
        report = analyze(raw)
        odoo_message_id = " ".join(str(message.get("X-Odoo-Message-Id") or "").split())
        if report.kind in ("bounce", "complaint"):
            refusal = self.env._("bounce"), report.reason
        elif report.kind == "autoreply":
            refusal = self.env._("auto-reply"), report.reason
        elif message.get_content_type() == "multipart/report":
            # RFC 6522 reports are machine-made: delivery (success or delay) and
            # read receipts, which concern a message, not a contact.
            refusal = self.env._("report"), self.env._(
                "A delivery or read report (multipart/report), not an email from a person."
            )
        elif not senders:
            refusal = self.env._("unparseable"), self.env._(
                "The message has no sender address (From)."
            )
        elif self._sent_by_this_database(message_id, odoo_message_id):
            refusal = self.env._("sent by this database"), self.env._(
                "This database sent this message (%s): it is already on its record.", message_id
            )
        elif self._is_own(senders[0][1], own):
            refusal = self.env._("loop"), self.env._(
                "Sent from %s, an address of a CiviMail mail account.", senders[0][1]
            )
        else:
            refusal = None
        return refusal

    # ------------------------------------------------------------------
    # What the message says
    # ------------------------------------------------------------------
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
        """The Message-ID, else one derived from the content, stable across copies.

        Copies of one email differ by their trace headers (Received,
        Delivered-To...), so the digest covers what the author wrote only.
        """
        message_id = " ".join(str(message.get("Message-Id") or "").split())
        if message_id:
            return message_id[:998]
        parts = [str(message.get(name) or "") for name in ("From", "To", "Cc", "Date", "Subject")]
        body = raw.partition(b"\r\n\r\n")[2] or raw.partition(b"\n\n")[2]
        digest = hashlib.sha256("\n".join(parts).encode() + b"\n" + body).hexdigest()
        return f"<civimail-{digest}@no-message-id>"

    @api.model
    def _sent_by_this_database(self, message_id, odoo_message_id):
        """Whether this database sent the message (a copy or a reply-less echo).

        Odoo sends a mail.message under its Message-ID (later 18.0 revisions
        also stamp it as X-Odoo-Message-Id when a recipient gets another
        one); mailings keep theirs on their traces. An inbound email filed or
        routed here keeps its own Message-ID too, hence the check on how the
        stored message came to be.
        """
        Message = self.env["mail.message"].sudo()
        if odoo_message_id and Message.search_count(
            [("message_id", "=", odoo_message_id)], limit=1
        ):
            return True
        if Message.search_count(
            [("message_id", "=", message_id), ("message_type", "in", AUTHORED_MESSAGE_TYPES)],
            limit=1,
        ):
            return True
        return bool(self.env["mailing.trace"].sudo().search_count(
            [("message_id", "in", [message_id, odoo_message_id or message_id])], limit=1
        ))

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
    def _contacts(self, account, addresses):
        """({address: contacts to file on}, [why an address was skipped]).

        Individuals are preferred; an address only a company has gets a new
        individual (as CiviCRM) unless the account files on the company.
        """
        Partner = self.env["res.partner"].sudo()
        existing = Partner.search_fetch(
            [("email_normalized", "in", list(addresses)),
             *Partner._check_company_domain(account.company_id)],
            ["email_normalized", "is_company", "display_name"],
        )
        contacts, skipped, to_create = {}, [], []
        for address, name in addresses.items():
            matches = existing.filtered(lambda p, a=address: p.email_normalized == a)
            individuals = matches.filtered(lambda p: not p.is_company)
            if individuals:
                contacts[address] = individuals
            elif matches and account.activity_company_policy == "company":
                contacts[address] = matches
            elif account.activity_create_contacts:
                to_create.append((address, name))
            elif matches:
                skipped.append(self.env._(
                    "%s: only a company has this address, and the account creates no "
                    "contacts: skipped.", address
                ))
            else:
                skipped.append(self.env._(
                    "%s: no contact has this address, and the account creates no contacts: "
                    "skipped.", address
                ))
        if to_create:
            created = Partner.with_context(mail_create_nosubscribe=True).create([
                {"name": name or address.partition("@")[0], "email": address}
                for address, name in to_create
            ])
            for (address, _name), partner in zip(to_create, created, strict=True):
                contacts[address] = partner
        for line in skipped:
            _logger.info("CiviMail account %s: %s", account.name, line)
        return contacts, skipped

    @api.model
    def _sender_user(self, address):
        return self.env["res.users"].sudo().search(
            [("partner_id.email_normalized", "=", address), ("share", "=", False)], limit=1
        )

    # ------------------------------------------------------------------
    # Filing
    # ------------------------------------------------------------------
    @api.model
    def _file_on(self, partners, parsed, message_id, author, user):
        """Post the email on each of ``partners`` not having it yet; return them.

        Attachments are created once, on the first contact, and linked to
        every contact's message.
        """
        already = self.env["mail.message"].sudo().search_fetch(
            [("model", "=", "res.partner"), ("res_id", "in", partners.ids),
             ("message_id", "=", message_id)],
            ["res_id"],
        )
        filed_before = set(already.mapped("res_id"))
        partners = partners.filtered(lambda p: p.id not in filed_before)
        if not partners:
            return partners
        # With the sender's user, the filing is theirs (creator and author).
        poster = partners.with_user(user).sudo() if user else partners.sudo()
        poster = poster.with_context(mail_create_nosubscribe=True, mail_post_autofollow=False)
        body = tools.html_sanitize(parsed.get("body") or "")
        values = poster[0]._process_attachments_for_post(
            parsed.get("attachments") or [], [], {"body": body}
        )
        body = values.get("body", body)
        attachment_ids = [command[1] for command in values.get("attachment_ids", [])]
        message_values = {
            "subject": parsed.get("subject") or False,
            "body": body,
            "message_type": "email",
            # What mail.activity._action_done posts: the activity type and its subtype.
            "mail_activity_type_id": self.env.ref("mail.mail_activity_data_email").id,
            "subtype_xmlid": "mail.mt_activities",
            "author_id": author.id,
            "email_from": parsed.get("email_from") or False,
            "reply_to": parsed.get("email_from") or False,
            "message_id": message_id,
            "attachment_ids": attachment_ids,
        }
        if parsed.get("date"):  # else now, as for any message
            message_values["date"] = parsed["date"]
        for partner in poster:
            partner.message_post(**message_values)
        return partners
