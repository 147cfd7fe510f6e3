import ast
import logging
import re

import werkzeug.urls
from odoo import Command, api, models, tools
from odoo.addons.mail.models.mail_mail import _UNFOLLOW_REGEX

from ..engine.mime_out import (
    Headers,
    assemble,
    attachment_part,
    fill_opt_out,
    list_unsubscribe,
    message_date,
)
from ..engine.send_policy import Failure, envelope_failure
from ..engine.smtp_out import SENT
from ..engine.verp import BOUNCE, OPT_OUT, REPLY, UNSUBSCRIBE

_logger = logging.getLogger(__name__)

# What the job takes of the host's prepared email (``mail.mail._prepare_outgoing_list``).
OUTGOING_KEYS = ("body", "body_alternative", "email_cc", "email_from", "email_to",
                 "email_to_normalized", "headers", "message_id", "references", "reply_to",
                 "subject")


class MailMail(models.Model):
    """The messages of CiviMail mailings, built beside the host's ``_send`` they follow.

    The job creates no mail.mail: ``_civimail_build_message`` makes the bytes
    the host's ``_send`` would send for a trace, from what its
    ``_prepare_outgoing_list`` would prepare (``_civimail_prepare_outgoing``,
    a copy kept for speed, compared with the host's on each mailing's first
    message by ``_civimail_check_outgoing``: see the table in
    ``mailing_send_run``). The host's own preparation runs on an in-memory
    mail.mail (``_civimail_prepare_outgoing_host``); the ids it writes into
    tracked links and the open-tracking pixel are then those of records that
    exist: the trace, and a mail id reserved for it
    (``mailing.trace.mail_mail_id_int``), which the host's tracking route reads.
    """

    _inherit = "mail.mail"

    def _get_tracking_url(self):
        mail_id = self.env.context.get("civimail_mail_id")
        if self.id or not mail_id:
            return super()._get_tracking_url()
        token = self._generate_mail_recipient_token(mail_id)
        return werkzeug.urls.url_join(
            self.get_base_url(), f"mail/track/{mail_id}/{token}/blank.gif"
        )

    def _prepare_outgoing_body(self):
        body = super()._prepare_outgoing_body()
        trace_id = self.env.context.get("civimail_trace_id")
        if body and trace_id and not self.id and self.mailing_trace_ids:
            # The host wrote the new record's id (NewId_<trace>) into /r/<code>/m/ links.
            body = body.replace(f"/m/{self.mailing_trace_ids[0].id}", f"/m/{trace_id}")
        return body

    @api.model
    def _civimail_keep_sent(self, batch):
        """Keep what the host keeps of the batch's sent messages.

        The host's mail queue deletes a mailing's mail.mail once sent unless
        the mailing keeps archives (``auto_delete``); with replies going to
        the document (``is_notification``) it keeps the mail.message, which
        routes them. The job made no mail.mail: it makes those the host
        would have left, sent, and lets the host's ``_postprocess_sent_message``
        delete them as it would.
        """
        sent = [trace_id for trace_id, (outcome, _type, _reason) in batch.outcomes.items()
                if trace_id in batch.logged and not isinstance(outcome, str)
                and outcome.outcome == SENT]
        if not sent:
            return
        # As the host's composer creates them (each its trace's mail), already sent.
        mails = self.sudo().create([
            {**batch.logged[trace_id], "state": "sent",
             "mailing_trace_ids": [Command.link(trace_id)]}
            for trace_id in sent
        ])
        mails._postprocess_sent_message(success_pids=[])

    # ------------------------------------------------------------------
    # What every message of a mailing shares
    # ------------------------------------------------------------------
    @api.model
    def _civimail_mailing_context(self, mailing, mode, test_address=False):
        """What every message of ``mailing`` shares, computed once: attachments encoded, ...

        ``mode`` is the delivery mode, ``test_address`` where test mode sends.
        """
        attachments = mailing.attachment_ids.sudo().sorted("id")
        base_url = mailing.get_base_url()
        return {
            "mode": mode,
            "test_address": test_address,
            # As the host attaches the composer's copies of the mailing's files.
            "attachments": tuple(
                attachment_part(item["name"], item["raw"], item["mimetype"])
                for item in attachments.read(["name", "raw", "mimetype"])
                if item["raw"] is not False
            ),
            "base_url": base_url,
            "links_prefix": werkzeug.urls.url_join(base_url, f"mailing/{mailing.id}/"),
            "tracking_prefix": werkzeug.urls.url_join(self.get_base_url(), "mail/track/"),
            "alias_domains": {},
            "from": {},
            # Set when the host prepares the messages differently: it prepares them from then on.
            "host_rendering": False,
        }

    @api.model
    def _civimail_alias_domain(self, context, alias_domain_id):
        """(bounce address, notifications address) of an alias domain, as the host uses them."""
        if alias_domain_id not in context["alias_domains"]:
            domain = self.env["mail.alias.domain"].sudo().browse(alias_domain_id or [])
            context["alias_domains"][alias_domain_id] = (
                domain.bounce_email or self.env.company.bounce_email,
                domain.default_from_email if domain else False,
            )
        return context["alias_domains"][alias_domain_id]

    @api.model
    def _civimail_header_from(self, context, email_from):
        """The From the host's ``_send`` writes for ``email_from`` (the same for a mailing)."""
        cache = context["from"]
        if email_from not in cache:
            emails_from = tools.mail.email_split_and_format_normalize(email_from)
            cache[email_from] = emails_from[0] if emails_from else email_from
        return cache[email_from]

    # ------------------------------------------------------------------
    # One trace's message
    # ------------------------------------------------------------------
    @api.model
    def _civimail_build_message(self, mailing, trace, values, route, context, *,
                                profile=None, probe=False):
        """(envelope sender, envelope recipients, bytes) of one trace's message, or a Failure.

        The message is the one the host's ``_send`` would send for this
        trace: the parts its ``_prepare_outgoing_list`` would prepare, the
        fields its ``build_email`` would write, the envelope its
        ``_prepare_email_message`` gives (on ``profile``, what it reads of the
        SMTP session), with the VERP return path and CiviMail's headers.
        ``route`` is (server, SMTP sender, bounce account, VERP codec);
        ``probe`` compares the preparation with the host's (see
        ``_civimail_check_outgoing``).
        """
        server, _smtp_from, _account, codec = route
        addresses = trace._civimail_addresses(codec)
        verp = addresses[BOUNCE]
        if context["host_rendering"]:
            email = self._civimail_prepare_outgoing_host(mailing, trace, values, server, addresses)
        else:
            email = self._civimail_prepare_outgoing(mailing, trace, values, addresses, context)
            if probe:
                email = self._civimail_check_outgoing(
                    email, mailing, trace, values, server, addresses=addresses, context=context)
        if not email or not email["email_to"]:
            return Failure("mail_email_missing")
        _bounce, notifications = self._civimail_alias_domain(
            context, values.get("record_alias_domain_id"))
        IrMailServer = self.env["ir.mail_server"].sudo().with_context(
            send_validated_to=email["email_to_normalized"], domain_bounce_address=verp,
            **({"domain_notifications_email": notifications} if notifications else {}),
        )
        # As the host's mail queue, then its build_email, would write them.
        email_from = self._civimail_header_from(context, email["email_from"]) \
            or notifications or IrMailServer._get_default_from_address()
        if not email_from:
            return Failure("mail_from_missing", IrMailServer.NO_FOUND_FROM)
        headers = Headers([("Message-Id", email["message_id"])])
        if email["references"]:
            headers["References"] = email["references"]
        headers["Subject"] = email["subject"] or ""
        headers["From"] = email_from
        headers["Reply-To"] = email["reply_to"] or email_from
        headers["To"] = ", ".join(email["email_to"])
        if email["email_cc"]:
            headers["Cc"] = ", ".join(email["email_cc"])
        headers["Date"] = message_date()
        for name, value in email["headers"].items():
            headers[name] = value
        try:
            _from, rcpt_to, headers = IrMailServer._prepare_email_message(headers, profile)
        except AssertionError as error:
            return envelope_failure(
                error.args, has_recipient=bool(email["email_to"]),
                no_valid_recipient=IrMailServer.NO_VALID_RECIPIENT,
                no_valid_from=IrMailServer.NO_VALID_FROM,
                missing_from=(IrMailServer.NO_FOUND_FROM, IrMailServer.NO_FOUND_SMTP_FROM))
        if context["mode"] == "test":
            headers["X-CiviMail-Original-To"] = ", ".join(rcpt_to)
            rcpt_to = [context["test_address"]]
        data = assemble(headers.items(), email["body_alternative"], email["body"],
                        context["attachments"])
        # The envelope sender is always the VERP address: bounces name the trace.
        return verp, rcpt_to, data

    @api.model
    def _civimail_prepare_outgoing(self, mailing, trace, values, addresses, context):
        """What the host's mail.mail would prepare for this trace, without creating one.

        As ``mail.mail._prepare_outgoing_list`` (mail, mass_mailing and this
        module's overrides) does for the first recipient of the mail: body
        with tracked links naming the trace and the open-tracking pixel, its
        text alternative, recipient, the mailing's unsubscribe and view links,
        headers. ``_civimail_check_outgoing`` compares it with the host's own.
        """
        body = values.get("body_html") or ""
        body = "" if tools.is_html_empty(body) else \
            self.env["mail.render.mixin"]._replace_local_links(body)
        if body:
            wrapper = body.__class__
            for href, url, *_rest in set(re.findall(tools.mail.URL_REGEX, body)):
                parsed = werkzeug.urls.url_parse(url, scheme="http")
                if parsed.scheme.startswith("http") and parsed.path.startswith("/r/"):
                    body = body.replace(wrapper(href),
                                        wrapper(href.replace(url, f"{url}/m/{trace.id}")))
            mail_id = trace.mail_mail_id_int
            token = self._generate_mail_recipient_token(mail_id)
            # url_join(base, "mail/track/<id>/<token>/blank.gif"), its base joined once
            tracking_url = f"{context['tracking_prefix']}{mail_id}/{token}/blank.gif"
            body = tools.mail.append_content_to_html(
                body, f'<img src="{tracking_url}"/>', plaintext=False)
        try:
            headers = ast.literal_eval(values["headers"]) if values.get("headers") else {}
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            headers = {}
        headers.setdefault("Return-Path", self._civimail_alias_domain(
            context, values.get("record_alias_domain_id"))[0])
        email_to, email_to_normalized, email_cc = [], [], []
        if values.get("email_to"):
            email_to = tools.mail.email_split_and_format_normalize(values["email_to"])
            email_to_normalized = tools.mail.email_normalize_all(values["email_to"])
        if values.get("email_cc"):
            email_cc = tools.mail.email_split_and_format_normalize(values["email_cc"])
            email_to_normalized += tools.mail.email_normalize_all(values["email_cc"])
        elif not email_to:
            partner_ids = [command[1] for command in values.get("recipient_ids") or ()
                           if command[0] == Command.LINK]
            if not partner_ids:
                return None
            partner = self.env["res.partner"].sudo().browse(partner_ids[0])
            email_to_normalized = tools.mail.email_normalize_all(partner.email)
            email_to = [tools.formataddr((partner.name or "", email or "False"))
                        for email in email_to_normalized or [partner.email]]
        body = re.sub(_UNFOLLOW_REGEX, "", body)
        body_alternative = tools.html2plaintext(body)
        if email_to:
            email_for_links = tools.email_normalize(email_to[0], strict=False) or email_to[0]
            links = self._civimail_recipient_links(
                mailing, values["res_id"], email_for_links, context)
            base_url = context["base_url"]
            if not tools.is_html_empty(body):
                if f"{base_url}/unsubscribe_from_list" in body \
                        and not self.env.context.get("mailing_test_mail"):
                    body = body.replace(f"{base_url}/unsubscribe_from_list",
                                        links["confirm_unsubscribe"])
                if f"{base_url}/view" in body:
                    body = body.replace(f"{base_url}/view", links["view"])
            headers.update({
                "List-Unsubscribe": f"<{links['unsubscribe_oneclick']}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Precedence": "list",
                "X-Auto-Response-Suppress": "OOF",
            })
        email = {
            "body": body,
            "body_alternative": body_alternative,
            "email_cc": email_cc,
            "email_from": values.get("email_from"),
            "email_to": email_to,
            "email_to_normalized": email_to_normalized,
            "headers": headers,
            "message_id": values.get("message_id"),
            "references": values.get("references"),
            "reply_to": values.get("reply_to"),
            "subject": values.get("subject"),
        }
        self._civimail_outgoing_headers(mailing, trace, email, addresses)
        return email

    @api.model
    def _civimail_recipient_links(self, mailing, res_id, email_to, context):
        """The recipient's unsubscribe, one-click unsubscribe and view links.

        As the host's ``_get_unsubscribe_url`` and siblings write them, from
        one token (the three compute the same); ``_civimail_check_outgoing`` compares.
        """
        params = werkzeug.urls.url_encode({
            "document_id": res_id,
            "email": email_to,
            "hash_token": mailing._generate_mailing_recipient_token(res_id, email_to),
        })
        # url_join(base, "mailing/<id>/<route>?..."), its base joined once
        return {route: f"{context['links_prefix']}{route}?{params}"
                for route in ("confirm_unsubscribe", "unsubscribe_oneclick", "view")}

    @api.model
    def _civimail_prepare_outgoing_host(self, mailing, trace, values, server, addresses):
        """What the host's ``_prepare_outgoing_list`` prepares for this trace: the same as
        ``_civimail_prepare_outgoing``, slower (an in-memory mail.mail per message)."""
        mail = self.sudo().with_context(
            civimail_trace_id=trace.id, civimail_mail_id=trace.mail_mail_id_int,
        ).new({**values, "mailing_trace_ids": [Command.set(trace.ids)]})
        email_list = mail._prepare_outgoing_list(mail_server=server)
        if not email_list:
            return None
        email = {key: email_list[0][key] for key in OUTGOING_KEYS}
        email["headers"] = dict(email["headers"])
        self._civimail_outgoing_headers(mailing, trace, email, addresses)
        return email

    @api.model
    def _civimail_check_outgoing(self, email, mailing, trace, values, server, *, addresses,
                                 context):
        """``email`` if the host prepares the same for this trace; else the host's, from now on."""
        host = self._civimail_prepare_outgoing_host(mailing, trace, values, server, addresses)
        if host is None and email is None:
            return None
        differing = [key for key in OUTGOING_KEYS
                     if host is None or email is None or host[key] != email[key]]
        if differing:
            context["host_rendering"] = True
            _logger.warning(
                "CiviMail: the host prepares the messages of mailing %s differently (%s): "
                "it prepares them itself from now on, more slowly.",
                mailing.id, ", ".join(differing))
            return host
        return email

    @api.model
    def _civimail_outgoing_headers(self, mailing, trace, email, addresses):
        """The return path, one-click unsubscribe (URL and mailto), the reply address when
        replies are tracked, the opt-out address where the body asks for it, and
        CiviMail's own headers."""
        for part in ("body", "body_alternative"):
            email[part] = fill_opt_out(email[part], addresses[OPT_OUT])
        headers = email["headers"]
        unsubscribe = headers.get("List-Unsubscribe") or ""
        if unsubscribe.startswith("<") and unsubscribe.endswith(">"):
            url = unsubscribe[1:-1]
        else:
            normalized = email["email_to_normalized"]
            url = mailing._get_unsubscribe_oneclick_url(
                normalized[0] if normalized else trace.email, trace.res_id)
        if REPLY in addresses:
            # Replies reach the mailbox Fetch Bounces reads, which forwards them.
            sender = tools.mail.email_split_tuples(email["email_from"] or "")
            email["reply_to"] = tools.formataddr((sender[0][0] if sender else "",
                                                  addresses[REPLY]))
        headers.update({
            "Return-Path": addresses[BOUNCE],
            "List-Unsubscribe": list_unsubscribe(url, addresses[UNSUBSCRIBE]),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-CiviMail-Mailing": str(mailing.id),
            "X-CiviMail-Trace": str(trace.id),
        })
