"""The mailbox reader against a real Dovecot (IMAP, POP3) and real folders.

Every flow runs on all six ways in (IMAPS, IMAP+STARTTLS, POP3S, POP3+STLS,
Maildir, plain directory) and checks the result where it lives: on the server
through a separate IMAP session, or on disk.
"""

from __future__ import annotations

import ssl
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest

from civimail_addon.engine.mailbox import (
    IGNORED,
    PROCESSED,
    ConnectionReport,
    MailboxError,
    MailboxMessage,
    MailboxSettings,
    check_connection,
    default_port,
    open_mailbox,
)

PASSWORD_IN_TEST = "Wr0ng-but-Distinctive"


def make_message(number: int, body_size: int = 0) -> bytes:
    message = EmailMessage()
    message["From"] = "mailer-daemon@example.org"
    message["To"] = "bounces@example.org"
    message["Subject"] = f"Message {number}"
    message.set_content(f"Body of message {number}.\n" + "x" * body_size + "\n")
    return message.as_bytes().replace(b"\n", b"\r\n")


def subject_of(raw: bytes) -> str:
    for line in raw.split(b"\r\n"):
        if line.startswith(b"Subject: "):
            return line[len(b"Subject: "):].decode()
    raise AssertionError("no subject")


class Backend:
    """One way in: seeds messages and inspects the result where it lives."""

    def __init__(self, kind: str, dovecot, tmp_path: Path, folder: str = "INBOX"):
        self.kind, self.dovecot, self.tmp_path, self.folder = kind, dovecot, tmp_path, folder
        self.directory = tmp_path / "spool"
        if kind == "directory":
            self.directory.mkdir()
        if kind == "maildir":
            for sub in ("cur", "new", "tmp"):
                (dovecot.folder_path("Local") / sub).mkdir(parents=True, exist_ok=True)

    @property
    def remote(self) -> bool:
        return self.kind.startswith(("imap", "pop3"))

    @property
    def has_folders(self) -> bool:
        return not self.kind.startswith("pop3")

    def settings(self, **changes) -> MailboxSettings:
        dovecot = self.dovecot
        protocol, port, security = {
            "imaps": ("imap", dovecot.imaps_port, "ssl"),
            "imap-starttls": ("imap", dovecot.imap_port, "starttls"),
            "pop3s": ("pop3", dovecot.pop3s_port, "ssl"),
            "pop3-stls": ("pop3", dovecot.pop3_port, "starttls"),
            "maildir": ("maildir", 0, "ssl"),
            "directory": ("directory", 0, "ssl"),
        }[self.kind]
        base = {"protocol": protocol, "port": port, "security": security}
        if self.kind in ("maildir", "directory"):
            base["path"] = str(self._local_root())
        if self.remote:
            base.update(host="localhost", username=dovecot.user, password=dovecot.password,
                        cafile=dovecot.ca_file, folder=self.folder, timeout=10)
        base.update(changes)
        return MailboxSettings(**base)

    def seed(self, count: int, start: int = 0, body_size: int = 0) -> None:
        for number in range(start, start + count):
            raw = make_message(number, body_size)
            if self.kind == "directory":
                (self.directory / f"message-{number:05d}.eml").write_bytes(raw)
            elif self.kind == "maildir":
                self.dovecot.deliver(raw, "Local")
            else:
                self.dovecot.deliver(raw, self.folder)

    def imap(self) -> imapclient.IMAPClient:
        dovecot = self.dovecot
        client = imapclient.IMAPClient(
            dovecot.host, dovecot.imaps_port,
            ssl_context=ssl.create_default_context(cafile=dovecot.ca_file), timeout=10,
        )
        client.login(dovecot.user, dovecot.password)
        return client

    def _local_root(self) -> Path:
        return self.directory if self.kind == "directory" else self.dovecot.folder_path("Local")

    def subjects(self, where: str = "") -> list[str]:
        """Subjects in the source (where="") or in the processed/ignored folder."""
        if self.kind in ("maildir", "directory"):
            root = self._local_root() / where if where else self._local_root()
            if not root.is_dir():
                return []
            subfolders = ("new", "cur") if self.kind == "maildir" else ("",)
            files = [path for sub in subfolders for path in (root / sub).iterdir()
                     if path.is_file() and not path.name.startswith(".")]
            return sorted(subject_of(path.read_bytes()) for path in files)
        folder = f"{self.folder}.{where}" if where else self.folder
        with self.imap() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            messages = client.fetch(client.search(), ["BODY.PEEK[]"])
        return sorted(subject_of(data[b"BODY[]"]) for data in messages.values())


