"""VERP addresses: round trip, forgery, rotation, parsing tolerance."""

import hashlib
import hmac
from email.message import Message

import pytest

from civimail_addon.engine.verp import VerpCodec, VerpToken


@pytest.fixture
def codec():
    return VerpCodec("return+", "example.org", ["new-secret", "old-secret"])


def test_round_trip(codec):
    address = codec.build(42, "Jane@Example.COM ")
    assert address.startswith("return+b.42.") and address.endswith("@example.org")
    token = codec.parse(address)
    assert token == VerpToken(42, address.split(".")[2].split("@")[0])
    assert codec.verify(token, "jane@example.com")
    assert len(token.digest) * 4 >= 64


@pytest.mark.parametrize("mutate", [
    lambda a: a.replace("b.42.", "b.43."),
    lambda a: a.replace(a[a.index("@") - 1] + "@", ("0" if a[a.index("@") - 1] != "0" else "1")
                        + "@"),
])
def test_forgery_is_refused(codec, mutate):
    forged = mutate(codec.build(42, "jane@example.com"))
    token = codec.parse(forged)
    assert token is not None
    assert not codec.verify(token, "jane@example.com")


def test_other_recipient_or_domain_refused(codec):
    address = codec.build(7, "jane@example.com")
    assert not codec.verify(codec.parse(address), "john@example.com")
    assert codec.parse(address.replace("example.org", "example.net")) is None
    assert codec.parse(address.replace("return+", "bounce+")) is None


def test_secret_rotation():
    old = VerpCodec("return+", "example.org", ["old-secret"])
    address = old.build(9, "a@b.org")
    during = VerpCodec("return+", "example.org", ["new-secret", "old-secret"])
    after = VerpCodec("return+", "example.org", ["new-secret"])
    assert during.verify(during.parse(address), "a@b.org")
    assert not after.verify(after.parse(address), "a@b.org")
    assert during.build(9, "a@b.org") != address  # the first secret signs


def test_case_and_display_forms(codec):
    address = codec.build(5, "x@y.org")
    for form in (address.upper(), f"<{address}>", f'"Bounce" <{address.upper()}>'):
        assert codec.verify(codec.parse(form), "X@Y.ORG")


def test_minus_separator():
    codec = VerpCodec("return-", "example.org", ["s"])
    address = codec.build(12, "a@b.org")
    assert address.startswith("return-b.12.")
    assert codec.verify(codec.parse(address), "a@b.org")
    assert VerpCodec("return+", "example.org", ["s"]).parse(address) is None


@pytest.mark.parametrize("garbage", [
    "", "@", "return+b.x.y@example.org", "return+b.1.zz@example.org",
    "\x00\xff", "<<<>>>", "return+b.1.@example.org"])
def test_garbage_never_raises(codec, garbage):
    assert codec.parse(garbage) is None
    assert codec.verify(None, "a@b.org") is False


def test_find_tokens_in_headers(codec):
    first, second = codec.build(1, "a@b.org"), codec.build(2, "c@d.org")
    msg = Message()
    msg["To"] = "someone@else.org"
    msg["Delivered-To"] = second
    msg["X-Original-To"] = first
    msg["Return-Path"] = f"<{second}>"
    assert [t.trace_id for t in codec.find_tokens(msg)] == [2, 1]


@pytest.mark.parametrize("action", ["u", "o", "r"])
def test_action_addresses_round_trip(codec, action):
    address = codec.build(42, "jane@example.com", action)
    assert address.startswith(f"return+{action}.42.")
    token = codec.parse(address)
    assert (token.trace_id, token.action) == (42, action)
    assert codec.verify(token, "Jane@Example.com")


@pytest.mark.parametrize(("signed", "claimed"), [("b", "u"), ("b", "o"), ("u", "o"), ("r", "u"),
                                                 ("u", "b")])
def test_a_signature_is_valid_for_its_action_only(codec, signed, claimed):
    address = codec.build(42, "jane@example.com", signed)
    reused = address.replace(f"+{signed}.", f"+{claimed}.", 1)
    token = codec.parse(reused)
    assert token is not None and token.action == claimed
    assert not codec.verify(token, "jane@example.com")


def test_bounce_addresses_of_mail_already_sent_stay_valid(codec):
    """The bounce token signs what it signed before actions existed."""
    digest = hmac.new(b"new-secret", b"42\0jane@example.com", hashlib.sha256).hexdigest()[:16]
    assert codec.build(42, "jane@example.com") == f"return+b.42.{digest}@example.org"


def test_unknown_action_refused(codec):
    with pytest.raises(ValueError):
        codec.build(1, "a@b.org", "x")
    assert codec.parse("return+x.1.0123456789abcdef@example.org") is None


def test_requests_and_bounces_found_apart(codec):
    bounce = codec.build(1, "a@b.org")
    unsubscribe = codec.build(1, "a@b.org", "u")
    msg = Message()
    msg["To"] = f"Unsubscribe <{unsubscribe}>"
    msg["Return-Path"] = f"<{bounce}>"
    assert [t.action for t in codec.find_tokens(msg)] == ["b"]
    assert [(t.action, t.trace_id) for t in codec.find_requests(msg)] == [("u", 1)]
    # A bounce's own return path never makes it a request.
    bounced = Message()
    bounced["Return-Path"] = f"<{codec.build(2, 'c@d.org', 'r')}>"
    assert codec.find_requests(bounced) == []
