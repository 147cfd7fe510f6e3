import base64
import re
import time
from functools import reduce

from markupsafe import Markup, escape
from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools.mail import html_normalize

from ..engine.send_policy import Batch, Failure
from ..engine.smtp_out import SENT, Delivery, Outgoing

# The host's pattern of a ``t-out`` placeholder, written inline in its
# ``mail.render.mixin._render_template_qweb_regex``: a copy, compared with it by
# TestSendHostReuse.test_regex_rendering_is_the_hosts.
_T_OUT = re.compile(
    r"""<(\w+)[\s|\n]+t-out=[\s|\n]*(\'|\")((\w|\.)+)(\2)[\s|\n]*((\/>)|(>[\s|\n]*([^<>]*?))[\s|\n]*<\/\1>)""",
    flags=re.DOTALL,
)


class ComposerBuilt(Exception):
    """Raised through the host's ``mailing.mailing._action_send_mail`` once its composer exists."""


class MailComposeMessage(models.TransientModel):
    """The host's mass-mail composer, as the CiviMail job uses it to render a batch.

    With ``civimail_sending`` in the context, the rendering stays the host's
    but does once per batch what the host repeats for each recipient, and
    checks that the result is the host's (see the methods below).
    """

    _inherit = "mail.compose.message"

    def _action_send_mail(self, auto_commit=False):
        # CiviMail builds its composer with the host's mailing._action_send_mail
        # (mailing.mailing._civimail_composer): it is handed back here, and the
        # host's sending stops before it sends anything or marks the mailing sent.
        built = self.env.context.get("civimail_composer_built")
        if built is None:
            return super()._action_send_mail(auto_commit=auto_commit)
        built.append(self)
        raise ComposerBuilt

    def _get_done_emails(self, mail_values_dict):
        # The CiviMail job renders recipients whose traces it created itself,
        # duplicates already skipped: the host's "seen list" would name them all.
        if self.env.context.get("civimail_sending"):
            return []
        return super()._get_done_emails(mail_values_dict)

    def _prepare_mail_values(self, res_ids):
        if not self.env.context.get("civimail_sending"):
            return super()._prepare_mail_values(res_ids)
        # Each body's links are shortened by one search_or_create of its own:
        # the same trackers, found once per batch (see LinkTracker below).
        return super(
            MailComposeMessage, self.with_context(civimail_link_cache={})
        )._prepare_mail_values(res_ids)

    def _prepare_mail_values_mailing_traces(self, mail_values_all):
        # The job's traces exist already: the host's values for new ones
        # (recipients normalized once more) would be dropped.
        if self.env.context.get("civimail_sending"):
            return {}
        return super()._prepare_mail_values_mailing_traces(mail_values_all)

    def _civimail_prepare_batch(self, mailing, traces, route, context, profile=None):
        """Render the claimed ``traces`` of ``mailing`` and build their messages.

        As the host's ``_action_send_mail_mass_mail`` renders a batch (its
        ``_prepare_mail_values``) and creates its mails, then its mail queue
        builds each message: here each message is built at once
        (``mail.mail._civimail_build_message``), no mail created. Returns the
        ``send_policy.Batch``: the outcomes known already (skipped, failed,
        spooled) and the messages to send. ``context`` is
        ``mail.mail._civimail_mailing_context``'s.
        """
        self.ensure_one()
        server, smtp_from, account, _codec = route
        MailMail = mailing.env["mail.mail"]
        values_all = self._prepare_mail_values(traces.mapped("res_id"))
        key = (server.id if server else None, smtp_from)
        spool = context["mode"] == "spool"
        outcomes, outgoing, spooled, spool_rows, kept = {}, [], [], [], {}
        for index, trace in enumerate(traces):
            values = values_all[trace.res_id]
            if values.get("state") == "cancel":  # blocklist, opt-out, ... as the host decides
                outcomes[trace.id] = ("cancel", values.get("failure_type"), None)
                continue
            try:
                built = MailMail._civimail_build_message(
                    mailing, trace, values, route, context, profile=profile, probe=index == 0)
            except UserError as error:
                outcomes[trace.id] = ("error", "unknown", str(error.args[0]))
                continue
            if isinstance(built, Failure):
                outcomes[trace.id] = ("error", built.failure_type, built.reason)
                continue
            if not values.get("auto_delete", True) or values.get("is_notification"):
                kept[trace.id] = values
            mail_from, rcpt_to, data = built
            message = Outgoing(trace.id, key, mail_from, rcpt_to, data, values["message_id"])
            if spool:
                spooled.append(message)
                spool_rows.append({
                    "mailing_id": mailing.id, "trace_id": trace.id,
                    "company_id": account.company_id.id, "mail_from": mail_from,
                    "rcpt_to": ", ".join(rcpt_to), "subject": values.get("subject"),
                    "size": len(data), "raw": base64.b64encode(data)})
                outcomes[trace.id] = (Delivery(SENT), None, None)
                continue
            outgoing.append(message)
            # Let the outbox's thread take the interpreter now if it waits for
            # it (a server reply came): sooner than Python's 5 ms switch interval.
            time.sleep(0)
        if spool_rows:
            mailing.env["civimail.spool"].create(spool_rows)
        return Batch(mailing, outcomes, outgoing, server, account, spooled, kept)

    @api.model
    def _render_template_qweb_regex(self, template_src, model, res_ids):
        """The host's regex rendering, its template normalized once instead of per record.

        The host normalizes the template again for each record, each time the
        result of the previous time: once that is stable, every record is
        rendered from the same text. The first record is also rendered by the
        host itself and must come out the same, else the host renders all.
        """
        host = super()._render_template_qweb_regex
        if not self.env.context.get("civimail_sending") or len(res_ids) < 2 or not template_src:
            return host(template_src, model, res_ids)
        normalized = html_normalize(f"<div>{template_src}</div>")
        if html_normalize(f"<div>{normalized}</div>") != normalized:
            return host(template_src, model, res_ids)
        rendered = self._civimail_render_regex(normalized, model, res_ids)
        first = res_ids[0]
        if host(template_src, model, [first]).get(first) != rendered.get(first):
            return host(template_src, model, res_ids)
        return rendered

    @api.model
    def _civimail_render_regex(self, template_src, model, res_ids):
        """The host's regex rendering loop on a template it need not normalize again.

        A copy of ``mail.render.mixin._render_template_qweb_regex`` (whose
        pattern is not importable), listed in ``mailing_send_run``'s table.
        """
        allowed = {}

        def check(expression):
            if expression not in allowed:
                allowed[expression] = self.env["ir.qweb"]._is_expression_allowed(expression, model)
            if not allowed[expression]:
                raise SyntaxError(f"Invalid expression for the regex mode {expression!r}")

        result = {}
        for record in self.env[model].browse(res_ids):
            def replace(match, record=record):
                tag, expression, default = match.group(1), match.group(3), match.group(9)
                check(expression)
                try:
                    value = reduce(lambda rec, field: rec[field], expression.split(".")[1:],
                                   record) or default
                except KeyError:
                    value = default
                value = escape(value or "")
                return value if tag.lower() == "t" else f"<{tag}>{value}</{tag}>"

            # As the host: the template is sanitized, the values escaped.
            result[record.id] = Markup(_T_OUT.sub(replace, template_src))  # noqa: S704
        return result


class LinkTracker(models.Model):
    """Link trackers, found once per batch when the CiviMail job renders one.

    The composer shortens each body's links on its own; with a
    ``civimail_link_cache`` in the context (one batch), a tracker found or
    created for the same values is reused instead of searched again.
    """

    _inherit = "link.tracker"

    @api.model
    def search_or_create(self, vals_list):
        cache = self.env.context.get("civimail_link_cache")
        if cache is None or not isinstance(vals_list, list):
            return super().search_or_create(vals_list)
        try:
            keys = [tuple(sorted(vals.items())) for vals in vals_list]
            missing = {key: vals for key, vals in zip(keys, vals_list, strict=True)
                       if key not in cache}
        except TypeError:  # values that are not plain ids and strings
            return super().search_or_create(vals_list)
        if missing:
            found = super().search_or_create([dict(vals) for vals in missing.values()])
            cache.update(zip(missing, found.ids, strict=True))
        return self.browse([cache[key] for key in keys])