ALL_KINDS = ["imaps", "imap-starttls", "pop3s", "pop3-stls", "maildir", "directory"]
REMOTE_KINDS = ["imaps", "imap-starttls", "pop3s", "pop3-stls"]


@pytest.fixture(params=ALL_KINDS)
def backend(request, dovecot, tmp_path):
    return Backend(request.param, dovecot, tmp_path)


@pytest.fixture(params=REMOTE_KINDS)
def remote(request, dovecot, tmp_path):
    return Backend(request.param, dovecot, tmp_path)


def subjects(numbers) -> list[str]:
    return sorted(f"Message {number}" for number in numbers)


# -- reading and marking ------------------------------------------------------------------


def test_read_all_in_batches_and_mark(backend):
    backend.seed(7)
    seen: list[MailboxMessage] = []
    with open_mailbox(backend.settings(batch_size=3)) as box:
        assert box.count() == 7
        sizes = []
        for batch in box.batches():
            sizes.append(len(batch))
            seen.extend(batch)
            # Even messages are "processed", odd ones "ignored".
            box.mark([m.uid for m in batch if int(subject_of(m.raw).split()[1]) % 2 == 0],
                     PROCESSED)
            box.mark([m.uid for m in batch if int(subject_of(m.raw).split()[1]) % 2], IGNORED)
    assert sizes == [3, 3, 1]
    assert sorted(subject_of(m.raw) for m in seen) == subjects(range(7))
    assert all(m.skip_reason == "" and m.size == len(m.raw) for m in seen)
    assert len({m.uid for m in seen}) == 7
    assert backend.subjects() == []
    if backend.has_folders:
        assert backend.subjects(PROCESSED) == subjects([0, 2, 4, 6])
        assert backend.subjects(IGNORED) == subjects([1, 3, 5])


def test_raw_bytes_are_the_message_as_delivered(backend):
    raw = make_message(1, body_size=5000)  # lines longer than POP3's usual 2048 limit
    raw = raw.replace(b"x" * 5000, b"x" * 5000 + b"\r\n.starts with a dot\r\n..two dots")
    if backend.kind == "directory":
        (backend.directory / "one.eml").write_bytes(raw)
    else:
        backend.dovecot.deliver(raw, "Local" if backend.kind == "maildir" else "INBOX")
    with open_mailbox(backend.settings()) as box:
        (message,) = [m for batch in box.batches() for m in batch]
    assert message.raw == raw
    assert message.size == len(raw)


def test_limit_and_batch_size_are_respected(backend):
    backend.seed(10)
    with open_mailbox(backend.settings(batch_size=3)) as box:
        batches = list(box.batches(limit=7))
        assert [len(batch) for batch in batches] == [3, 3, 1]
        read = [m for batch in batches for m in batch]
        box.mark([m.uid for m in read], PROCESSED)
        assert list(box.batches(limit=0)) == []
    with open_mailbox(backend.settings(batch_size=3)) as box:
        assert box.count() == 3
        rest = [m for batch in box.batches() for m in batch]
    assert sorted(subject_of(m.raw) for m in read + rest) == subjects(range(10))


def test_unmarked_messages_do_not_hide_later_ones(backend):
    """Reading on while leaving some messages in place still reads each once."""
    backend.seed(10)
    with open_mailbox(backend.settings(batch_size=3)) as box:
        read = []
        for batch in box.batches():
            read.extend(batch)
            box.mark([batch[0].uid], PROCESSED)  # the others stay in the source
    assert sorted(subject_of(m.raw) for m in read) == subjects(range(10))
    assert len({m.uid for m in read}) == 10
    kept = {subject_of(m.raw) for m in read} - {subject_of(m.raw) for m in read[0::3]}
    assert backend.subjects() == sorted(kept)


