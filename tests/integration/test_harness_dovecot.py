"""The Dovecot fixture speaks real IMAP/POP3 over verified TLS."""

import imaplib
import poplib
import socket
import ssl
from email.message import EmailMessage

import imapclient
import pytest


def _message(subject="Harness check", body="Hello from the harness.\n"):
    message = EmailMessage()
    message["From"] = "sender@example.org"
    message["To"] = "test@example.org"
    message["Subject"] = subject
    message.set_content(body)
    return message.as_bytes().replace(b"\n", b"\r\n")


def _context(dovecot):
    return ssl.create_default_context(cafile=dovecot.ca_file)


def _imaps(dovecot):
    client = imapclient.IMAPClient(
        dovecot.host, dovecot.imaps_port, ssl=True, ssl_context=_context(dovecot), timeout=5
    )
    client.login(dovecot.user, dovecot.password)
    return client


def test_imaps_append_then_read_back(dovecot):
    raw = _message()
    with _imaps(dovecot) as client:
        client.append("INBOX", raw)
        client.select_folder("INBOX")
        uids = client.search()
        assert len(uids) == 1
        fetched = client.fetch(uids, ["RFC822"])[uids[0]][b"RFC822"]
    assert fetched == raw


def test_imap_starttls_sees_the_message(dovecot):
    dovecot.deliver(_message(subject="Via maildir"))
    client = imapclient.IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=5)
    assert b"STARTTLS" in client.capabilities()
    client.starttls(_context(dovecot))
    client.login(dovecot.user, dovecot.password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["SUBJECT", "Via maildir"])
    assert len(uids) == 1
    client.logout()


def test_pop3s_and_pop3_stls_see_the_message(dovecot):
    dovecot.deliver(_message())
    pop = poplib.POP3_SSL(dovecot.host, dovecot.pop3s_port, context=_context(dovecot), timeout=5)
    pop.user(dovecot.user)
    pop.pass_(dovecot.password)
    assert pop.stat()[0] == 1
    lines = pop.retr(1)[1]
    assert b"Subject: Harness check" in lines
    pop.quit()

    pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=5)
    pop.stls(_context(dovecot))
    pop.user(dovecot.user)
    pop.pass_(dovecot.password)
    assert pop.stat()[0] == 1
    pop.quit()


def test_wrong_password_is_an_auth_error(dovecot):
    client = imapclient.IMAPClient(
        dovecot.host, dovecot.imaps_port, ssl_context=_context(dovecot), timeout=5
    )
    with pytest.raises(imapclient.exceptions.LoginError, match="AUTHENTICATIONFAILED"):
        client.login(dovecot.user, "wrong password")
    pop = poplib.POP3_SSL(dovecot.host, dovecot.pop3s_port, context=_context(dovecot), timeout=5)
    pop.user(dovecot.user)
    with pytest.raises(poplib.error_proto, match="AUTH"):
        pop.pass_("wrong password")


def test_plaintext_login_without_tls_is_refused(dovecot):
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
    with pytest.raises(imaplib.IMAP4.error):
        client.login(dovecot.user, dovecot.password)


def test_client_not_trusting_the_ca_fails_the_handshake(dovecot):
    untrusting = ssl.create_default_context()  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(dovecot.host, dovecot.imaps_port, ssl_context=untrusting, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        poplib.POP3_SSL(dovecot.host, dovecot.pop3s_port, context=untrusting, timeout=5)


def test_reset_mailbox_empties_every_folder(dovecot):
    with _imaps(dovecot) as client:
        client.create_folder("Archive.2024")
        client.append("Archive.2024", _message())
        client.append("INBOX", _message())
    dovecot.reset_mailbox()
    with _imaps(dovecot) as client:
        assert [name for _flags, _sep, name in client.list_folders()] == ["INBOX"]
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_deliver_to_subfolder_uses_maildirplusplus(dovecot):
    path = dovecot.deliver(_message(), folder="Lists.Civi")
    assert path.startswith(f"{dovecot.maildir}/.Lists.Civi/new/")
    with _imaps(dovecot) as client:
        assert client.select_folder("Lists.Civi")[b"EXISTS"] == 1


def test_extra_user_has_its_own_mailbox(dovecot):
    dovecot.add_user("other", "other-secret")
    dovecot.deliver(_message(), user="other")
    client = imapclient.IMAPClient(
        dovecot.host, dovecot.imaps_port, ssl_context=_context(dovecot), timeout=5
    )
    client.login("other", "other-secret")
    assert client.select_folder("INBOX")[b"EXISTS"] == 1
    client.logout()
    with _imaps(dovecot) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_stop_then_start_simulates_an_outage(dovecot):
    with _imaps(dovecot) as client:
        client.append("INBOX", _message())
    dovecot.stop()
    for port in (dovecot.imaps_port, dovecot.imap_port, dovecot.pop3s_port, dovecot.pop3_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((dovecot.host, port), timeout=2)
    dovecot.start()
    with _imaps(dovecot) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
