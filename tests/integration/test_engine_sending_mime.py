"""engine.mime_out's MIME assembler, against what the stdlib builds the host's way, and the outbox.

The host (``ir.mail_server.build_email``) builds an ``email.message.EmailMessage``
with the SMTP policy: ``host_message`` below does the same, without Odoo, so
the assembler's bytes can be compared with it once both are parsed.
"""

import email
import email.policy
import smtplib
import threading
from email.message import EmailMessage

import pytest

from civimail_addon.engine.mime_out import (
    Headers,
    assemble,
    attachment_part,
    encode_header,
    message_date,
)
from civimail_addon.engine.smtp_out import PERMANENT, SENT, TEMPORARY, Outbox, Outgoing, deliver

LONG_URL = ("https://news.example.org/mailing/2/unsubscribe_oneclick?document_id=1007&email="
            "zoe%40example.com&hash_token=" + "0123456789abcdef" * 8)
HEADERS = [
    ("Message-Id", "<435172076562780.1795239463.729020357131958-openerp-reply_to@example.org>"),
    ("References", "<435172076562780.1795239463.729020357131958-openerp-reply_to@example.org>"),
    ("Subject", "Nouvelles pour Zoë Ünïcødé, \"Q\" — été ☀ and a subject long enough to be "
                "folded over several lines"),
    ("From", "=?utf-8?b?w4lxdWlwZSBOZXdz?= <news@example.org>"),
    ("Reply-To", '"Replies, Team" <replies@example.org>'),
    ("To", '"Zo\\"ë, Ünïcødé Person with a rather long name indeed" <zoe@example.com>'),
    ("Date", message_date()),
    ("X-Odoo-Objects", "res.partner-1007"),
    ("Return-Path", "return+b.1001.6d9098ac7b6b6ad6@bounces.example.org"),
    ("List-Unsubscribe", f"<{LONG_URL}>, "
                         "<mailto:return+b.1001.6d9098ac7b6b6ad6@bounces.example.org"
                         "?subject=unsubscribe>"),
    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ("Precedence", "list"),
    ("X-CiviMail-Trace", "1001"),
]
TEXT = "Dear Zoë,\n\nread [1]\n" + "x" * 120 + "\n\n[1] " + LONG_URL + "\n"
HTML = ("<!DOCTYPE html><html><head><style>p { color: red; }   </style></head><body>"
        + "<p>Dear Zoë, été</p>" * 30 + f'<a href="{LONG_URL}">read</a>' + "</body></html>")
FILES = [
    ("rapport été 2025 — version finale avec un nom de fichier vraiment très long.pdf",
     bytes(range(256)) * 40, "application/pdf"),
    ('notes "v2".txt', b"hello\n", "text/plain"),
    ("weird", b"\x00\x01", "not a mimetype"),
]


class HostPolicy(email.policy.EmailPolicy):
    """The SMTP policy as Odoo patches it (ir_mail_server.py): identification fields unfolded."""

    def _fold(self, name, value, *args, **kwargs):
        if name.lower() in {"message-id", "in-reply-to", "references", "resent-msg-id"}:
            return email.policy.SMTP.clone(max_line_length=None)._fold(name, value, *args,
                                                                      **kwargs)
        return super()._fold(name, value, *args, **kwargs)


HOST_POLICY = HostPolicy(linesep="\r\n")


