"""Amazon SES events through Amazon SNS (HTTPS subscription).

Verification (AWS "Verifying the signatures of Amazon SNS messages"): the
message is signed with the private key of the certificate at
``SigningCertURL``, which must be an ``https://sns.<region>.amazonaws.com/``
URL (the host pattern can be widened for tests only); ``SignatureVersion`` 1
signs with SHA1, 2 with SHA256 (PKCS#1 v1.5). The signed text is ``name\\n
value\\n`` for the fields of the message type, in this order. The replay key
is the SNS ``MessageId``; ``Timestamp`` must be within ``max_age``.

Mapping of SES's bounce classification (``bounceType`` / ``bounceSubType``),
used when the recipient's ``diagnosticCode`` does not decide; hard is
``bounceType == Permanent``:

====================================  ========
bounceType / bounceSubType            type
====================================  ========
Permanent / General                   invalid
Permanent / NoEmail                   invalid
Permanent / Suppressed                invalid
Permanent / OnAccountSuppressionList  invalid
Transient / General                   host
Transient / MailboxFull               quota
Transient / MessageTooLarge           quota
Transient / ContentRejected           spam
Transient / AttachmentRejected        spam
Undetermined / *                      unknown
====================================  ========

``Complaint`` → complaint; ``Delivery`` → delivered; ``Subscription``
(SES's list management) → unsubscribe; others (Send, Open, Click, Reject,
DeliveryDelay, Rendering Failure) → other.
"""

from __future__ import annotations

import base64
import re
import ssl
import urllib.request
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

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
    load_json,
    trace_id,
)

CERT_HOST = r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?"
MAX_CERTIFICATE = 64 * 1024
DEFAULT_MAX_AGE = 3600  # SNS keeps the first Timestamp through its retries

SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                "TopicArn", "Type"),
}
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}

BOUNCE_TYPES = {
    ("Permanent", "General"): "invalid",
    ("Permanent", "NoEmail"): "invalid",
    ("Permanent", "Suppressed"): "invalid",
    ("Permanent", "OnAccountSuppressionList"): "invalid",
    ("Transient", "General"): "host",
    ("Transient", "MailboxFull"): "quota",
    ("Transient", "MessageTooLarge"): "quota",
    ("Transient", "ContentRejected"): "spam",
    ("Transient", "AttachmentRejected"): "spam",
}


def certificate_url_allowed(url: str, host_pattern: str = CERT_HOST) -> bool:
    parts = urlsplit(url or "")
    return (parts.scheme == "https" and not parts.username and not parts.password
            and re.fullmatch(host_pattern, parts.hostname or "") is not None)


def _get(url: str, limit: int, timeout: float, context: ssl.SSLContext | None) -> bytes:
    """GET an https URL, certificate verified, no redirect followed, at most ``limit`` bytes."""
    handler = urllib.request.HTTPSHandler(context=context or ssl.create_default_context())
    # No redirects: a redirect could lead anywhere.
    opener = urllib.request.build_opener(handler, _NoRedirect)
    with opener.open(url, timeout=timeout) as response:
        return response.read(limit + 1)


def fetch_certificate(url: str, host_pattern: str = CERT_HOST, timeout: float = 10,
                      context: ssl.SSLContext | None = None) -> bytes:
    """The PEM certificate at ``url``, over verified HTTPS, from an allowed host only."""
    if not certificate_url_allowed(url, host_pattern):
        raise Refused("signature", f"certificate URL not of Amazon SNS: {url!r}")
    try:
        pem = _get(url, MAX_CERTIFICATE, timeout, context)
    except OSError as error:
        raise Refused("signature", f"certificate not fetched: {error}") from error
    if len(pem) > MAX_CERTIFICATE:
        raise Refused("signature", "certificate too large")
    return pem


def confirm_subscription(body: bytes, host_pattern: str = CERT_HOST, timeout: float = 10,
                         context: ssl.SSLContext | None = None) -> bool:
    """Visit the SubscribeURL of a (verified) SubscriptionConfirmation, as AWS asks.

    False when the body is no subscription confirmation; raises OSError when the
    visit fails.
    """
    url = subscribe_url(body, host_pattern)
    if url:
        _get(url, 64 * 1024, timeout, context)
    return bool(url)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0917 - urllib's signature
        return None


def signed_text(message: dict) -> bytes:
    fields = SIGNED_FIELDS.get(message.get("Type"))
    if fields is None:
        raise Refused("malformed", f"unknown SNS message type {message.get('Type')!r}")
    text = ""
    for name in fields:
        if name in message:
            if not isinstance(message[name], str):
                raise Refused("malformed", f"SNS field {name} is not text")
            text += f"{name}\n{message[name]}\n"
    return text.encode()


