"""The SMTP sink records real SMTP transactions and obeys runtime rules."""

import json
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from harness.launcher import ENV_VAR, attach, test_servers
from harness.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parents[2]


def _raw(subject="Sink check"):
    message = EmailMessage()
    message["From"] = "news@example.org"
    message["To"] = "a@example.net, b@example.net"
    message["Subject"] = subject
    message.set_content("Hello.\n")
    return message.as_bytes().replace(b"\n", b"\r\n")


def test_records_sender_recipients_and_data(smtp_sink):
    raw = _raw()
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        refused = client.sendmail("bounce@example.org", ["a@example.net", "b@example.net"], raw)
    assert refused == {}
    [message] = smtp_sink.wait_for(1)
    assert message.mail_from == "bounce@example.org"
    assert message.rcpt_tos == ["a@example.net", "b@example.net"]
    assert message.data == raw
    assert message["data"] == raw  # dict-style access works too
    assert message.message["Subject"] == "Sink check"


def test_reject_at_rcpt_only_affects_that_recipient(smtp_sink):
    smtp_sink.reject("b@example.net", 550, "5.1.1 No such user")
    smtp_sink.reject("*@full.example", 452, "4.2.2 Mailbox full")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        refused = client.sendmail(
            "bounce@example.org", ["a@example.net", "b@example.net", "c@full.example"], _raw()
        )
    assert refused == {
        "b@example.net": (550, b"5.1.1 No such user"),
        "c@full.example": (452, b"4.2.2 Mailbox full"),
    }
    [message] = smtp_sink.wait_for(1)
    assert message.rcpt_tos == ["a@example.net"]


def test_reject_at_data_and_clear_rules(smtp_sink):
    smtp_sink.reject("a@example.net", 554, "5.7.1 Message refused", stage="data")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("bounce@example.org", ["a@example.net"], _raw())
        assert refused.value.smtp_code == 554
        smtp_sink.clear_rules()
        client.sendmail("bounce@example.org", ["a@example.net"], _raw())
    assert len(smtp_sink.wait_for(1)) == 1


def test_drop_connection_closes_the_socket(smtp_sink):
    smtp_sink.drop_connection_on("gone@example.net")
    client = smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.sendmail("bounce@example.org", ["gone@example.net"], _raw())
    assert smtp_sink.messages() == []


def test_delay_holds_the_data_reply(smtp_sink):
    smtp_sink.set_delay(0.3)
    started = time.monotonic()
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.sendmail("bounce@example.org", ["a@example.net"], _raw())
    assert time.monotonic() - started >= 0.3
    assert len(smtp_sink.messages()) == 1


def test_starttls_verifies_against_the_run_ca(smtp_sink, tls_files):
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.starttls(context=ssl.create_default_context(cafile=tls_files.ca_file))
        client.login("any-user", "any-password")
        client.sendmail("bounce@example.org", ["a@example.net"], _raw())
    [message] = smtp_sink.wait_for(1)
    assert message.auth_login == "any-user"


def test_smtps_port_verifies_against_the_run_ca(smtp_sink, tls_files):
    context = ssl.create_default_context(cafile=tls_files.ca_file)
    with smtplib.SMTP_SSL(smtp_sink.host, smtp_sink.ssl_port, timeout=5,
                          context=context) as client:
        client.sendmail("bounce@example.org", ["a@example.net"], _raw())
    [message] = smtp_sink.wait_for(1)
    assert message.rcpt_tos == ["a@example.net"]
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(smtp_sink.host, smtp_sink.ssl_port, timeout=5,
                         context=ssl.create_default_context())


def test_many_messages_on_one_connection(smtp_sink):
    """Every message of a persistent connection is recorded, in order (speed is for bench/)."""
    count = 500
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        for number in range(count):
            client.sendmail("bounce@example.org", [f"r{number}@example.net"], _raw())
    messages = smtp_sink.wait_for(count)
    assert [m.rcpt_tos[0] for m in messages] == [f"r{n}@example.net" for n in range(count)]



def test_data_read_by_blocks_keeps_every_line_and_its_dots(smtp_sink):
    """Lines starting with dots, a line of one dot and a large body come back as sent."""
    body = b"".join(f"line {n:06d} {'x' * 60}\r\n".encode() for n in range(5000))
    raw = (b".Starts with a dot\r\nSubject: dots\r\n\r\n.\r\n..\r\n...end\r\nmiddle.\r\n"
           + body + b".")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.sendmail("bounce@example.org", ["a@example.net"], raw)
    [message] = smtp_sink.wait_for(1)
    assert message.data == raw + b"\r\n"  # smtplib ends the data with a line break


