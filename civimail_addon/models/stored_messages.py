"""What CiviMail's jobs say, stored as facts and worded for the reader.

A job runs as whoever started it (OdooBot for a scheduled action), so a
sentence written then would be in that user's language for ever. Instead a
job log line, a processed message's result and reason, a hold reason and a
connection test store a *fact*: ``{"code": ..., "params": {...}}``, JSON in
a ``fields.Json`` column. ``render()`` words it in the language of whoever
reads it (``env.lang``), from the translatable templates of ``MESSAGES``:
adding a message is one line there (and its French in ``i18n/fr.po``). The
mailbox engine's sentences come from its own tables (``ENGINE_MESSAGES``).

A parameter is shown as is, unless it is itself a fact (rendered in turn),
a list (its items rendered and joined by ", "), or ``{"result": code}``, a
processed message's result (see ``render_result``). A stored plain string
(rows written before facts, a server's or the analyzer's own words) is shown
as it is.
"""

import logging

from odoo.exceptions import UserError
from odoo.tools import LazyTranslate

from ..engine.mailbox.base import STEP_TEXTS, Step
from ..engine.mailbox.errors import ERROR_TEXTS, MailboxError, Phrase

_lt = LazyTranslate(__name__)
_logger = logging.getLogger(__name__)

MESSAGES = {
    # -- job log lines --------------------------------------------------------------
    "job_unexpected_error": _lt(
        "Unexpected error (%(error_type)s): %(error)s. The server log has the details."),
    "job_interrupted": _lt(
        "Interrupted: the process running this job stopped (killed, crashed or restarted) "
        "before the job finished. What it committed is kept; the next run does the rest."),
    "housekeeping_done": _lt(
        "%(count)s job log lines and %(forgotten)s processed messages older than %(days)s "
        "days deleted."),
    "housekeeping_bad_retention": _lt(
        "The job log retention must be a positive number of days (setting “Keep job log "
        "lines”, currently %(days)s)."),
    "fetch_account": _lt("%(account)s: %(processed)s processed, %(ignored)s ignored"),
    "fetch_account_results": _lt(
        "%(account)s: %(processed)s processed, %(ignored)s ignored (%(results)s)"),
    "fetch_account_error": _lt("%(account)s: %(processed)s processed, %(ignored)s ignored. "
                               "%(error)s"),
    "fetch_already_processed": _lt(
        "%(count)s already processed (read or counted before: moved again, not counted)."),
    "fetch_slow_patterns": _lt(
        "Bounce patterns that ran out of time (skipped on those messages): %(patterns)s"),
    "fetch_no_account": _lt("No active account is used for this job."),
    "result_count": _lt("%(result)s %(count)s"),
    "send_disabled": _lt("Delivery is disabled (setting “Delivery mode”): nothing was sent."),
    "send_nothing_due": _lt(
        "Nothing to send: no mailing is due, and the mailings being sent are paused or wait "
        "for their send limit."),
    "send_done": _lt(
        "%(sent)s sent, %(failed)s failed, %(bounced)s bounced, %(skipped)s skipped, "
        "%(retry)s to retry."),
    "send_mailing_stopped": _lt("%(mailing)s: %(error)s"),
    "deliverability_done": _lt(
        "%(count)s checks: %(ok)s OK, %(warning)s warnings, %(error)s errors, "
        "%(unknown)s could not be checked."),
    # -- processed messages: reasons ------------------------------------------------
    "reason_unparseable": _lt("The message could not be parsed (%(error_type)s): %(error)s"),
    "reason_not_processed": _lt("Could not be processed (%(error_type)s): %(error)s"),
    "reason_no_verp": _lt("%(email)s: no VERP address of this database"),
    "reason_no_recipient": _lt("Neither a failed recipient nor a VERP address of this database"),
    "reason_no_trace": _lt("VERP address names trace %(trace)s, which does not exist"),
    "reason_bad_signature": _lt(
        "VERP address of trace %(trace)s has a bad signature (forged or damaged)"),
    "reason_other_company": _lt(
        "VERP address of trace %(trace)s belongs to %(company)s, not to the account's "
        "company"),
    "reason_smtp_refusal": _lt("Refused by the SMTP server at send time"),
    "reason_replayed": _lt("trace %(trace)s has already counted a report of this kind"),
    "request_unsubscribed_lists": _lt(
        "Unsubscribed by email from the mailing lists %(lists)s (mailing “%(mailing)s”)."),
    "request_unsubscribed": _lt("Blocklisted by an unsubscribe email (mailing “%(mailing)s”)."),
    "request_opted_out": _lt("Blocklisted by an opt-out email (mailing “%(mailing)s”)."),
    "request_replayed": _lt("Request already processed for trace %(trace)s."),
    "request_no_sender": _lt("A reply to trace %(trace)s without a sender: nothing to forward."),
    "request_forwarded": _lt("Forwarded to %(address)s."),
    "request_not_forwarded": _lt(
        "Not forwarded: the mailing has no reply-to address and its responsible no email."),
    "reason_report": _lt(
        "A delivery or read report (multipart/report), not an email from a person."),
    "reason_no_sender": _lt("The message has no sender address (From)."),
    "reason_sent_here": _lt(
        "This database sent this message (%(message_id)s): it is already on its record."),
    "reason_loop": _lt("Sent from %(email)s, an address of a CiviMail mail account."),
    "reason_no_contact_address": _lt(
        "No address of the message other than the mail accounts' own."),
    "reason_already_filed": _lt("Already filed on %(names)s."),
    "reason_filed": _lt("Filed on %(names)s."),
    "reason_skipped_company": _lt(
        "%(email)s: only a company has this address, and the account creates no contacts: "
        "skipped."),
    "reason_skipped_no_contact": _lt(
        "%(email)s: no contact has this address, and the account creates no contacts: "
        "skipped."),
    # -- holds (contact banner and chatter) ---------------------------------------
    "hold_reason": _lt("%(count)s bounces of type “%(type)s” (threshold %(threshold)s)"),
    "hold_reason_one": _lt("1 bounce of type “%(type)s” (threshold 1)"),
    "hold_manual": _lt("put on hold by %(user)s"),
    # -- connection tests -------------------------------------------------------------
    # A step that succeeded; the step itself is worded by the engine (ENGINE_MESSAGES).
    "test_step": _lt("✓ %(step)s"),
    "test_ok": _lt("%(count)s messages waiting in %(folder)s."),
    "test_ok_one": _lt("1 message waiting in %(folder)s."),
}