def test_crash_before_mark_leaves_messages_in_place(backend):
    backend.seed(4)
    with pytest.raises(RuntimeError, match="crash"), open_mailbox(backend.settings()) as box:
        first = [m for batch in box.batches() for m in batch]
        raise RuntimeError("crash while processing, before the commit")
    assert backend.subjects() == subjects(range(4))
    with open_mailbox(backend.settings()) as box:
        assert box.count() == 4
        again = [m for batch in box.batches() for m in batch]
    # Same ids in the next session: the caller can recognise what it saw.
    assert sorted(m.uid for m in again) == sorted(m.uid for m in first)
    assert [m.raw for m in sorted(again, key=lambda m: m.uid)] == [
        m.raw for m in sorted(first, key=lambda m: m.uid)
    ]


def test_marks_made_before_a_crash_are_kept(backend):
    backend.seed(4)
    with pytest.raises(RuntimeError), open_mailbox(backend.settings(batch_size=2)) as box:
        for batch in box.batches():
            box.mark([m.uid for m in batch], PROCESSED)  # committed, then marked
            raise RuntimeError("crash in the second batch")
    assert len(backend.subjects()) == 2


def test_too_large_message_is_skipped_with_a_reason(backend):
    backend.seed(1, start=0)
    backend.seed(1, start=1, body_size=3000)
    backend.seed(1, start=2)
    limit = 2000
    with open_mailbox(backend.settings(max_message_size=limit)) as box:
        (batch,) = list(box.batches())
        assert len(batch) == 3
        big = [m for m in batch if m.raw is None]
        small = [m for m in batch if m.raw is not None]
        assert len(big) == 1 and len(small) == 2
        assert big[0].size > limit
        expected = f"message of {big[0].size / 1024:.1f} KB exceeds the 2 KB limit"
        assert big[0].skip_reason == expected
        assert sorted(subject_of(m.raw) for m in small) == subjects([0, 2])
        box.mark([big[0].uid], IGNORED)
        box.mark([m.uid for m in small], PROCESSED)
    assert backend.subjects() == []
    if backend.has_folders:
        assert backend.subjects(IGNORED) == subjects([1])
        assert backend.subjects(PROCESSED) == subjects([0, 2])


def test_check_connection_reports_the_count(backend):
    backend.seed(3)
    report = check_connection(backend.settings())
    assert isinstance(report, ConnectionReport)
    assert report.message_count == 3
    if backend.remote:
        assert report.steps[0] == "resolved localhost to 127.0.0.1"
        assert report.steps[1].startswith("connected to 127.0.0.1 port ")
        tls = "STARTTLS" if backend.kind.endswith(("starttls", "stls")) else "TLS"
        assert report.steps[2].startswith(f"{tls} negotiated (TLSv1.")
        assert report.steps[3] == "logged in as test"
        assert report.folder == "INBOX"
    else:
        assert report.folder == backend.settings().path


def test_empty_mailbox(backend):
    with open_mailbox(backend.settings()) as box:
        assert box.count() == 0
        assert list(box.batches()) == []


# -- IMAP specifics --------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["INBOX.CiviMail", "INBOX/CiviMail"])
def test_imap_both_separator_spellings(dovecot, tmp_path, spelling):
    backend = Backend("imaps", dovecot, tmp_path, folder="INBOX.CiviMail")
    backend.seed(2)
    dovecot.deliver(make_message(99))  # in INBOX, must not be read
    with open_mailbox(backend.settings(folder=spelling)) as box:
        assert box.folder == "INBOX.CiviMail"
        assert box.separator == "."
        read = [m for batch in box.batches() for m in batch]
        box.mark([m.uid for m in read], PROCESSED)
    assert sorted(subject_of(m.raw) for m in read) == subjects([0, 1])
    with backend.imap() as client:
        names = {name for _flags, _sep, name in client.list_folders()}
    assert "INBOX.CiviMail.processed" in names
    assert backend.subjects(PROCESSED) == subjects([0, 1])
    assert Backend("imaps", dovecot, tmp_path).subjects() == subjects([99])


