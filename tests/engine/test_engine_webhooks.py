"""Providers' webhooks in the engine: signatures made with the test's keys, verified;
payloads parsed into our bounce types."""

import json
import ssl
import time

import pytest

from civimail_addon.engine.smtp_out import provider_message_id
from civimail_addon.engine.webhooks import (
    BOUNCE,
    COMPLAINT,
    DELIVERED,
    OTHER,
    UNSUBSCRIBE,
    Refused,
    brevo,
    mailgun,
    postmark,
    sendgrid,
    ses,
)
from harness import providers

DIAGNOSTIC = "smtp; 550 5.1.1 <reader@example.net>: Recipient address rejected: User unknown"


@pytest.fixture(scope="module")
def sns():
    server = providers.SnsCertificateServer()
    yield server
    server.close()


def trusted(sns):
    return ssl.create_default_context(cafile=sns.ca_file)


def fetcher(sns):
    return lambda url: ses.fetch_certificate(url, sns.host_pattern, context=trusted(sns))


# -- Amazon SES through SNS ------------------------------------------------------------
@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signature_verified_with_the_certificate_fetched_over_https(sns, version):
    message = providers.ses_notification("Bounce", "reader@example.net", diagnostic=DIAGNOSTIC,
                                         status="5.1.1")
    body = sns.sign(message, version)
    key = ses.verify(body, fetcher(sns), time.time(), host_pattern=sns.host_pattern)
    assert key == message["MessageId"]
    [event] = ses.parse(body)
    assert (event.kind, event.email, event.bounce.type, event.bounce.hard,
            event.bounce.status) == (BOUNCE, "reader@example.net", "invalid", True, "5.1.1")


def test_sns_refuses_a_tampered_message_and_an_unknown_version(sns):
    body = json.loads(sns.sign(providers.ses_notification("Complaint", "a@example.net")))
    body["Message"] = body["Message"].replace("a@example.net", "b@example.net")
    with pytest.raises(Refused) as refused:
        ses.verify(json.dumps(body).encode(), fetcher(sns), time.time(),
                   host_pattern=sns.host_pattern)
    assert refused.value.code == "signature"
    body = json.loads(sns.sign(providers.ses_notification("Complaint", "a@example.net")))
    body["SignatureVersion"] = "3"
    with pytest.raises(Refused, match="SignatureVersion"):
        ses.verify(json.dumps(body).encode(), fetcher(sns), time.time(),
                   host_pattern=sns.host_pattern)