#: The mailbox engine's own sentences (its errors and a connection test's steps),
#: whose templates are translatable where the engine writes them (``_lt``).
ENGINE_MESSAGES = {
    **{f"mailbox_{key}": text for key, text in ERROR_TEXTS.items()},
    **{f"step_{key}": text for key, text in STEP_TEXTS.items()},
}

#: Results of a processed message, by the code stored in its ``label``. A label
#: of bounce type codes ("invalid, dns") is worded by the types' own names.
RESULTS = {
    "not_bounce": _lt("not a bounce"),
    "unidentified": _lt("unidentified"),
    "too_large": _lt("too large"),
    "already_processed": _lt("already processed"),
    "set_aside": _lt("set aside"),
    "unsubscribed": _lt("unsubscribed"),
    "opted_out": _lt("opted out"),
    "replied": _lt("replied"),
    "no_sender": _lt("no sender"),
    "error": _lt("error"),
    "unparseable": _lt("unparseable"),
    "bounce": _lt("bounce"),
    "auto_reply": _lt("auto-reply"),
    "report": _lt("report"),
    "sent_here": _lt("sent by this database"),
    "loop": _lt("loop"),
    "no_contact": _lt("no contact"),
    "already_filed": _lt("already filed"),
    "filed": _lt("filed"),
}

#: The result of a message read again, or of a report or request already counted:
#: moved again and counted apart from the processed ones.
ALREADY_PROCESSED = "already_processed"


def fact(code, **params):
    """A text to store: its code and its parameters (JSON values, facts, lists)."""
    if code not in MESSAGES and code not in ENGINE_MESSAGES:
        raise KeyError(f"unknown CiviMail message {code!r}")
    return {"code": code, "params": params}


def mailbox_fact(value):
    """The mailbox engine's MailboxError, Step or Phrase as a fact; other values as they are."""
    if isinstance(value, MailboxError):
        value = value.phrase
    if isinstance(value, Step):
        code, params = f"step_{value.key}", value.values
    elif isinstance(value, Phrase):
        code, params = f"mailbox_{value.key}", value.params
    else:
        return value
    return fact(code, **{name: mailbox_fact(param) for name, param in params.items()})


class FactError(UserError):
    """A job's explained failure, worded now for the user and kept as a fact for the log."""

    def __init__(self, env, code, **params):
        self.fact = fact(code, **params)
        super().__init__(render(env, self.fact))


def render(env, stored, separator="\n"):
    """``stored`` (a fact, a list of them or a plain string) worded in ``env.lang``."""
    if not stored or isinstance(stored, str):
        return stored or ""
    if isinstance(stored, list):
        return separator.join(filter(None, (render(env, item) for item in stored)))
    if "result" in stored:
        return render_result(env, stored["result"])
    return _render_fact(env, stored)


def _render_fact(env, stored):
    code = stored.get("code")
    template = MESSAGES.get(code) or ENGINE_MESSAGES.get(code)
    params = {
        name: render(env, value, ", ") if isinstance(value, (dict, list)) else value
        for name, value in (stored.get("params") or {}).items()
    }
    if template is None:  # a code of a later or removed version: say what is known
        return " ".join([str(code), *map(str, params.values())])
    try:
        return env._(template) % params
    except (KeyError, TypeError, ValueError):
        _logger.warning("CiviMail message %s does not fit %s", code, params)
        english = template if isinstance(template, str) else template._translate("en_US")
        return english % params


def render_result(env, code, types=None):
    """A processed message's result in words: its label, or its bounce types' names.

    ``types``: the bounce types by code, when the caller words many results.
    """
    if not code:
        return ""
    if code in RESULTS:
        return env._(RESULTS[code])
    codes = [part.strip() for part in code.split(",")]
    types = env["civimail.bounce.type"]._by_code() if types is None else types
    if all(part in types for part in codes):
        return ", ".join(types[part].with_context(lang=env.lang).name for part in codes)
    return code  # a label stored as words before results had codes
