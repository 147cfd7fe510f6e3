"""RFC 3464 delivery status notifications.

Reads ``message/delivery-status`` parts and, for MTAs that send the same
fields as plain text, any text part that carries per-recipient DSN fields.
:class:`DeliveryStatus`, the registry's detector, reports the failed and
delayed recipients (a DSN of successful delivery is no bounce).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

from . import budget, mime
from .classify import classify
from .report import MAX_BOUNCES, BouncedRecipient, Report, one_line
from .returned import original_recipient

if TYPE_CHECKING:
    from .interfaces import Context

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]{1,40})\s*:\s*(.*)$")
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")
# Bounded repetitions (RFC 5321 4.5.3.1: local part <= 64, domain <= 255 octets)
# keep the search linear on a long run of address characters with no "@".
_ADDRESS = re.compile(
    r"(?<![^\s<>\"'();:,\[\]])[^\s<>\"'();:,\[\]@]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}")
#: Characters of one DSN field value that are read (a Diagnostic-Code is a few lines).
MAX_FIELD = 2000
#: Per-recipient blocks read from one message: as many as a report names.
MAX_RECIPIENTS = MAX_BOUNCES
# The first line of a multi-line reply ("554-...") and a success reply ("221 Bye").
_MULTILINE = re.compile(r"\s*([45]\d\d)-")
_SUCCESS_REPLY = re.compile(r"\s*2\d\d\b")
_REFUSAL_CODE = re.compile(r"\b[45]\d\d\b")
# RFC 3464 per-message and per-recipient fields (with folded continuations).
_DSN_FIELD_LINE = re.compile(
    r"(?im)^(?:reporting-mta|dsn-gateway|received-from-mta|arrival-date|"
    r"original-envelope-id|final-recipient|original-recipient|x-actual-recipient|action|"
    r"status|remote-mta|diagnostic-code|last-attempt-date|will-retry-until|final-log-id)"
    r"[ \t]*:.*(?:\n[ \t]+\S.*)*\n?")


@dataclass
class DsnRecipient:
    email: str
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # RFC 3463 code such as "5.1.1", or ""
    diagnostic: str
    remote_mta: str = ""


def parse_blocks(text: str) -> list[dict[str, str]]:
    """Split DSN text into field blocks (blank-line separated, folded lines joined)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
            continue
        if line[:1] in " \t" and last:
            if len(current[last]) < MAX_FIELD:
                current[last] = (current[last] + " " + line.strip())[:MAX_FIELD]
            continue
        found = _FIELD.match(line)
        if found:
            last = found.group(1).lower()
            value = found.group(2).strip()[:MAX_FIELD]
            current.setdefault(last, value)
            if current[last] != value:
                last = ""  # keep the first value of a repeated field
        else:
            last = ""
    if current:
        blocks.append(current)
    return blocks


def address_of(value: str) -> str:
    """``rfc822; <User@Example.org>`` -> ``user@example.org`` ('' if none)."""
    value = value.split(";", 1)[-1]
    found = _ADDRESS.search(value)
    return found.group(0).strip(".").lower() if found else ""


def _strip_type(value: str) -> str:
    """``smtp; 550 ...`` -> ``550 ...``."""
    head, sep, rest = value.partition(";")
    if sep and len(head) < 20 and " " not in head.strip():
        return rest.strip()
    return value.strip()


#: sendmail's sysexits.h codes a local mailer returns (``Diagnostic-Code: X-Unix; 67``).
_SYSEXITS = {"67": "user unknown", "68": "host unknown"}


def _diagnostic(value: str) -> str:
    """The Diagnostic-Code text; a bare X-Unix exit status becomes words."""
    text = _strip_type(value)
    if value.split(";", 1)[0].strip().lower() == "x-unix" and text.isdigit():
        return f"{_SYSEXITS.get(text, 'mailer error')} (exit status {text})"
    return text


def prose(text: str) -> str:
    """``text`` without DSN fields: what it says beside them, about no one recipient.

    A notice quoting the fields of several recipients must not lend one
    recipient's reason ("host name lookup failure") to another.
    """
    return _DSN_FIELD_LINE.sub("", text or "")


def _status_comment(value: str) -> str:
    """``5.0.0 (host name lookup failure)`` -> ``host name lookup failure``."""
    value = value or ""
    start, end = value.find("("), value.rfind(")")
    return value[start + 1:end].strip() if 0 <= start < end else ""