def verify(body: bytes, certificate: Callable[[str], bytes], now: float,
           max_age: float = DEFAULT_MAX_AGE, host_pattern: str = CERT_HOST) -> str:
    """Verify an SNS message; ``certificate(url)`` returns the PEM at an allowed URL.

    Returns the replay key (the SNS MessageId).
    """
    message = load_json(body)
    if not isinstance(message, dict):
        raise Refused("malformed", "not an SNS message")
    version = str(message.get("SignatureVersion", ""))
    if version not in HASHES:
        raise Refused("signature", f"unsupported SignatureVersion {version!r}")
    url = str(message.get("SigningCertURL", ""))
    if not certificate_url_allowed(url, host_pattern):
        raise Refused("signature", f"certificate URL not of Amazon SNS: {url!r}")
    text = signed_text(message)
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        if not signature:
            raise ValueError("no signature")
        public_key = x509.load_pem_x509_certificate(certificate(url)).public_key()
        public_key.verify(signature, text, padding.PKCS1v15(), HASHES[version]())
    except (ValueError, TypeError, InvalidSignature) as error:
        raise Refused("signature", "bad SNS signature") from error
    check_fresh(_timestamp(message.get("Timestamp")), now, max_age)
    if not message.get("MessageId"):
        raise Refused("malformed", "no MessageId")
    return str(message["MessageId"])


def subscribe_url(body: bytes, host_pattern: str = CERT_HOST) -> str:
    """The URL confirming a (verified) SubscriptionConfirmation, if it is one; else ""."""
    message = load_json(body)
    if message.get("Type") != "SubscriptionConfirmation":
        return ""
    url = str(message.get("SubscribeURL", ""))
    if not certificate_url_allowed(url, host_pattern):
        raise Refused("malformed", f"subscription URL not of Amazon SNS: {url!r}")
    return url


def _timestamp(value) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def parse(body: bytes, patterns=None) -> list[ProviderEvent]:
    envelope = load_json(body)
    if not isinstance(envelope, dict) or envelope.get("Type") != "Notification":
        return []
    data = envelope.get("Message")
    data = load_json(data.encode()) if isinstance(data, str) else data
    if not isinstance(data, dict):
        raise Refused("malformed", "SNS Message is not an SES notification")
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    mail = data.get("mail") if isinstance(data.get("mail"), dict) else {}
    common = {
        "provider_event": kind,
        "message_id": str(mail.get("messageId", "")),
        "header_message_id": bare_message_id(_mail_header(mail, "Message-ID")),
        "trace_id": trace_id(_mail_header(mail, "X-CiviMail-Trace")),
        "timestamp": _timestamp(envelope.get("Timestamp")),
    }
    if kind == "Bounce":
        bounce = data.get("bounce") or {}
        hard = bounce.get("bounceType") == "Permanent"
        mapped = BOUNCE_TYPES.get((bounce.get("bounceType"), bounce.get("bounceSubType")),
                                  "unknown")
        return [ProviderEvent(BOUNCE, _email(r.get("emailAddress")), bounce=analysed(
                    _email(r.get("emailAddress")), mapped, hard, status=str(r.get("status") or ""),
                    diagnostic=str(r.get("diagnosticCode") or ""), patterns=patterns), **common)
                for r in _dicts(bounce.get("bouncedRecipients"))]
    if kind == "Complaint":
        complaint = data.get("complaint") or {}
        return [ProviderEvent(COMPLAINT, _email(r.get("emailAddress")), **common)
                for r in _dicts(complaint.get("complainedRecipients"))]
    if kind == "Delivery":
        delivery = data.get("delivery") or {}
        return [ProviderEvent(DELIVERED, _email(r), **common)
                for r in delivery.get("recipients") or [] if isinstance(r, str)]
    if kind == "Subscription":
        subscription = data.get("subscription") or {}
        return [ProviderEvent(UNSUBSCRIBE, _email(subscription.get("contactEmail")), **common)]
    return [ProviderEvent(OTHER, _email(r), **common)
            for r in mail.get("destination") or [""] if isinstance(r, str)]


def _dicts(values) -> list[dict]:
    return [v for v in values or [] if isinstance(v, dict)]


def _email(value) -> str:
    return str(value or "").strip().lower()


def _mail_header(mail: dict, name: str) -> str:
    for item in _dicts(mail.get("headers")):
        if str(item.get("name", "")).lower() == name.lower():
            return str(item.get("value", ""))
    return ""

