"""What a fetched message is known by: its header block, read tolerantly, and its key.

A mail account remembers each message it processed under :func:`message_key`,
so a run that stopped before moving a message only moves it next time. Broken
headers are as good as none: nothing here raises.
"""

from __future__ import annotations

import email.utils
import hashlib
from datetime import datetime, timezone
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from .base import MailboxMessage

#: Characters of a header value kept (RFC 5322's line limit).
MAX_VALUE = 998
#: Characters of a Message-ID kept as a key (the key column is indexed).
MAX_KEY_ID = 900


def parse_headers(raw: bytes | None) -> Message | None:
    """The parsed header block of ``raw`` (None when there is none to parse)."""
    if not raw:
        return None
    try:
        return BytesHeaderParser(policy=compat32).parsebytes(raw)
    except Exception:  # noqa: BLE001 - broken headers are as good as none
        return None


def header(headers: Message | None, name: str) -> str:
    """One header on one line ('' when absent or broken)."""
    try:
        value = headers.get(name) if headers is not None else ""
    except Exception:  # noqa: BLE001 - one broken header is as good as none
        value = ""
    return " ".join(str(value or "").split())[:MAX_VALUE]


def header_date(headers: Message | None) -> datetime | None:
    """The Date header as a naive UTC datetime, or None when missing or malformed."""
    try:
        date = email.utils.parsedate_to_datetime(header(headers, "Date"))
    except (TypeError, ValueError, IndexError):
        return None
    if date.tzinfo is not None:
        date = date.astimezone(timezone.utc).replace(tzinfo=None)
    return date


def message_key(message: MailboxMessage, headers: Message | None) -> str:
    """What identifies a message across runs: its Message-ID, else a digest."""
    if message.raw is None:
        return f"oversize:{message.uid}:{message.size}"
    message_id = header(headers, "Message-ID")
    if message_id:
        return message_id[:MAX_KEY_ID]
    return "sha256:" + hashlib.sha256(message.raw).hexdigest()