def test_data_then_next_command_in_one_write(smtp_sink):
    """What follows the end of DATA in the same packet is the next command, not data."""
    with socket.create_connection((smtp_sink.host, smtp_sink.port), timeout=5) as conn:
        replies = conn.makefile("rb")

        def reply():
            line = replies.readline()
            while line[3:4] == b"-":
                line = replies.readline()
            return line

        assert reply().startswith(b"220")
        for command in (b"EHLO client", b"MAIL FROM:<bounce@example.org>",
                        b"RCPT TO:<a@example.net>", b"DATA"):
            conn.sendall(command + b"\r\n")
            reply()
        conn.sendall(b"Subject: one\r\n\r\nbody\r\n.\r\nMAIL FROM:<next@example.org>\r\n")
        assert reply().startswith(b"250 2.0.0")
        assert reply().startswith(b"250")  # MAIL FROM of the next transaction
        for command in (b"RCPT TO:<b@example.net>", b"DATA", b".", b"QUIT"):
            conn.sendall(command + b"\r\n")
            reply()
    first, second = smtp_sink.wait_for(2)
    assert first.data == b"Subject: one\r\n\r\nbody\r\n"
    assert (second.mail_from, second.rcpt_tos, second.data) == ("next@example.org",
                                                                ["b@example.net"], b"")

def test_a_reply_of_several_lines_is_sent_as_a_multiline_reply(smtp_sink):
    smtp_sink.reject("b@example.net", 550, "5.1.1 The account does not exist.\n5.1.1 Check it.")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.ehlo()
        client.mail("bounce@example.org")
        code, text = client.rcpt("b@example.net")
    # smtplib joins the lines of a multi-line reply ("550-..." then "550 ...").
    assert (code, text) == (550, b"5.1.1 The account does not exist.\n5.1.1 Check it.")


def test_greeting_refusal_and_silence():
    with SmtpSink(greeting="554-5.7.1 Blocked\r\n554 5.7.1 see the postmaster page") as refusing:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP(refusing.host, refusing.port, timeout=5)
        assert refused.value.smtp_code == 554
        with socket.create_connection((refusing.host, refusing.port), timeout=5) as raw:
            reader = raw.makefile("rb")
            assert reader.readline().startswith(b"554-5.7.1")
            reader.readline()
            raw.sendall(b"EHLO client.example\r\nQUIT\r\n")
            assert reader.readline().startswith(b"503 ")  # RFC 5321 3.1: only QUIT
            assert reader.readline().startswith(b"221 ")
    with SmtpSink(silent=True) as silent, pytest.raises(smtplib.SMTPServerDisconnected,
                                                        match="timed out"):
        smtplib.SMTP(silent.host, silent.port, timeout=0.5)


def test_clear_forgets_messages(smtp_sink):
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.sendmail("bounce@example.org", ["a@example.net"], _raw())
    smtp_sink.wait_for(1)
    smtp_sink.clear()
    assert smtp_sink.messages() == []


def test_launcher_description_gives_working_controllers():
    with test_servers() as json_path:
        description = json.loads(Path(json_path).read_text())
        assert {"dovecot", "smtp", "dns", "tls"} <= set(description)
        servers = attach(json_path)
        sink = SmtpSink.from_description(description["smtp"])
        sink.reject("no@example.net", 550, "5.1.1 No such user")
        with smtplib.SMTP(description["smtp"]["host"], description["smtp"]["port"]) as client:
            refused = client.sendmail("b@example.org", ["a@example.net", "no@example.net"], _raw())
        assert list(refused) == ["no@example.net"]
        assert [m.rcpt_tos for m in servers.smtp.wait_for(1)] == [["a@example.net"]]
        servers.dns.set_zones({"example.org": '@ TXT "ok"\n'})
        answer = servers.dns.resolver().resolve("example.org", "TXT")
        assert answer[0].strings == (b"ok",)
        servers.dovecot.stop()
        assert not servers.dovecot.is_running()
        servers.dovecot.start()
        assert servers.dovecot.is_running()
        servers.dovecot.stop()  # the controller reaps what it started


def test_launcher_command_line_runs_a_command_with_the_servers():
    script = (
        "import os, smtplib, sys\n"
        "from harness.launcher import attach\n"
        "servers = attach()\n"
        "with smtplib.SMTP(servers.smtp.host, servers.smtp.port) as client:\n"
        "    client.sendmail('a@example.org', ['b@example.org'], b'Subject: x\\r\\n\\r\\n')\n"
        "servers.smtp.wait_for(1)\n"
        "assert servers.dovecot.is_running()\n"
        "sys.exit(7)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "harness.launcher", "--", sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 7, result.stderr
    assert ENV_VAR not in result.stdout