def host_message(headers, text, html, files=()):
    """The message the host's build_email makes of the same parts (stdlib, Odoo's policy)."""
    message = EmailMessage(policy=HOST_POLICY)
    for name, value in headers:
        message[name] = value
    message["MIME-Version"] = "1.0"
    message.add_alternative(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    for name, content, mime in files:
        maintype, subtype = mime.split("/") if mime and "/" in mime else (
            "application", "octet-stream")
        message.add_attachment(content, maintype, subtype, filename=name)
    return message


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def content(part):
    """A part's decoded text, line ends normalized (the host's QP keeps CRLF, ours LF)."""
    return part.get_content().replace("\r\n", "\n")


def structure(message):
    return [part.get_content_type() for part in message.walk()]


def test_headers_decode_to_what_the_host_writes():
    ours = parse(assemble(HEADERS, TEXT, HTML))
    host = parse(bytes(host_message(HEADERS, TEXT, HTML)))
    assert [name.lower() for name in ours] == [name.lower() for name in host]
    for name in ("From", "To", "Reply-To"):
        assert ours[name].addresses == host[name].addresses, name
    for name in ("Subject", "Message-Id", "References", "List-Unsubscribe", "Return-Path",
                 "X-Odoo-Objects", "Date", "Precedence", "List-Unsubscribe-Post"):
        assert str(ours[name]) == str(host[name]), name
    assert ours["To"].addresses[0].display_name == 'Zo"ë, Ünïcødé Person with a rather long ' \
                                                   "name indeed"


def test_bodies_and_attachments_are_the_hosts():
    files = [attachment_part(*item) for item in FILES]
    ours = parse(assemble(HEADERS, TEXT, HTML, files))
    host = parse(bytes(host_message(HEADERS, TEXT, HTML, FILES)))
    assert structure(ours) == structure(host) == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html",
        "application/pdf", "text/plain", "application/octet-stream"]
    for kind in ("plain", "html"):
        assert content(ours.get_body((kind,))) == content(host.get_body((kind,)))
    assert [(part.get_filename(), part.get_content_type(), part.get_content())
            for part in ours.iter_attachments()] == \
        [(part.get_filename(), part.get_content_type(), part.get_content())
         for part in host.iter_attachments()]
    assert content(ours.get_body(("plain",))) == TEXT


def test_lines_are_short_and_crlf_terminated():
    html = "<p>" + "été " * 2000 + "</p>"  # one very long line
    data = assemble(HEADERS, "x" * 5000, html, [attachment_part(*FILES[0])])
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    # Lines holding encoded-words stay within RFC 2047's 76 characters.
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert all(len(line) <= 76 for line in head.split("\r\n") if "=?" in line)
    assert content(parse(data).get_body(("html",))) == html + "\n"


def test_ascii_text_with_short_lines_stays_7bit_else_quoted_printable_or_base64():
    data = assemble([("Subject", "Hi")], "short lines\n", "é" * 300)
    parts = list(parse(data).walk())[1:]
    assert parts[0]["Content-Transfer-Encoding"] == "7bit"
    assert parts[1]["Content-Transfer-Encoding"] == "base64"  # all non-ASCII: shorter
    data = assemble([("Subject", "Hi")], "x" * 100, "<p>été</p>" + "<p>text</p>" * 10)
    parts = list(parse(data).walk())[1:]
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["quoted-printable"] * 2


def test_header_values_cannot_inject_headers_and_bcc_is_dropped():
    data = assemble([("Subject", "Hi\r\nBcc: victim@example.org"), ("Bcc", "hidden@x.org")],
                    "text", "<p>html</p>")
    message = parse(data)
    assert message["Subject"] == "Hi Bcc: victim@example.org"
    assert message["Bcc"] is None
    assert b"hidden@x.org" not in data


def test_identification_fields_are_never_folded():
    long_id = "<" + "a" * 120 + "@example.org>"
    assert encode_header("Message-Id", long_id) == f"Message-Id: {long_id}\r\n".encode()
    assert encode_header("References", long_id).count(b"\r\n") == 1


def test_address_fields_the_assembler_cannot_write_fall_back_to_the_stdlib():
    value = "undisclosed-recipients:;"
    assert parse(b"".join([encode_header("To", value), b"\r\n"]))["To"] == value


def test_non_ascii_file_names_use_rfc2231():
    part = attachment_part("été.pdf", b"%PDF", "application/pdf")
    assert b"filename*=utf-8''%C3%A9t%C3%A9.pdf" in part


def test_message_rfc822_attachments_are_kept_as_they_are():
    inner = b"From: a@example.org\nSubject: inner\n\nbody\n"
    part = attachment_part("inner.eml", inner, "message/rfc822")
    assert b"Content-Transfer-Encoding: 7bit" in part
    assert b"From: a@example.org\r\nSubject: inner\r\n\r\nbody\r\n" in part
    attached = next(parse(assemble(HEADERS, TEXT, HTML, [part])).iter_attachments())
    assert attached.get_content()["Subject"] == "inner"