def test_imap_target_folders_are_created_when_missing(dovecot, tmp_path):
    backend = Backend("imaps", dovecot, tmp_path)
    backend.seed(2)
    with backend.imap() as client:
        assert not client.folder_exists("INBOX.processed")
        assert not client.folder_exists("INBOX.ignored")
    with open_mailbox(backend.settings()) as box:
        first, second = [m for batch in box.batches() for m in batch]
        box.mark([first.uid], PROCESSED)
        box.mark([second.uid], IGNORED)
    with backend.imap() as client:
        assert client.folder_exists("INBOX.processed")
        assert client.folder_exists("INBOX.ignored")
        # Subscribed, so that people looking with a mail client see them too.
        subscribed = {name for _flags, _sep, name in client.list_sub_folders()}
    assert {"INBOX.processed", "INBOX.ignored"} <= subscribed


def test_imap_existing_target_folder_is_reused(dovecot, tmp_path):
    backend = Backend("imaps", dovecot, tmp_path)
    dovecot.deliver(make_message(50), "INBOX.processed")
    backend.seed(1)
    with open_mailbox(backend.settings()) as box:
        box.mark([m.uid for batch in box.batches() for m in batch], PROCESSED)
    assert backend.subjects(PROCESSED) == subjects([0, 50])


def test_imap_copy_fallback_without_move(dovecot, tmp_path):
    backend = Backend("imaps", dovecot, tmp_path)
    backend.seed(5)
    with open_mailbox(backend.settings(batch_size=2)) as box:
        assert box.use_move  # Dovecot offers MOVE; switch to COPY + \Deleted + EXPUNGE
        box.use_move = False
        for batch in box.batches():
            box.mark([m.uid for m in batch], PROCESSED)
        assert box.count() == 0
    assert backend.subjects() == []
    assert backend.subjects(PROCESSED) == subjects(range(5))
    with backend.imap() as client:
        client.select_folder("INBOX.processed", readonly=True)
        flags = client.get_flags(client.search())
    assert all(b"\\Deleted" not in value for value in flags.values())


def test_imap_reading_never_sets_seen(dovecot, tmp_path):
    backend = Backend("imaps", dovecot, tmp_path)
    backend.seed(3)
    with open_mailbox(backend.settings()) as box:
        assert len([m for batch in box.batches() for m in batch]) == 3
    with backend.imap() as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search())
    assert len(flags) == 3
    assert all(b"\\Seen" not in value for value in flags.values())


def test_imap_batch_stops_before_the_byte_budget(dovecot, tmp_path):
    backend = Backend("imaps", dovecot, tmp_path)
    backend.seed(6, body_size=1000)
    with open_mailbox(backend.settings(batch_size=100, max_batch_bytes=2500)) as box:
        sizes = [len(batch) for batch in box.batches()]
    assert sizes == [2, 2, 2]


def test_non_ascii_password(dovecot, tmp_path):
    dovecot.add_user("utf", "pässwörd-ünïcode")
    backend = Backend("imaps", dovecot, tmp_path)
    for kind in ("imaps", "pop3s"):
        settings = replace(Backend(kind, dovecot, tmp_path).settings(),
                           username="utf", password="pässwörd-ünïcode")
        assert check_connection(settings).message_count == 0
    assert backend.kind == "imaps"


# -- failures, each at its own step -------------------------------------------------------------


def test_wrong_password_is_an_authentication_error(remote):
    settings = remote.settings(password=PASSWORD_IN_TEST)
    with pytest.raises(MailboxError) as caught:
        open_mailbox(settings)
    error = caught.value
    assert error.step == "authentication"
    assert f"localhost:{settings.port}" in str(error)
    assert "user 'test'" in str(error)
    assert "Authentication failed" in str(error)
    assert PASSWORD_IN_TEST not in str(error)
    assert PASSWORD_IN_TEST not in error.reason
    assert PASSWORD_IN_TEST not in repr(settings)


def test_stopped_server_is_a_tcp_error(remote):
    settings = remote.settings()
    remote.dovecot.stop()
    with pytest.raises(MailboxError) as caught:
        check_connection(settings)
    assert caught.value.step == "tcp"
    assert f"localhost:{settings.port}" in str(caught.value)
    assert "connection refused" in str(caught.value)


def test_unknown_host_is_a_dns_error(remote):
    with pytest.raises(MailboxError) as caught:
        check_connection(remote.settings(host="no-such-host.invalid"))
    assert caught.value.step == "dns"
    assert "no-such-host.invalid" in str(caught.value)


