"""Providers' signed event webhooks: verification and parsing (pure Python).

One module per provider (``ses``, ``mailgun``, ``sendgrid``, ``postmark``,
``brevo``), each with:

* ``verify(body, headers, secret, now, max_age)``: raises :class:`Refused`
  unless the request is the provider's (signature, token or password, compared
  in constant time) and fresh; returns the request's *replay key*, unique per
  delivery of one notification, so a replayed request is recognised.
* ``parse(body)``: the :class:`ProviderEvent` list the (verified) body holds,
  each bounce analysed into the analyzer's :class:`BouncedRecipient` (the
  provider's classification mapped to our type codes by the module's table,
  an SMTP diagnostic, when given, classified by :func:`..bounce.classify.classify`).

Nothing here reads the network except :func:`ses.fetch_certificate`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from ..bounce import BouncedRecipient, one_line
from ..bounce.classify import classify, find_status
from ..bounce.patterns import PatternSet, default_patterns

PROVIDERS = ("ses", "mailgun", "sendgrid", "postmark", "brevo")
MAX_BODY = 1024 * 1024  # bytes; providers' batches stay far below (SendGrid: about 1,000 events)

# Event kinds, and the kinds CiviMail acts on.
BOUNCE, COMPLAINT, UNSUBSCRIBE, DELIVERED, OTHER = (
    "bounce", "complaint", "unsubscribe", "delivered", "other")
KINDS = (BOUNCE, COMPLAINT, UNSUBSCRIBE, DELIVERED, OTHER)

_TRACE = re.compile(r"^\s*(\d{1,18})\s*$")


class Refused(Exception):
    """The request is not accepted: ``code`` is "signature", "stale" or "malformed"."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass
class ProviderEvent:
    """One event of a provider about one recipient of one message."""

    kind: str  # one of KINDS
    email: str
    provider_event: str  # the provider's own name of the event, e.g. "failed", "HardBounce"
    message_id: str = ""  # the provider's message id (as its 250 reply to DATA gave it)
    header_message_id: str = ""  # our Message-ID header, when the provider echoes it
    trace_id: int = 0  # our X-CiviMail-Trace header or custom variable, when echoed
    bounce: BouncedRecipient | None = None
    timestamp: float = 0.0


def equal(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison of two secrets (either may be empty: then unequal)."""
    given = given.encode() if isinstance(given, str) else given or b""
    expected = expected.encode() if isinstance(expected, str) else expected or b""
    return bool(given) and bool(expected) and hmac.compare_digest(given, expected)


def check_fresh(timestamp: float, now: float, max_age: float) -> None:
    """Refuse a signed time older than ``max_age`` seconds (or too far ahead: clock skew)."""
    if not timestamp or abs(now - timestamp) > max_age:
        raise Refused("stale", f"signed {int(now - timestamp)} s ago, accepted up to "
                               f"{int(max_age)} s")


def load_json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise Refused("malformed", f"not JSON ({error})") from error


def body_key(body: bytes) -> str:
    """Replay key of a request whose body is the same at each retry."""
    return hashlib.sha256(body).hexdigest()


def trace_id(value) -> int:
    """Our trace id from an echoed header or custom variable, else 0."""
    found = _TRACE.match(str(value or ""))
    return int(found.group(1)) if found else 0


def bare_message_id(value) -> str:
    return str(value or "").strip().strip("<>").strip()


def analysed(email: str, mapped: str, hard: bool, *, status: str = "", diagnostic: str = "",
             patterns: PatternSet | None = None) -> BouncedRecipient:
    """A bounce of ``email``: the type our classifier reads in the diagnostic, else the
    provider's classification ``mapped``; hard or soft as the provider says."""
    diagnostic = one_line(diagnostic)
    kind, _hard, status = classify(status or find_status(diagnostic), diagnostic, "",
                                   patterns or default_patterns(), temporary=not hard)
    if not diagnostic or (kind in ("unknown", "host") and mapped not in ("unknown", "host")):
        kind = mapped
    return BouncedRecipient(email.strip().lower(), kind, hard, status, diagnostic)


def header(headers: dict, name: str) -> str:
    """A request header, whatever its case."""
    name = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return ""
