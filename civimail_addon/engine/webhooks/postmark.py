"""Postmark webhooks.

Postmark does not sign its webhooks: the webhook URL carries HTTP basic
authentication (user and password set on the account) and a secret path
token; both are compared in constant time, and the URL must be HTTPS (the
provider account refuses another URL). The body's digest is the replay key,
and the event's own time (``BouncedAt``, ``ReceivedAt``, ``DeliveredAt``,
``ChangedAt``) must be within ``max_age`` (Postmark keeps it through its
retries, so the window is long).

Mapping of a ``Bounce`` record's ``Type`` (the ``Details`` text, when it
quotes the receiving server, is classified first); hard is ``Inactive``
(Postmark deactivates the address), as Postmark defines hard bounces:

====================================  ===========  =========
RecordType / Type                     kind         type
====================================  ===========  =========
Bounce / HardBounce                   bounce       invalid
Bounce / BadEmailAddress              bounce       syntax
Bounce / SoftBounce, Transient        bounce       host
Bounce / DnsError                     bounce       dns
Bounce / AutoResponder                bounce       away
Bounce / AddressChange                bounce       inactive
Bounce / ManuallyDeactivated          bounce       inactive
Bounce / Blocked, DMARCPolicy         bounce       blocked
Bounce / SpamNotification, Virus…     bounce       spam
Bounce / SpamComplaint                complaint    complaint
Bounce / Unsubscribe                  unsubscribe  —
Bounce / other types                  bounce       unknown
SpamComplaint                         complaint    complaint
SubscriptionChange (suppressed by
  the recipient)                      unsubscribe  —
Delivery                              delivered    —
Open, Click, other                    other        —
====================================  ===========  =========

The trace is found by the ``civimail-trace`` metadata (``X-PM-Metadata-``
header), else by ``MessageID``, which Postmark's ``250`` reply to DATA gives.
"""

from __future__ import annotations

import base64
from datetime import datetime

from . import (
    BOUNCE,
    COMPLAINT,
    DELIVERED,
    OTHER,
    UNSUBSCRIBE,
    ProviderEvent,
    Refused,
    analysed,
    body_key,
    check_fresh,
    equal,
    header,
    load_json,
    trace_id,
)

DEFAULT_MAX_AGE = 24 * 3600
BOUNCE_TYPES = {
    "HardBounce": "invalid", "BadEmailAddress": "syntax", "SoftBounce": "host",
    "Transient": "host", "DnsError": "dns", "AutoResponder": "away", "AddressChange": "inactive",
    "ManuallyDeactivated": "inactive", "Blocked": "blocked", "DMARCPolicy": "blocked",
    "SpamNotification": "spam", "VirusNotification": "spam",
}
KINDS = {"SpamComplaint": COMPLAINT, "Delivery": DELIVERED}
TIMES = ("BouncedAt", "ReceivedAt", "DeliveredAt", "ChangedAt")


def basic_authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def verify(body: bytes, headers: dict, *, path_token: str, user: str, password: str,
           expected_token: str, now: float, max_age: float = DEFAULT_MAX_AGE) -> str:
    authorized = equal(header(headers, "Authorization"), basic_authorization(user, password))
    if not (equal(path_token, expected_token) and authorized and user and password):
        raise Refused("signature", "wrong Postmark URL token or password")
    data = load_json(body)
    if not isinstance(data, dict):
        raise Refused("malformed", "not a Postmark event")
    check_fresh(_time(data), now, max_age)
    return body_key(body)


def _time(data: dict) -> float:
    for name in TIMES:
        if data.get(name):
            try:
                return datetime.fromisoformat(str(data[name]).replace("Z", "+00:00")).timestamp()
            except ValueError:
                return 0.0
    return 0.0


def parse(body: bytes, patterns=None) -> list[ProviderEvent]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise Refused("malformed", "not a Postmark event")
    record = str(data.get("RecordType", ""))
    kind = str(data.get("Type", "")) if record == "Bounce" else record
    email = str(data.get("Email") or data.get("Recipient") or "").strip().lower()
    metadata = data.get("Metadata") if isinstance(data.get("Metadata"), dict) else {}
    common = {
        "provider_event": kind,
        "message_id": str(data.get("MessageID") or ""),
        "trace_id": trace_id(metadata.get("civimail-trace")),
        "timestamp": _time(data),
    }
    if kind == "SpamComplaint":
        return [ProviderEvent(COMPLAINT, email, **common)]
    if kind == "Unsubscribe" or (record == "SubscriptionChange" and data.get("SuppressSending")
                                 and data.get("SuppressionReason") == "ManualSuppression"):
        return [ProviderEvent(UNSUBSCRIBE, email, **common)]
    if record == "Bounce":
        bounce = analysed(email, BOUNCE_TYPES.get(kind, "unknown"), bool(data.get("Inactive")),
                          diagnostic=str(data.get("Details") or ""), patterns=patterns)
        return [ProviderEvent(BOUNCE, email, bounce=bounce, **common)]
    return [ProviderEvent(KINDS.get(kind, OTHER), email, **common)]
