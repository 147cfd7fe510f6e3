"""Brevo (Sendinblue) transactional webhooks.

Brevo does not sign its webhooks: the webhook is created with bearer-token
authentication (``"auth": {"type": "bearer", "token": …}``), and Brevo sends
``Authorization: Bearer <token>``, compared in constant time. The body's
digest is the replay key, and ``ts_event`` (the event's time, kept through
retries) must be within ``max_age``.

Mapping (the ``reason`` text, when it quotes the receiving server, is
classified first; hard as Brevo says: ``hard_bounce``, ``invalid_email``):

=================  ===========  ==========  ====
event              kind         type        hard
=================  ===========  ==========  ====
hard_bounce        bounce       invalid     yes
invalid_email      bounce       syntax      yes
soft_bounce        bounce       host        no
blocked            bounce       unknown     no  (Brevo's own block list, not the receiver)
spam, complaint    complaint    complaint
unsubscribed       unsubscribe  —
delivered          delivered    —
deferred, …        other        —
=================  ===========  ==========  ====

The marketing webhook names (``hardBounce``, ``softBounce``, ``unsubscribe``)
map alike. The trace is found by ``X-Mailin-custom`` (Brevo echoes that
header) when it holds ``civimail-trace:<id>``, else by ``message-id``.
"""

from __future__ import annotations

import re

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
    body_key,
    check_fresh,
    equal,
    header,
    load_json,
    trace_id,
)

DEFAULT_MAX_AGE = 24 * 3600
BOUNCES = {"hard_bounce": ("invalid", True), "hardbounce": ("invalid", True),
           "invalid_email": ("syntax", True), "soft_bounce": ("host", False),
           "softbounce": ("host", False), "blocked": ("unknown", False)}
KINDS = {"spam": COMPLAINT, "complaint": COMPLAINT, "unsubscribed": UNSUBSCRIBE,
         "unsubscribe": UNSUBSCRIBE, "delivered": DELIVERED}
_CUSTOM_TRACE = re.compile(r"civimail-trace:(\d{1,18})")


def verify(body: bytes, headers: dict, token: str, now: float,
           max_age: float = DEFAULT_MAX_AGE) -> str:
    if not equal(header(headers, "Authorization"), f"Bearer {token}") or not token:
        raise Refused("signature", "wrong Brevo token")
    data = load_json(body)
    if not isinstance(data, dict):
        raise Refused("malformed", "not a Brevo event")
    try:
        check_fresh(float(data.get("ts_event") or data.get("ts") or 0), now, max_age)
    except (TypeError, ValueError) as error:
        raise Refused("stale", "no event time") from error
    return body_key(body)


def parse(body: bytes, patterns=None) -> list[ProviderEvent]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise Refused("malformed", "not a Brevo event")
    event = str(data.get("event", ""))
    email = str(data.get("email", "")).strip().lower()
    custom = _CUSTOM_TRACE.search(str(data.get("X-Mailin-custom") or ""))
    common = {
        "provider_event": event,
        "message_id": bare_message_id(data.get("message-id")),
        "header_message_id": bare_message_id(data.get("message-id")),
        "trace_id": trace_id(custom.group(1)) if custom else 0,
        "timestamp": float(data.get("ts_event") or data.get("ts") or 0),
    }
    key = event.lower()
    if key in BOUNCES:
        mapped, hard = BOUNCES[key]
        bounce = analysed(email, mapped, hard, diagnostic=str(data.get("reason") or ""),
                          patterns=patterns)
        return [ProviderEvent(BOUNCE, email, bounce=bounce, **common)]
    return [ProviderEvent(KINDS.get(key, OTHER), email, **common)]
