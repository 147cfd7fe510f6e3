"""Hostile messages for the analyzer: the shapes that cost quadratic time before.

Shared by the fuzz test (``test_engine_hostile.py``) and ``bench/bench_hostile.py``.
Each builder takes a size in bytes and returns a message of about that size.
"""

from __future__ import annotations

VERP_TO = "return+b.42.0123456789abcdef@example.org"


def _dsn(notice: str = "", status: str = "5.1.1", recipients: str = "",
         to: str = VERP_TO, tail: str = "") -> bytes:
    recipients = recipients or (
        "Final-Recipient: rfc822; gone@example.net\nAction: failed\n"
        f"Status: {status}\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n")
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
        f"To: {to}\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        f"--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n{notice}\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"{recipients}--b\nContent-Type: text/plain\n\n{tail}\n--b--\n").encode()


def parens_in_status(size: int) -> bytes:
    return _dsn(status="5.1.1 " + "(" * size)


def parens_in_notice(size: int) -> bytes:
    return _dsn(notice="in reply to RCPT TO (" + "(" * size)


def nested_comments_in_to(size: int) -> bytes:
    return _dsn(to="(" * (size // 2) + VERP_TO + ")" * (size // 2))


def blank_lines_in_notice(size: int) -> bytes:
    return _dsn(notice="in reply to " + "\n" * 100_000 + " " * (size - 100_000) + "x")


def blank_lines_after_address(size: int) -> bytes:
    body = "could not be delivered to:\n<gone@example.net>\n" + "\n" * size
    return ("From: MAILER-DAEMON@mx.example.net\nTo: " + VERP_TO
            + "\nSubject: Undelivered Mail\n\n" + body).encode()


def address_characters(size: int) -> bytes:
    run = "a" * (size // 2)
    return _dsn(recipients=f"Final-Recipient: rfc822; {run}\nAction: failed\nStatus: 5.1.1\n\n",
                notice=run)


def five_thousand_recipients(size: int) -> bytes:
    block = ("Final-Recipient: rfc822; user{0}@example.net\nAction: failed\nStatus: 5.1.1\n"
             "Diagnostic-Code: smtp; 550 5.1.1 <user{0}@example.net>: User unknown\n\n")
    recipients = "".join(block.format(number) for number in range(5000))
    return _dsn(recipients=recipients, tail="x" * max(size - len(recipients), 0))


def five_thousand_verp_addresses(size: int) -> bytes:
    to = ", ".join(f"return+b.{n}.0123456789abcdef@example.org" for n in range(5000))
    return _dsn(to=to, tail="x" * max(size - len(to), 0))


def unclosed_html(size: int) -> bytes:
    html = "<script" * (size // 7)
    return ("From: MAILER-DAEMON@mx.example.net\nTo: " + VERP_TO
            + "\nSubject: Undelivered Mail\nContent-Type: text/html\n\n" + html).encode()


def encoded_words(size: int) -> bytes:
    subject = " ".join(["=?utf-8?q?Undelivered_mail?="] * (size // 30))
    return ("From: MAILER-DAEMON@mx.example.net\nTo: " + VERP_TO + "\nSubject: " + subject
            + "\n\n550 5.1.1 <gone@example.net>: User unknown\n").encode()


def urls(size: int) -> bytes:
    return _dsn(notice="http://" * (size // 7))


HOSTILE_MESSAGES = {
    "100,000 ( in a Status comment": parens_in_status,
    "( after a stage phrase": parens_in_notice,
    "nested comments in To": nested_comments_in_to,
    "100,000 blank lines in the notice": blank_lines_in_notice,
    "blank lines after an address": blank_lines_after_address,
    "address characters, no @": address_characters,
    "5,000 recipients": five_thousand_recipients,
    "5,000 VERP addresses": five_thousand_verp_addresses,
    "unclosed <script> tags": unclosed_html,
    "encoded words in Subject": encoded_words,
    "URL prefixes": urls,
}
