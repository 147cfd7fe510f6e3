"""The returned message's headers, when the notice names no failed recipient.

Its only To/Cc address, or the ones the notice names by display name
(Exchange 2003: "John Doe on 1/1/2010"); never the address of the list it
was posted to (its List-Post).
"""

from __future__ import annotations

from email.message import Message
from email.utils import getaddresses
from typing import TYPE_CHECKING

from . import mime
from .report import MAX_BOUNCES, Report
from .text import Found, is_address, text_report

if TYPE_CHECKING:
    from .interfaces import Context


def _addressees(original: Message) -> list[tuple[str, str]]:
    """``(display name, address)`` of the To and Cc of a returned message."""
    values = [str(v)[:mime.MAX_HEADER]
              for name in ("To", "Cc") for v in original.get_all(name) or []]
    try:
        pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - deeply nested comments and the like
        return []
    return [(n.strip(), a.lower()) for n, a in pairs if is_address(a)][:MAX_BOUNCES]


def original_recipient(msg: Message, notice: str) -> list[str]:
    """The returned message's recipient, when its headers leave no doubt."""
    original = mime.attached_message(msg)
    if original is None:
        return []
    pairs = _addressees(original)
    list_address = mime.address(mime.header(original, "List-Post").replace("mailto:", ""))
    pairs = [(n, a) for n, a in pairs if a != list_address]
    if len({a for _n, a in pairs}) == 1:
        return [pairs[0][1]]
    named = [a for n, a in pairs if len(n) >= 3 and n.lower() in notice.lower()]
    return list(dict.fromkeys(named))


class ReturnedHeaders:
    name = "returned-headers"

    def detect(self, msg: Message, context: Context) -> Report | None:
        emails = [e for e in original_recipient(msg, context.notice) if e not in context.exclude]
        if not emails:
            return None
        return text_report(context, [Found(e, "") for e in emails],
                           "the returned message's headers")