def test_headers_behave_like_a_message_for_the_hosts_envelope_code():
    headers = Headers([("From", "a@example.org"), ("To", "b@example.org"),
                       ("Bcc", "c@example.org")])
    assert headers["from"] == "a@example.org" and headers["Cc"] is None
    del headers["From"]
    headers["From"] = "d@example.org"
    del headers["bcc"]
    assert headers.items() == [("To", "b@example.org"), ("From", "d@example.org")]
    assert "to" in headers and "Bcc" not in headers


# -- the outbox, against the real SMTP sink -------------------------------------------------


def message(number):
    return Outgoing(number, "sink", "return@example.org", [f"reader{number}@example.com"],
                    assemble([("Subject", f"Hi {number}")], "text", "<p>html</p>"),
                    f"<{number}@example.org>")


@pytest.mark.parametrize("threaded", [True, False])
def test_outbox_sends_each_message_and_records_it_before_the_next(smtp_sink, threaded):
    seen = []

    def connect(route):
        assert route == "sink"
        return smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10)

    def accepted(outgoing, _delivery):
        # Recorded before the next transaction starts: the sink holds exactly this many.
        seen.append((outgoing.key, smtp_sink.count(), threading.current_thread().name))

    smtp_sink.reject("reader2@example.com", 550, "5.1.1 User unknown")
    outbox = Outbox(connect, accepted, threaded=threaded)
    try:
        outbox.send([message(n) for n in range(4)])
        results = outbox.results()
        outbox.send([message(4)])
        assert outbox.results()[4].outcome == SENT
    finally:
        outbox.close()
    assert [results[n].outcome for n in range(4)] == [SENT, SENT, PERMANENT, SENT]
    assert [(key, count) for key, count, _thread in seen] == [(0, 1), (1, 2), (3, 3), (4, 4)]
    assert all(name.startswith("civimail-outbox") == threaded for _k, _c, name in seen)


def test_outbox_reconnects_after_a_dropped_connection_and_reports_connect_failures(smtp_sink):
    opened = []

    def connect(route):
        if route == "down":
            raise ConnectionRefusedError("no server")
        opened.append(route)
        return smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10)

    smtp_sink.drop_connection_on("reader1@example.com")
    outbox = Outbox(connect, lambda outgoing, delivery: None)
    down = Outgoing(9, "down", "return@example.org", ["x@example.com"], b"Subject: x\r\n\r\nx\r\n")
    try:
        outbox.send([message(0), message(1), message(2), down])
        results = outbox.results()
    finally:
        outbox.close()
    assert [results[n].outcome for n in (0, 1, 2)] == [SENT, TEMPORARY, SENT]
    assert results[1].session_broken
    assert (results[9].outcome, results[9].stage) == (TEMPORARY, "connection")
    assert "no server" in results[9].message
    assert len(opened) == 2


def test_outbox_raises_what_recording_raised(smtp_sink):
    def accepted(outgoing, _delivery):
        raise RuntimeError("database gone")

    outbox = Outbox(lambda route: smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10),
                    accepted)
    try:
        outbox.send([message(0), message(1)])
        with pytest.raises(RuntimeError, match="database gone"):
            outbox.results()
    finally:
        outbox.close()
    assert smtp_sink.count() == 1  # the batch stopped at the first unrecorded message


def test_outbox_settles_each_record_before_the_next_message_is_accepted(smtp_sink):
    started, recorded = [], []

    def accepted(outgoing, _delivery):  # starts recording (as an asynchronous statement would)
        started.append(outgoing.key)

    def settle():  # before each DATA and at the end of the batch
        recorded.extend(key for key in started if key not in recorded)
        assert smtp_sink.count() == len(recorded), "a message was accepted unrecorded"

    outbox = Outbox(lambda route: smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10),
                    accepted, settle=settle)
    try:
        outbox.send([message(n) for n in range(3)])
        assert {outcome.outcome for outcome in outbox.results().values()} == {SENT}
    finally:
        outbox.close()
    assert recorded == [0, 1, 2]


def test_a_failing_ready_hook_sends_nothing_and_leaves_the_session_usable(smtp_sink):
    def ready():
        raise RuntimeError("previous message not recorded")

    session = smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10)
    try:
        with pytest.raises(RuntimeError, match="not recorded"):
            deliver(session, "return@example.org", ["a@example.com"], message(0).data, ready)
        assert smtp_sink.count() == 0
        assert deliver(session, "return@example.org", ["a@example.com"],
                       message(0).data).outcome == SENT
    finally:
        session.quit()
