"""SendGrid (Twilio) Signed Event Webhook.

Verification: ``X-Twilio-Email-Event-Webhook-Signature`` is the base64 DER
ECDSA (P-256, SHA256) signature of the ``X-Twilio-Email-Event-Webhook-Timestamp``
header followed by the raw body, checked with the *verification key* the
console shows (base64 DER public key). The timestamp must be within
``max_age`` (SendGrid signs each attempt anew); the body's digest is the
replay key (a retry has the same body).

Mapping (``bounce_classification`` when the ``reason`` does not decide;
hard: a ``bounce`` event of ``type`` bounce, and drops of bounced or invalid
addresses):

==============================  ===========  =========
event / classification          kind         type
==============================  ===========  =========
bounce / Invalid Address        bounce       invalid
bounce / Mailbox Unavailable    bounce       inactive
bounce / Technical              bounce       host
bounce / Content                bounce       spam
bounce / Reputation             bounce       blocked
bounce / Frequency or Volume    bounce       host
bounce / Unclassified           bounce       unknown
dropped / Bounced Address       bounce       invalid
dropped / Invalid               bounce       syntax
dropped / other reasons         other        —
spamreport                      complaint    complaint
unsubscribe, group_unsubscribe  unsubscribe  —
delivered                       delivered    —
processed, deferred, open, …    other        —
==============================  ===========  =========

The trace is found by the ``civimail_trace`` custom argument when the
message carries one, else by ``sg_message_id``, which starts with the id of
SendGrid's ``250 Ok: queued as <id>`` reply.
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

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
    header,
    load_json,
    trace_id,
)

DEFAULT_MAX_AGE = 15 * 60
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
CLASSIFICATION_TYPES = {
    "Invalid Address": "invalid", "Mailbox Unavailable": "inactive", "Technical": "host",
    "Content": "spam", "Reputation": "blocked", "Frequency or Volume Limited": "host",
    "Unclassified": "unknown",
}
DROP_TYPES = {"Bounced Address": "invalid", "Invalid": "syntax"}
KINDS = {"spamreport": COMPLAINT, "unsubscribe": UNSUBSCRIBE, "group_unsubscribe": UNSUBSCRIBE,
         "delivered": DELIVERED}


def public_key(verification_key: str) -> ec.EllipticCurvePublicKey:
    try:
        key = load_der_public_key(base64.b64decode("".join(verification_key.split())))
    except ValueError as error:
        raise Refused("signature", "the verification key is not a SendGrid key") from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Refused("signature", "the verification key is not an ECDSA key")
    return key


def verify(body: bytes, headers: dict, verification_key: str, now: float,
           max_age: float = DEFAULT_MAX_AGE) -> str:
    timestamp = header(headers, TIMESTAMP_HEADER)
    try:
        signature = base64.b64decode(header(headers, SIGNATURE_HEADER), validate=True)
        public_key(verification_key).verify(
            signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature) as error:
        raise Refused("signature", "bad SendGrid signature") from error
    try:
        check_fresh(float(timestamp), now, max_age)
    except ValueError as error:
        raise Refused("stale", "no timestamp") from error
    if not isinstance(load_json(body), list):
        raise Refused("malformed", "not a list of events")
    return body_key(body)


def parse(body: bytes, patterns=None) -> list[ProviderEvent]:
    events = load_json(body)
    if not isinstance(events, list):
        raise Refused("malformed", "not a list of events")
    return [_event(e, patterns) for e in events if isinstance(e, dict)]


def _event(data: dict, patterns) -> ProviderEvent:
    event = str(data.get("event", ""))
    email = str(data.get("email", "")).strip().lower()
    common = {
        "provider_event": event,
        # "<id of the 250 reply>.filter…": the caller matches on the part before the dot.
        "message_id": str(data.get("sg_message_id") or ""),
        "header_message_id": bare_message_id(data.get("smtp-id")),
        "trace_id": trace_id(data.get("civimail_trace")),
        "timestamp": float(data.get("timestamp") or 0),
    }
    reason = str(data.get("reason") or "")
    if event == "bounce":
        hard = data.get("type", "bounce") == "bounce"
        mapped = CLASSIFICATION_TYPES.get(str(data.get("bounce_classification")), "unknown")
        bounce = analysed(email, mapped, hard, status=str(data.get("status") or ""),
                          diagnostic=reason, patterns=patterns)
        return ProviderEvent(BOUNCE, email, bounce=bounce, **common)
    if event == "dropped" and reason in DROP_TYPES:
        bounce = analysed(email, DROP_TYPES[reason], True, patterns=patterns)
        return ProviderEvent(BOUNCE, email, bounce=bounce, **common)
    return ProviderEvent(KINDS.get(event, OTHER), email, **common)
