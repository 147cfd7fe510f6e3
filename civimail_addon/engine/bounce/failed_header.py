"""The X-Failed-Recipients header (Exim, Gmail): it names the failed recipients outright.

Even the sender of a message to oneself. The text formats still lend each
named recipient the reason the notice gives about it.
"""

from __future__ import annotations

from email.message import Message
from typing import TYPE_CHECKING

from . import mime
from .report import MAX_BOUNCES, Report
from .text import Found, addresses, text_report

if TYPE_CHECKING:
    from .interfaces import Context


def failed_recipients(msg: Message) -> list[str]:
    """Addresses of X-Failed-Recipients, at most ``MAX_BOUNCES``."""
    values = " ".join(str(v)[:mime.MAX_HEADER] for v in msg.get_all("X-Failed-Recipients") or [])
    found = [a.lower() for a in addresses(values)]
    return list(dict.fromkeys(found))[:MAX_BOUNCES]


class FailedRecipientsHeader:
    name = "x-failed-recipients"

    def detect(self, msg: Message, context: Context) -> Report | None:
        if not context.failed_header:
            return None
        reasons = {f.email: f.diagnostic for f in context.first_found(context.exclude)}
        found = [Found(email, reasons.get(email, "")) for email in context.failed_header]
        return text_report(context, found, "the X-Failed-Recipients header")
