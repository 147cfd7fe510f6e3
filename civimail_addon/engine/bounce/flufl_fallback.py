"""flufl.bounce's MTA heuristics, when no format of ours names a failed recipient.

Only the addresses the notice itself names count: flufl.bounce reads the
returned message too, whose To or Cc may be a list or another person.
"""

from __future__ import annotations

import logging
from email.message import Message
from typing import TYPE_CHECKING

from . import budget, mime
from .report import Report
from .text import Found, is_address, text_report

if TYPE_CHECKING:
    from .interfaces import Context

#: Bytes and lines of a message flufl.bounce reads (the notice, not a huge returned message).
FLUFL_MAX_RAW = 64 * 1024
FLUFL_MAX_LINES = 2000

# flufl.bounce logs a traceback for each of its detectors that chokes on a
# message, through its own logger; the analyzer already treats that as "found
# nothing". Kept out of the host's log and of stderr (which system cron mails
# to the administrator after every successful run).
_FLUFL_LOG = logging.getLogger("flufl.bounce")
_FLUFL_LOG.addHandler(logging.NullHandler())
_FLUFL_LOG.propagate = False


class FluflBounce:
    name = "flufl.bounce"

    def detect(self, msg: Message, context: Context) -> Report | None:
        budget.check()
        named = context.notice.lower()
        emails = [e for e in failures(msg, context.raw) if e not in context.exclude and e in named]
        if not emails:
            return None
        return text_report(context, [Found(e, "") for e in emails], "flufl.bounce")


def failures(msg: Message, raw: bytes) -> list[str]:
    """The addresses flufl.bounce reports failed (permanently, then temporarily)."""
    try:
        from flufl.bounce import all_failures  # noqa: PLC0415 - optional fallback
    except ImportError:
        return []
    head = raw[:FLUFL_MAX_RAW]
    lines = head.split(b"\n", FLUFL_MAX_LINES)
    if len(head) < len(raw) or len(lines) > FLUFL_MAX_LINES:
        # Its detectors read every line with dozens of patterns: give them the
        # head of the message (the notice comes first).
        msg = mime.parse(b"\n".join(lines[:FLUFL_MAX_LINES])) or msg
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - its heuristics choke on odd input
        return []
    found = []
    for item in (*permanent, *temporary):
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        address = text.strip("<> ").lower()
        if is_address(address):  # its patterns take "instead.a@b" or "a@b>"
            found.append(address)
    return list(dict.fromkeys(found))
