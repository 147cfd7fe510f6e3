"""Signed provider webhook requests, made with keys of the test's own.

Used by the engine tests, the module's tests and the webhook bench: each
provider's request is built as that provider builds it (same fields, same
signature), signed with a key the test made, never with a provider's.

``SnsCertificateServer`` serves the SNS signing certificate over HTTPS on
loopback, with a certificate of the run's throw-away CA (``harness.tls``):
the verifier fetches it as it fetches Amazon's, verification on.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from .tls import make_tls_files

CERT_PATH = "/SimpleNotificationService-test.pem"
CONFIRM_PATH = "/?Action=ConfirmSubscription"


def iso_time(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# ---------------------------------------------------------------------------
# Amazon SES through SNS
# ---------------------------------------------------------------------------
class SnsCertificateServer:
    """An RSA signing key, its certificate served at ``url`` over HTTPS, and the CA to trust."""

    def __init__(self, folder: str | None = None):
        self._folder = tempfile.TemporaryDirectory(prefix="civimail-sns-") if folder is None \
            else None
        tls = make_tls_files(folder or self._folder.name)
        self.ca_file = tls.ca_file
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test.amazonaws.com")])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate_pem = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        ).public_bytes(serialization.Encoding.PEM)
        self.requests = 0
        self.confirmed = []  # paths of the subscription confirmations visited
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                if self.path.startswith(CONFIRM_PATH):
                    server.confirmed.append(self.path)
                found = self.path == CERT_PATH or self.path.startswith(CONFIRM_PATH)
                self.send_response(200 if found else 404)
                self.end_headers()
                if self.path == CERT_PATH:
                    self.wfile.write(server.certificate_pem)

            def log_message(self, *_args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert_file, tls.key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://localhost:{self.httpd.server_address[1]}{CERT_PATH}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    # The host pattern the verifier is told to accept instead of sns.<region>.amazonaws.com.
    host_pattern = "localhost"

    @property
    def subscribe_url(self):
        return self.url.replace(CERT_PATH, CONFIRM_PATH + "&Token=t")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._folder is not None:
            self._folder.cleanup()

    def sign(self, message: dict, version: str = "1", url: str | None = None) -> bytes:
        """The SNS request body of ``message`` (Type, Message, MessageId… set), signed."""
        message = {**message, "SignatureVersion": version, "SigningCertURL": url or self.url}
        fields = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        if message["Type"] != "Notification":
            fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                      "Type"]
        text = "".join(f"{n}\n{message[n]}\n" for n in fields if n in message).encode()
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS v1
        message["Signature"] = base64.b64encode(
            self.key.sign(text, padding.PKCS1v15(), digest)).decode()
        return json.dumps(message).encode()


def ses_notification(kind: str, email: str, *, trace_id: int = 0, message_id: str = "",
                     diagnostic: str = "", status: str = "", bounce_type: str = "Permanent",
                     sub_type: str = "General", when: float | None = None) -> dict:
    """An SNS Notification envelope of an SES event (not yet signed)."""
    when = time.time() if when is None else when
    headers = [{"name": "X-CiviMail-Trace", "value": str(trace_id)}] if trace_id else []
    mail = {"messageId": message_id or str(uuid.uuid4()), "destination": [email],
            "headers": headers, "timestamp": iso_time(when)}
    ses = {"notificationType": kind, "mail": mail}
    if kind == "Bounce":
        recipient = {"emailAddress": email}
        if diagnostic:
            recipient.update(action="failed", status=status, diagnosticCode=diagnostic)
        ses["bounce"] = {"bounceType": bounce_type, "bounceSubType": sub_type,
                         "bouncedRecipients": [recipient]}
    elif kind == "Complaint":
        ses["complaint"] = {"complainedRecipients": [{"emailAddress": email}],
                            "complaintFeedbackType": "abuse"}
    elif kind == "Delivery":
        ses["delivery"] = {"recipients": [email]}
    return {"Type": "Notification", "MessageId": str(uuid.uuid4()),
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:civimail", "Timestamp": iso_time(when),
            "Message": json.dumps(ses)}


# ---------------------------------------------------------------------------
# Mailgun
# ---------------------------------------------------------------------------
def mailgun_body(signing_key: str, event: str, email: str, *, trace_id: int = 0,
                 message_id: str = "", severity: str = "permanent", reason: str = "bounce",
                 diagnostic: str = "", code: int = 550, when: float | None = None,
                 token: str | None = None) -> bytes:
    when = time.time() if when is None else when
    token = token or secrets.token_hex(25)
    data = {"event": event, "id": uuid.uuid4().hex, "timestamp": when, "recipient": email,
            "message": {"headers": {"message-id": message_id or f"{uuid.uuid4()}@example.org"}},
            "user-variables": {"civimail-trace": str(trace_id)} if trace_id else {}}
    if event == "failed":
        data.update(severity=severity, reason=reason,
                    **{"delivery-status": {"code": code, "message": diagnostic}})
    stamp = str(int(when))
    signature = hmac.new(signing_key.encode(), f"{stamp}{token}".encode(),
                         hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": stamp, "token": token,
                                     "signature": signature}, "event-data": data}).encode()


# ---------------------------------------------------------------------------
# SendGrid
# ---------------------------------------------------------------------------
class SendGridSigner:
    """An ECDSA P-256 key; ``verification_key`` is what SendGrid's console shows."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.verification_key = base64.b64encode(self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()

    def headers(self, body: bytes, when: float | None = None) -> dict:
        stamp = str(int(time.time() if when is None else when))
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"Content-Type": "application/json",
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp}


