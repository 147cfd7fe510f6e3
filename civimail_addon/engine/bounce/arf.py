"""Complaints: RFC 5965 feedback reports, Microsoft JMRP and AOL's older forwards.

The most authoritative evidence: a recipient says the mail was unwanted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses
from typing import TYPE_CHECKING

from . import mime
from .dsn import address_of
from .report import BouncedRecipient, Report

if TYPE_CHECKING:
    from .interfaces import Context

_RCPT = re.compile(r"(?im)^(?:original-rcpt-to|removal-recipient)\s*:\s*(.+)$")
_TYPE = re.compile(r"(?im)^feedback-type\s*:\s*([\w-]+)")
#: Header Microsoft's junk mail reporting program adds to the reported copy.
_JMRP = "X-HmXmrOriginalRecipient"
#: Subject of AOL's pre-ARF complaint forwards (a CiviCRM seed pattern).
_AOL_TOS = re.compile(r"(?i)\bclient TOS notification\b")


@dataclass
class Complaint:
    feedback_type: str
    recipients: list[str] = field(default_factory=list)


def is_report(msg: Message) -> bool:
    # The header text, not get_param(): that can raise on a malformed Content-Type.
    if (mime.content_type(msg) == "multipart/report"
            and "feedback-report" in mime.header(msg, "Content-Type").lower()):
        return True
    return any(mime.content_type(p) == "message/feedback-report" for p in mime.walk(msg))


def parse(msg: Message) -> Complaint | None:
    """The complaint a message reports, or None when it is no feedback report."""
    original = mime.attached_message(msg)
    if is_report(msg):
        texts = [mime.text_of(p) for p in mime.walk(msg)
                 if mime.content_type(p) == "message/feedback-report"]
        report = "\n".join(texts)
        kind = _TYPE.search(report)
        rcpts = [address_of(v) for v in _RCPT.findall(report)]
        complaint = Complaint(kind.group(1).lower() if kind else "abuse",
                              _unique([r for r in rcpts if r]))
    elif original is not None and original.get(_JMRP):
        complaint = Complaint("abuse", _unique([address_of(str(original.get(_JMRP)))]))
    elif original is not None and _AOL_TOS.search(mime.header(msg, "Subject")):
        complaint = Complaint("abuse")
    else:
        return None
    if not complaint.recipients and original is not None:
        # The reported copy was addressed to the complaining recipient.
        values = [str(v) for v in original.get_all("To") or []]
        complaint.recipients = _unique(
            [a.lower() for _n, a in getaddresses(values) if "@" in a])
    return complaint


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


class Complaints:
    name = "arf"

    def detect(self, msg: Message, context: Context) -> Report | None:
        complaint = parse(msg)
        if complaint is None:
            return None
        # With no address to name, one entry still records the complaint
        # (the caller can tie it to a mailing through VERP or Message-ID).
        return Report("complaint", f"Feedback report ({complaint.feedback_type}).", [
            BouncedRecipient(r, "complaint", False) for r in complaint.recipients or [""]])