def test_untrusted_certificate_is_a_tls_error(remote):
    with pytest.raises(MailboxError) as caught:
        check_connection(remote.settings(cafile=None))  # system CAs do not know ours
    error = caught.value
    assert error.step == "tls"
    assert "certificate not trusted" in str(error)
    assert "'accept self-signed certificate'" in str(error)
    assert f"localhost:{remote.settings().port}" in str(error)


def test_accept_self_signed_certificate(remote):
    remote.seed(2)
    settings = remote.settings(cafile=None, verify_certificate=False)
    report = check_connection(settings)
    assert report.message_count == 2
    assert any("certificate not verified" in step for step in report.steps)


def test_host_name_mismatch_is_a_tls_error(remote):
    # "127.1" reaches 127.0.0.1 but is no name the certificate covers (localhost, 127.0.0.1).
    with pytest.raises(MailboxError) as caught:
        check_connection(remote.settings(host="127.1"))
    assert caught.value.step == "tls"
    assert "certificate does not match the host name" in str(caught.value)
    assert "'accept self-signed certificate'" in str(caught.value)


def test_implicit_tls_on_a_plain_port_is_a_tls_error(dovecot, tmp_path):
    backend = Backend("imaps", dovecot, tmp_path)
    with pytest.raises(MailboxError) as caught:
        check_connection(backend.settings(port=dovecot.imap_port))
    assert caught.value.step == "tls"
    assert "STARTTLS or no encryption" in str(caught.value)


def test_plaintext_on_a_tls_port_is_a_protocol_error(dovecot, tmp_path):
    backend = Backend("pop3s", dovecot, tmp_path)
    with pytest.raises(MailboxError) as caught:
        check_connection(backend.settings(security="starttls", timeout=1))
    assert caught.value.step == "protocol"
    assert "POP3" in str(caught.value)


def test_missing_imap_folder_is_a_folder_error(dovecot, tmp_path):
    backend = Backend("imaps", dovecot, tmp_path)
    dovecot.deliver(make_message(1), "Archive")
    with pytest.raises(MailboxError) as caught:
        check_connection(backend.settings(folder="INBOX.CiviMail"))
    error = caught.value
    assert error.step == "folder"
    assert "'INBOX.CiviMail' does not exist" in str(error)
    assert "'Archive'" in str(error)  # existing folders are listed


@pytest.mark.parametrize("kind", ["maildir", "directory"])
def test_missing_local_path_is_a_folder_error(dovecot, tmp_path, kind):
    settings = Backend(kind, dovecot, tmp_path).settings(path=str(tmp_path / "absent"))
    with pytest.raises(MailboxError) as caught:
        open_mailbox(settings)
    assert caught.value.step == "folder"
    assert str(tmp_path / "absent") in str(caught.value)


def test_directory_that_is_no_maildir_is_a_folder_error(tmp_path):
    with pytest.raises(MailboxError) as caught:
        open_mailbox(MailboxSettings("maildir", path=str(tmp_path)))
    assert caught.value.step == "folder"
    assert "not a Maildir" in str(caught.value)


@pytest.mark.parametrize(("settings", "words"), [
    (MailboxSettings("smtp", host="mail.example.org"), "unknown protocol 'smtp'"),
    (MailboxSettings("imap", username="u"), "needs a host name"),
    (MailboxSettings("pop3", host="h", username="u", security="tls"), "unknown security 'tls'"),
    (MailboxSettings("maildir"), "needs a path"),
    (MailboxSettings("directory", path="  "), "needs a path"),
    (MailboxSettings("imap", host="h"), "a user name is required"),
    (MailboxSettings("imap", host="h", username="u", batch_size=0), "batch size"),
    (MailboxSettings("imap", host="h", username="u", cafile="/nonexistent/ca.pem"),
     "CA file '/nonexistent/ca.pem' could not be loaded"),
])
def test_bad_settings_are_a_settings_error(settings, words):
    with pytest.raises(MailboxError) as caught:
        check_connection(settings)
    assert caught.value.step == "settings"
    assert words in str(caught.value)


def test_default_ports():
    assert default_port("imap", "ssl") == 993
    assert default_port("imap", "starttls") == 143
    assert default_port("imap", "none") == 143
    assert default_port("pop3", "ssl") == 995
    assert default_port("pop3", "starttls") == 110
    assert default_port("maildir", "ssl") == 0
    assert default_port("directory", "none") == 0
    assert MailboxSettings("imap", host="h").effective_port == 993


