"""Mailgun webhooks (JSON, "event-data" and its "signature").

Verification: ``signature.signature`` is the hex HMAC-SHA256, keyed with the
domain's *HTTP webhook signing key*, of ``timestamp`` followed by ``token``;
the timestamp must be within ``max_age`` (Mailgun signs each attempt anew)
and the token is the replay key.

Mapping of ``event`` / ``severity`` / ``reason`` (the ``delivery-status``
message, when given, is classified first; hard is ``severity == permanent``):

================================  ===========  =========
event / reason                    kind         type
================================  ===========  =========
failed / bounce                   bounce       invalid
failed / suppress-bounce          bounce       invalid
failed / espblock                 bounce       blocked
failed / old (temporary)          bounce       host
failed / generic, other           bounce       unknown
failed / suppress-complaint       other        (already a complaint)
failed / suppress-unsubscribe     other        (already unsubscribed)
complained                        complaint    complaint
unsubscribed                      unsubscribe  —
delivered                         delivered    —
accepted, opened, clicked, stored  other       —
================================  ===========  =========

The trace is found by the ``civimail-trace`` user variable (sent in
``X-Mailgun-Variables``) or the ``message.headers.message-id`` Mailgun keeps
from our Message-ID.
"""

from __future__ import annotations

import hashlib
import hmac

from . import (
    BOUNCE,
    COMPLAINT,
    DELIVERED,
    OTHER,
    UNSUBSCRIBE,
    ProviderEvent,
    Refused,
    analysed,
    bare_message_id,
    check_fresh,
    equal,
    load_json,
    trace_id,
)

DEFAULT_MAX_AGE = 15 * 60
REASON_TYPES = {"bounce": "invalid", "suppress-bounce": "invalid", "espblock": "blocked",
                "old": "host"}
ALREADY_HANDLED = ("suppress-complaint", "suppress-unsubscribe")
KINDS = {"complained": COMPLAINT, "unsubscribed": UNSUBSCRIBE, "delivered": DELIVERED}


def sign(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def verify(body: bytes, signing_key: str, now: float, max_age: float = DEFAULT_MAX_AGE) -> str:
    data = load_json(body)
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        raise Refused("signature", "no signature")
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    if not token or not equal(str(signature.get("signature", "")),
                              sign(signing_key, timestamp, token)):
        raise Refused("signature", "bad Mailgun signature")
    try:
        check_fresh(float(timestamp), now, max_age)
    except ValueError as error:
        raise Refused("stale", "no timestamp") from error
    return token


def parse(body: bytes, patterns=None) -> list[ProviderEvent]:
    data = load_json(body).get("event-data")
    if not isinstance(data, dict):
        raise Refused("malformed", "no event-data")
    event = str(data.get("event", ""))
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    variables = data.get("user-variables")
    variables = variables if isinstance(variables, dict) else {}
    email = str(data.get("recipient", "")).strip().lower()
    common = {
        "provider_event": event,
        "message_id": bare_message_id(headers.get("message-id")),
        "header_message_id": bare_message_id(headers.get("message-id")),
        "trace_id": trace_id(variables.get("civimail-trace")),
        "timestamp": float(data.get("timestamp") or 0),
    }
    if event == "failed":
        reason = str(data.get("reason", ""))
        if reason in ALREADY_HANDLED:
            return [ProviderEvent(OTHER, email, **common)]
        status = data.get("delivery-status")
        status = status if isinstance(status, dict) else {}
        hard = data.get("severity") == "permanent"
        message = str(status.get("message") or status.get("description") or "")
        code = str(status.get("code") or "")
        # The server's reply as it gave it: its code, unless the message quotes it.
        diagnostic = message if not code or code in message else f"{code} {message}"
        bounce = analysed(email, REASON_TYPES.get(reason, "unknown"), hard,
                          status=str(status.get("enhanced-code") or ""), diagnostic=diagnostic,
                          patterns=patterns)
        return [ProviderEvent(BOUNCE, email, bounce=bounce, **common)]
    return [ProviderEvent(KINDS.get(event, OTHER), email, **common)]