def test_sns_certificate_only_from_amazon_sns_hosts_over_https(sns):
    assert ses.certificate_url_allowed(
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem")
    for url in ("http://sns.eu-west-1.amazonaws.com/x.pem",
                "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
                "https://evil.example/sns.eu-west-1.amazonaws.com/x.pem",
                "https://user@sns.eu-west-1.amazonaws.com/x.pem",
                sns.url):
        assert not ses.certificate_url_allowed(url), url
    # Signed with our key but pointing at a host that is not Amazon's: refused before any fetch.
    body = sns.sign(providers.ses_notification("Delivery", "a@example.net"))
    before = sns.requests
    with pytest.raises(Refused, match="not of Amazon SNS"):
        ses.verify(body, fetcher(sns), time.time())
    assert sns.requests == before


def test_sns_certificate_server_must_be_trusted(sns):
    with pytest.raises(Refused, match="certificate not fetched"):
        ses.fetch_certificate(sns.url, sns.host_pattern,
                              context=ssl.create_default_context(cafile=None, cadata=None))


def test_sns_stale_message_refused(sns):
    body = sns.sign(providers.ses_notification("Delivery", "a@example.net",
                                               when=time.time() - 7200))
    with pytest.raises(Refused) as refused:
        ses.verify(body, fetcher(sns), time.time(), host_pattern=sns.host_pattern)
    assert refused.value.code == "stale"


def test_sns_subscription_confirmation_gives_its_url(sns):
    message = {"Type": "SubscriptionConfirmation", "MessageId": "m-1", "Token": "t",
               "TopicArn": "arn:aws:sns:eu-west-1:1:civimail", "Message": "confirm",
               "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
               "Timestamp": "2026-01-01T00:00:00.000Z"}
    body = sns.sign(message)
    assert ses.subscribe_url(body).startswith("https://sns.eu-west-1.amazonaws.com/")
    assert ses.parse(body) == []
    message["SubscribeURL"] = "https://evil.example/confirm"
    with pytest.raises(Refused):
        ses.subscribe_url(sns.sign(message))


@pytest.mark.parametrize(("bounce_type", "sub_type", "expected", "hard"), [
    ("Permanent", "NoEmail", "invalid", True),
    ("Transient", "MailboxFull", "quota", False),
    ("Transient", "ContentRejected", "spam", False),
    ("Undetermined", "Undetermined", "unknown", False),
])
def test_ses_classification_mapped_without_diagnostic(sns, bounce_type, sub_type, expected,
                                                      hard):
    body = sns.sign(providers.ses_notification("Bounce", "a@example.net",
                                               bounce_type=bounce_type, sub_type=sub_type))
    [event] = ses.parse(body)
    assert (event.bounce.type, event.bounce.hard) == (expected, hard)


def test_ses_events_name_trace_and_message(sns):
    body = sns.sign(providers.ses_notification("Complaint", "A@Example.net", trace_id=42,
                                               message_id="0100018c-abc"))
    [event] = ses.parse(body)
    assert (event.kind, event.email, event.trace_id, event.message_id) == (
        COMPLAINT, "a@example.net", 42, "0100018c-abc")
    [event] = ses.parse(sns.sign(providers.ses_notification("Delivery", "a@example.net")))
    assert event.kind == DELIVERED


# -- Mailgun ---------------------------------------------------------------------------
def test_mailgun_signature_token_and_age():
    body = providers.mailgun_body("key-1", "failed", "reader@example.net", diagnostic=DIAGNOSTIC)
    token = json.loads(body)["signature"]["token"]
    assert mailgun.verify(body, "key-1", time.time()) == token
    with pytest.raises(Refused) as refused:
        mailgun.verify(body, "key-2", time.time())
    assert refused.value.code == "signature"
    old = providers.mailgun_body("key-1", "delivered", "a@example.net", when=time.time() - 3600)
    with pytest.raises(Refused) as refused:
        mailgun.verify(old, "key-1", time.time())
    assert refused.value.code == "stale"
    with pytest.raises(Refused) as refused:
        mailgun.verify(b"{not json", "key-1", time.time())
    assert refused.value.code == "malformed"


@pytest.mark.parametrize(("given", "expected"), [
    (("failed", "bounce", "permanent", DIAGNOSTIC), (BOUNCE, "invalid", True)),
    (("failed", "generic", "temporary", "452 4.2.2 Mailbox full"), (BOUNCE, "quota", False)),
    (("failed", "espblock", "permanent", ""), (BOUNCE, "blocked", True)),
    (("failed", "suppress-complaint", "permanent", ""), (OTHER, None, None)),
    (("complained", "", "", ""), (COMPLAINT, None, None)),
    (("unsubscribed", "", "", ""), (UNSUBSCRIBE, None, None)),
    (("delivered", "", "", ""), (DELIVERED, None, None)),
    (("opened", "", "", ""), (OTHER, None, None)),
])
def test_mailgun_events_mapped(given, expected):
    event, reason, severity, diagnostic = given
    kind, type_, hard = expected
    body = providers.mailgun_body("k", event, "a@example.net", trace_id=7, reason=reason,
                                  severity=severity, diagnostic=diagnostic,
                                  code=int(diagnostic[:3]) if diagnostic[:3].isdigit() else 550)
    [found] = mailgun.parse(body)
    assert (found.kind, found.trace_id) == (kind, 7)
    if type_:
        assert (found.bounce.type, found.bounce.hard) == (type_, hard)


# -- SendGrid --------------------------------------------------------------------------
def test_sendgrid_ecdsa_signature_and_age():
    signer = providers.SendGridSigner()
    body = json.dumps([providers.sendgrid_event("bounce", "a@example.net",
                                                diagnostic=DIAGNOSTIC)]).encode()
    headers = signer.headers(body)
    assert len(sendgrid.verify(body, headers, signer.verification_key, time.time())) == 64
    with pytest.raises(Refused) as refused:
        sendgrid.verify(body + b" ", headers, signer.verification_key, time.time())
    assert refused.value.code == "signature"
    other = providers.SendGridSigner()
    with pytest.raises(Refused):
        sendgrid.verify(body, headers, other.verification_key, time.time())
    stale = signer.headers(body, when=time.time() - 3600)
    with pytest.raises(Refused) as refused:
        sendgrid.verify(body, stale, signer.verification_key, time.time())
    assert refused.value.code == "stale"


def test_sendgrid_batch_parsed_and_mapped():
    events = [
        providers.sendgrid_event("bounce", "a@example.net", diagnostic=DIAGNOSTIC,
                                 status="5.1.1", message_id="14c5d75ce93"),
        providers.sendgrid_event("bounce", "b@example.net", kind="blocked",
                                 classification="Reputation"),
        providers.sendgrid_event("dropped", "c@example.net") | {"reason": "Bounced Address"},
        providers.sendgrid_event("spamreport", "d@example.net"),
        providers.sendgrid_event("group_unsubscribe", "e@example.net"),
        providers.sendgrid_event("processed", "f@example.net"),
    ]
    found = sendgrid.parse(json.dumps(events).encode())
    assert [f.kind for f in found] == [BOUNCE, BOUNCE, BOUNCE, COMPLAINT, UNSUBSCRIBE, OTHER]
    assert (found[0].bounce.type, found[0].bounce.hard) == ("invalid", True)
    assert found[0].message_id.startswith("14c5d75ce93.filter")
    assert (found[1].bounce.type, found[1].bounce.hard) == ("blocked", False)
    assert (found[2].bounce.type, found[2].bounce.hard) == ("invalid", True)


# -- Postmark --------------------------------------------------------------------------
def test_postmark_basic_auth_and_url_token():
    body = json.dumps(providers.postmark_event("Bounce", "a@example.net")).encode()
    good = providers.postmark_headers("civimail", "s3cret")
    key = postmark.verify(body, good, path_token="tok", user="civimail", password="s3cret",
                          expected_token="tok", now=time.time())
    assert len(key) == 64
    for headers, token in ((providers.postmark_headers("civimail", "wrong"), "tok"),
                           (good, "other"), ({}, "tok")):
        with pytest.raises(Refused) as refused:
            postmark.verify(body, headers, path_token=token, user="civimail",
                            password="s3cret", expected_token="tok", now=time.time())
        assert refused.value.code == "signature"
    old = json.dumps(providers.postmark_event("Bounce", "a@example.net",
                                              when=time.time() - 3 * 86400)).encode()
    with pytest.raises(Refused, match="stale"):
        postmark.verify(old, good, path_token="tok", user="civimail", password="s3cret",
                        expected_token="tok", now=time.time())


@pytest.mark.parametrize(("record", "bounce_type", "inactive", "kind", "type_"), [
    ("Bounce", "HardBounce", True, BOUNCE, "invalid"),
    ("Bounce", "SoftBounce", False, BOUNCE, "host"),
    ("Bounce", "DnsError", False, BOUNCE, "dns"),
    ("Bounce", "AutoResponder", False, BOUNCE, "away"),
    ("SpamComplaint", "", False, COMPLAINT, None),
    ("SubscriptionChange", "", False, UNSUBSCRIBE, None),
    ("Delivery", "", False, DELIVERED, None),
])
def test_postmark_events_mapped(record, bounce_type, inactive, kind, type_):
    body = json.dumps(providers.postmark_event(record, "a@example.net", trace_id=9,
                                               bounce_type=bounce_type,
                                               inactive=inactive)).encode()
    [found] = postmark.parse(body)
    assert (found.kind, found.email, found.trace_id) == (kind, "a@example.net", 9)
    if type_:
        assert (found.bounce.type, found.bounce.hard) == (type_, inactive)


# -- Brevo -----------------------------------------------------------------------------
def test_brevo_token_and_age():
    body = json.dumps(providers.brevo_event("hard_bounce", "a@example.net")).encode()
    assert len(brevo.verify(body, providers.brevo_headers("tk"), "tk", time.time())) == 64
    with pytest.raises(Refused, match="signature"):
        brevo.verify(body, providers.brevo_headers("other"), "tk", time.time())
    with pytest.raises(Refused, match="signature"):
        brevo.verify(body, providers.brevo_headers(""), "", time.time())
    old = json.dumps(providers.brevo_event("hard_bounce", "a@example.net",
                                           when=time.time() - 3 * 86400)).encode()
    with pytest.raises(Refused, match="stale"):
        brevo.verify(old, providers.brevo_headers("tk"), "tk", time.time())


@pytest.mark.parametrize(("event", "diagnostic", "kind", "type_", "hard"), [
    ("hard_bounce", DIAGNOSTIC, BOUNCE, "invalid", True),
    ("hard_bounce", "", BOUNCE, "invalid", True),
    ("soft_bounce", "452 4.2.2 Mailbox full", BOUNCE, "quota", False),
    ("invalid_email", "", BOUNCE, "syntax", True),
    ("spam", "", COMPLAINT, None, None),
    ("unsubscribed", "", UNSUBSCRIBE, None, None),
    ("delivered", "", DELIVERED, None, None),
    ("deferred", "", OTHER, None, None),
])
def test_brevo_events_mapped(event, diagnostic, kind, type_, hard):
    body = json.dumps(providers.brevo_event(event, "a@example.net", trace_id=5,
                                            message_id="abc", diagnostic=diagnostic)).encode()
    [found] = brevo.parse(body)
    assert (found.kind, found.trace_id, found.message_id) == (
        kind, 5, "abc@smtp-relay.mailin.fr")
    if type_:
        assert (found.bounce.type, found.bounce.hard) == (type_, hard)


# -- The provider's message id in the reply to DATA ------------------------------------
@pytest.mark.parametrize(("reply", "expected"), [
    ("Ok: queued as 14c5d75ce93.dfd.64b469", "14c5d75ce93.dfd.64b469"),
    ("Ok 0100018c1b2b3c4d-aaaa-000000", "0100018c1b2b3c4d-aaaa-000000"),
    ("2.0.0 Ok: queued as 4ABCDEF12", "4ABCDEF12"),
    ("2.0.0 OK queued as 12", "12"),
    ("2.0.0 OK: queued as <2023.abc@smtp-relay.mailin.fr>", "2023.abc@smtp-relay.mailin.fr"),
    ("OK", ""),
    ("Great success", ""),
])
def test_provider_message_id_from_the_reply_to_data(reply, expected):
    assert provider_message_id(reply) == expected
