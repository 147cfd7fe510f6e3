"""VERP addresses: round trip, forgery, rotation, parsing tolerance."""

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