def _status(value: str) -> str:
    found = re.search(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b", value or "")
    return ".".join(found.groups()) if found else ""


#: RFC 3464 2.3.3 actions that report no failure.
SUCCESS_ACTIONS = ("delivered", "relayed", "expanded")
_ACTIONS = ("failed", "delayed", *SUCCESS_ACTIONS)


def _action(value: str, status: str) -> str:
    """The RFC 3464 action, or the one the status class implies when it is absent or unknown.

    A 2.x.x status is a success whatever the action says (RFC 3463: class 2
    is success); 4.x.x without an action is a delay.
    """
    words = re.findall(r"[a-z]+", value.lower()[:40])
    action = next((word for word in words if word in _ACTIONS), "")
    if status.startswith("2"):
        return action if action in SUCCESS_ACTIONS else "delivered"
    if action:
        return action
    return "delayed" if status.startswith("4") else "failed"


def status_texts(msg: Message, attached: bool = True) -> list[str]:
    """Texts holding DSN fields: real DSN parts, else DSN-like text parts.

    ``attached=False`` leaves out reports inside an attached message: what a
    person forwards (a bounce, a digest) is someone else's report.
    """
    inside = set() if attached else mime.attached_parts(msg)
    own = [p for p in mime.walk(msg) if id(p) not in inside]
    texts = [mime.text_of(p) for p in own if mime.content_type(p) == "message/delivery-status"]
    if texts:
        return texts
    for part in own:
        ctype = mime.content_type(part)
        # A multipart whose boundary never occurs is one undivided text.
        if part.is_multipart() or not ctype.startswith(("text/", "multipart/")):
            continue
        text = mime.text_of(part)
        if re.search(r"(?im)^(final|original)-recipient\s*:", text) and re.search(
                r"(?im)^(action|status)\s*:", text):
            texts.append(text)
    return texts


def recipients(msg: Message, attached: bool = True) -> list[DsnRecipient]:
    """Every per-recipient block of every DSN found in ``msg`` (see :func:`status_texts`)."""
    found: list[DsnRecipient] = []
    seen: set[tuple[str, str]] = set()
    for text in status_texts(msg, attached):
        for block in parse_blocks(text):
            email = ""
            for field in _RECIPIENT_FIELDS:
                email = address_of(block.get(field, ""))
                if email:
                    break
            if not email and not any(f in block for f in _RECIPIENT_FIELDS):
                continue
            status = _status(block.get("status", ""))
            action_name = _action(block.get("action", ""), status)
            key = (email, action_name)
            if key in seen:
                continue
            if len(found) >= MAX_RECIPIENTS:
                return found
            seen.add(key)
            found.append(DsnRecipient(
                email=email,
                action=action_name,
                status=status,
                # Without a Diagnostic-Code, the Status comment is the only reason given.
                diagnostic=(_diagnostic(block.get("diagnostic-code", ""))
                            or _status_comment(block.get("status", ""))),
                remote_mta=_strip_type(block.get("remote-mta", "")),
            ))
    return found


class DeliveryStatus:
    name = "dsn"

    def detect(self, msg: Message, context: Context) -> Report | None:
        reports = recipients(msg, attached=context.daemon or context.null_sender)
        budget.check()
        failed = [r for r in reports if r.action not in SUCCESS_ACTIONS]
        if reports and not failed:
            return Report("not_bounce", "Delivery status notification of successful delivery.")
        return _failed_report(msg, context, failed) if failed else None


def _failed_report(msg: Message, context: Context, failed: list[DsnRecipient]) -> Report:
    notice = context.notice
    found = {f.email: f.diagnostic for f in context.first_found(set())}
    original = original_recipient(msg, notice)
    about_all = prose(notice)
    bounces = []
    for rcpt in failed:
        email = rcpt.email or (original[0] if len(original) == 1 else "")
        text = _whole_reply(rcpt.diagnostic, notice) or found.get(email, "")
        delayed = rcpt.action == "delayed"
        kind, hard, status = classify(rcpt.status, text, about_all, context.patterns,
                                      temporary=delayed, recipient=email)
        if delayed or status.startswith("4"):
            hard = hard and not delayed and kind == "invalid"
        bounces.append(BouncedRecipient(email, kind, hard, status, one_line(text or notice)))
    action = "delayed" if all(r.action == "delayed" for r in failed) else "failed"
    return Report("bounce", f"Delivery status notification ({action}).", bounces)


def _whole_reply(diagnostic: str, notice: str) -> str:
    """The Diagnostic-Code's reply, completed from the notice's transcript.

    Sendmail keeps only the first line of a multi-line reply ("554-gmx.net
    ... Service not available"), whose last lines say why ("554-IP address is
    block listed"); the transcript in the notice has them all. A success reply
    ("221 Bye", the answer to QUIT after a 421 greeting) explains nothing.
    """
    diagnostic = diagnostic or ""
    code = _MULTILINE.match(diagnostic)
    if code:
        # The transcript's lines of this reply: from its first line on, while
        # they carry its code.
        first = " ".join(diagnostic.split())
        lines = [" ".join(ln.split()).removeprefix("<<<").strip() for ln in notice.splitlines()]
        if first in lines:
            start = lines.index(first)
            reply = [lines[start]]
            for line in lines[start + 1:start + 20]:
                if not line.startswith(code.group(1)):
                    break
                reply.append(line)
                if line[3:4] == " ":  # "554 ..." ends a multi-line reply
                    break
            return " ".join(reply)
        return diagnostic
    if _SUCCESS_REPLY.match(diagnostic) and not _REFUSAL_CODE.search(diagnostic):
        return ""
    return diagnostic