def sendgrid_event(event: str, email: str, *, trace_id: int = 0, message_id: str = "",
                   diagnostic: str = "", status: str = "", kind: str = "bounce",
                   classification: str = "Invalid Address", when: float | None = None) -> dict:
    data = {"event": event, "email": email, "timestamp": int(time.time() if when is None
                                                             else when),
            "sg_event_id": uuid.uuid4().hex,
            "sg_message_id": f"{message_id or uuid.uuid4().hex}.filterdrecv-1-2-3.0"}
    if trace_id:
        data["civimail_trace"] = str(trace_id)
    if event == "bounce":
        data.update(type=kind, reason=diagnostic, status=status,
                    bounce_classification=classification)
    return data


# ---------------------------------------------------------------------------
# Postmark and Brevo (secrets, no signature)
# ---------------------------------------------------------------------------
def postmark_event(record: str, email: str, *, trace_id: int = 0, message_id: str = "",
                   bounce_type: str = "HardBounce", diagnostic: str = "", inactive: bool = True,
                   when: float | None = None) -> dict:
    stamp = iso_time(time.time() if when is None else when)
    data = {"RecordType": record, "MessageID": message_id or str(uuid.uuid4()),
            "Metadata": {"civimail-trace": str(trace_id)} if trace_id else {},
            "MessageStream": "broadcast"}
    if record == "Bounce":
        data.update(ID=secrets.randbelow(10**9), Type=bounce_type, Email=email,
                    Details=diagnostic, Inactive=inactive, BouncedAt=stamp)
    elif record == "SpamComplaint":
        data.update(Type="SpamComplaint", Email=email, BouncedAt=stamp)
    elif record == "SubscriptionChange":
        data.update(Recipient=email, SuppressSending=True,
                    SuppressionReason="ManualSuppression", ChangedAt=stamp)
    else:
        data.update(Recipient=email, DeliveredAt=stamp)
    return data


def postmark_headers(user: str, password: str) -> dict:
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}


def brevo_event(event: str, email: str, *, trace_id: int = 0, message_id: str = "",
                diagnostic: str = "", when: float | None = None) -> dict:
    when = int(time.time() if when is None else when)
    data = {"event": event, "email": email, "id": secrets.randbelow(10**6),
            "message-id": f"<{message_id or uuid.uuid4()}@smtp-relay.mailin.fr>",
            "ts_event": when, "ts": when, "reason": diagnostic}
    if trace_id:
        data["X-Mailin-custom"] = f"civimail-trace:{trace_id}"
    return data


def brevo_headers(token: str) -> dict:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
