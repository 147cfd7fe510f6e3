"""Reading an email to file it on contacts (Email-to-Activity), as the host's gateway does.

:data:`POLICY` is the host's mail gateway policy (``message_process``: the
SMTP policy), with a header registry that parses each header value once.
"""

from __future__ import annotations

import email.policy
import functools
import hashlib
from datetime import datetime, timezone
from email.headerregistry import HeaderRegistry
from email.message import Message


class ParseOnceHeaderRegistry(HeaderRegistry):
    """The header registry of the SMTP policy, parsing each header value once.

    The policy parses a header again each time it is read, and reading a
    message's body (the parser, then the host's extraction) reads each MIME
    part's Content-Type a dozen times: most of the time spent parsing an
    email. Parsed headers are immutable strings, so one serves every read.
    """

    def __call__(self, name, value):
        if isinstance(value, str):
            return self._parse(name, value)
        return super().__call__(name, value)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one registry, kept for the process
    def _parse(self, name, value):
        return super().__call__(name, value)


# The policy of the host's mail gateway (message_process), with that registry.
POLICY = email.policy.SMTP.clone(header_factory=ParseOnceHeaderRegistry())


def parse(raw: bytes) -> Message:
    """``raw`` read with :data:`POLICY`."""
    return email.message_from_bytes(raw, policy=POLICY)


def message_id(message: Message, raw: bytes) -> str:
    """The Message-ID, else one derived from the content, stable across copies.

    Copies of one email differ by their trace headers (Received,
    Delivered-To...), so the digest covers what the author wrote only.
    """
    found = " ".join(str(message.get("Message-Id") or "").split())
    if found:
        return found[:998]
    parts = [str(message.get(name) or "") for name in ("From", "To", "Cc", "Date", "Subject")]
    body = raw.partition(b"\r\n\r\n")[2] or raw.partition(b"\n\n")[2]
    digest = hashlib.sha256("\n".join(parts).encode() + b"\n" + body).hexdigest()
    return f"<civimail-{digest}@no-message-id>"


def message_date(message: Message) -> datetime | None:
    """The Date header as a naive UTC datetime; None when missing or invalid."""
    # The SMTP policy parses the header: an invalid date has no datetime.
    date = getattr(message["Date"], "datetime", None)
    if date is not None and date.tzinfo:  # else no zone ("-0000"): taken as UTC
        try:
            date = date.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # past year 9999 in UTC
            date = None
    return date