def test_password_is_not_in_repr():
    settings = MailboxSettings("imap", host="h", username="u", password=PASSWORD_IN_TEST)
    assert PASSWORD_IN_TEST not in repr(settings)


def test_mark_refuses_unknown_targets(tmp_path):
    with open_mailbox(MailboxSettings("directory", path=str(tmp_path))) as box, \
            pytest.raises(ValueError, match="processed"):
        box.mark(["x"], "trash")


# -- local specifics --------------------------------------------------------------------------


def test_maildir_marks_into_sibling_maildirs(dovecot, tmp_path):
    backend = Backend("maildir", dovecot, tmp_path)
    backend.seed(2)
    root = dovecot.folder_path("Local")
    # A message another client already looked at lives in cur/ with flags.
    (root / "cur" / "1700000000.seen.host:2,S").write_bytes(make_message(7))
    with open_mailbox(backend.settings()) as box:
        read = [m for batch in box.batches() for m in batch]
        box.mark([m.uid for m in read if subject_of(m.raw) != "Message 7"], PROCESSED)
        box.mark(["1700000000.seen.host:2,S"], IGNORED)
    assert sorted(subject_of(m.raw) for m in read) == subjects([0, 1, 7])
    for target in (PROCESSED, IGNORED):
        assert sorted(p.name for p in (root / target).iterdir()) == ["cur", "new", "tmp"]
    assert len(list((root / PROCESSED / "new").iterdir())) == 2
    assert [p.name for p in (root / IGNORED / "cur").iterdir()] == ["1700000000.seen.host:2,S"]
    assert list((root / "new").iterdir()) == [] and list((root / "cur").iterdir()) == []


def test_directory_reads_only_regular_files_at_the_top(dovecot, tmp_path):
    backend = Backend("directory", dovecot, tmp_path)
    backend.seed(2)
    (backend.directory / "sub").mkdir()
    (backend.directory / "sub" / "inner.eml").write_bytes(make_message(8))
    (backend.directory / ".partial.eml").write_bytes(make_message(9))  # being written
    with open_mailbox(backend.settings()) as box:
        assert box.count() == 2
        read = [m for batch in box.batches() for m in batch]
        box.mark([m.uid for m in read], PROCESSED)
    assert sorted(m.uid for m in read) == ["message-00000.eml", "message-00001.eml"]
    assert sorted(p.name for p in (backend.directory / PROCESSED).iterdir()) == [
        "message-00000.eml", "message-00001.eml"]
    assert (backend.directory / "sub" / "inner.eml").exists()
    assert (backend.directory / ".partial.eml").exists()


def test_directory_never_overwrites_a_marked_file(dovecot, tmp_path):
    backend = Backend("directory", dovecot, tmp_path)
    (backend.directory / PROCESSED).mkdir()
    (backend.directory / PROCESSED / "bounce.eml").write_bytes(make_message(1))
    (backend.directory / "bounce.eml").write_bytes(make_message(2))
    with open_mailbox(backend.settings()) as box:
        box.mark([m.uid for batch in box.batches() for m in batch], PROCESSED)
    assert backend.subjects(PROCESSED) == subjects([1, 2])


def test_local_mark_refuses_paths(tmp_path):
    with open_mailbox(MailboxSettings("directory", path=str(tmp_path))) as box, \
            pytest.raises(ValueError, match="not a message id"):
        box.mark(["../../etc/passwd"], PROCESSED)


def test_imap_survives_another_client_expunging_meanwhile(dovecot, tmp_path):
    backend = Backend("imaps", dovecot, tmp_path)
    backend.seed(10)
    read = []
    with open_mailbox(backend.settings(batch_size=3)) as box:
        for number, batch in enumerate(box.batches()):
            read.extend(batch)
            if number == 0:
                with backend.imap() as other:  # a person cleaning up with a mail client
                    other.select_folder("INBOX")
                    doomed = other.search(["OR", "SUBJECT", "Message 7", "SUBJECT", "Message 8"])
                    other.delete_messages(doomed)
                    other.expunge()
            box.mark([m.uid for m in batch], PROCESSED)
    assert sorted(subject_of(m.raw) for m in read) == subjects([0, 1, 2, 3, 4, 5, 6, 9])
    assert backend.subjects() == []
