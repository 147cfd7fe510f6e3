"""What a fetched message is known by (its key across runs, its headers and date),
and how Email-to-Activity reads it: pure Python, no Odoo."""

from datetime import datetime

from civimail_addon.engine import inbound
from civimail_addon.engine.mailbox import MailboxMessage
from civimail_addon.engine.mailbox.headers import (
    header,
    header_date,
    message_key,
    parse_headers,
)

BODY = b"Hello,\r\nsee you.\r\n"


def raw_message(*, message_id="<m1@example.org>", received="mx1",
                date="Tue, 01 Dec 2026 10:00:00 +0100"):
    lines = [f"Received: from {received}.example.net", "From: Ada <ada@example.com>",
             "To: desk@example.org", f"Date: {date}", "Subject: Visit"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + BODY


def key_of(raw, uid="1"):
    return message_key(MailboxMessage(uid, raw, len(raw or b"")), parse_headers(raw))


def test_a_message_is_known_by_its_message_id_else_by_its_content():
    assert key_of(raw_message()) == "<m1@example.org>"
    anonymous = raw_message(message_id="")
    assert key_of(anonymous, "1") == key_of(anonymous, "2")
    assert key_of(anonymous).startswith("sha256:")
    assert key_of(anonymous) != key_of(anonymous.replace(b"see you", b"bye"))


def test_a_message_too_large_to_fetch_is_known_by_its_place_and_size():
    skipped = MailboxMessage("7", None, 50_000_000, "too large")
    assert message_key(skipped, None) == "oversize:7:50000000"


def test_broken_or_missing_headers_read_as_none():
    assert parse_headers(b"") is None
    assert header(None, "Subject") == ""
    assert header(parse_headers(raw_message()), "Subject") == "Visit"
    assert header(parse_headers(b"Subject: a\r\n  folded\r\n\r\n"), "Subject") == "a folded"


def test_the_date_header_in_utc():
    assert header_date(parse_headers(raw_message())) == datetime(2026, 12, 1, 9, 0)
    assert header_date(parse_headers(raw_message(date="yesterday"))) is None


def test_copies_without_message_id_get_one_id_whatever_their_trace_headers():
    first = raw_message(message_id="", received="mx1")
    copy = raw_message(message_id="", received="mx2")
    ids = {inbound.message_id(inbound.parse(raw), raw) for raw in (first, copy)}
    assert len(ids) == 1
    assert ids.pop().endswith("@no-message-id>")
    assert inbound.message_id(inbound.parse(raw_message()), b"") == "<m1@example.org>"


def test_the_filing_date_in_utc_and_none_when_invalid():
    assert inbound.message_date(inbound.parse(raw_message())) == datetime(2026, 12, 1, 9, 0)
    assert inbound.message_date(inbound.parse(raw_message(date="not a date"))) is None


def test_the_gateway_policy_parses_each_header_value_once():
    raw = raw_message()
    first, second = inbound.parse(raw), inbound.parse(raw)
    assert first["Subject"] is second["Subject"]
    assert str(first["From"]) == "Ada <ada@example.com>"
