"""POP3 backend (poplib): UIDL for ids, LIST for sizes, RETR per message.

POP3 has no folders: marking (processed or ignored alike) is DELE, which the
server applies only at QUIT. A crash before close therefore leaves every
message in place; a clean close after marks removes exactly the marked ones.
Message numbers stay valid for the whole session, deletions included.
"""

from __future__ import annotations

import contextlib
import poplib
import socket
from array import array
from collections.abc import Iterable, Iterator

from .base import Mailbox, MailboxMessage, Step, too_large
from .errors import (
    MailboxError,
    Phrase,
    fail,
    login_refused,
    not_greeted,
    os_reason,
    server_error,
    text_of,
)
from .net import lost, open_socket, tls_context, tls_failure, tls_step
from .settings import MailboxSettings

_CRLF = b"\r\n"


class _ConnectedPOP3(poplib.POP3):
    """poplib on a socket connected by net.py, with a larger line limit."""

    def __init__(self, sock: socket.socket, host: str, port: int, max_line: int):
        self._ready_socket = sock
        self._max_line = max_line
        super().__init__(host, port)

    def _create_socket(self, timeout):
        return self._ready_socket

    def _getline(self):
        # poplib refuses lines over 2048 bytes, which real (HTML) mail has;
        # our bound is the message size limit, since only fitting messages are read.
        line = self.file.readline(self._max_line + 1)
        if len(line) > self._max_line:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        octets = len(line)
        if line[-2:] == _CRLF:
            return line[:-2], octets
        if line[:1] == b"\r":
            return line[1:-1], octets
        return line[:-1], octets


def _reason(exc: BaseException) -> str:
    return text_of(exc.args[0] if exc.args else exc).removeprefix("-ERR ").strip()


class Pop3Mailbox(Mailbox):
    """A POP3 maildrop; ``folder`` is always "INBOX"."""

    def __init__(self, settings: MailboxSettings):
        super().__init__(settings)
        self.folder = "INBOX"
        self._pop: _ConnectedPOP3 | None = None
        self._uids: list[str] | None = None  # by message number - 1
        self._sizes = array("Q")
        self._next = 1  # next message number to read
        self._pending: dict[str, int] = {}  # yielded, not marked: uid -> number
        self._deleted = 0
        sock = open_socket(settings, self.steps)
        try:
            self._pop = self._greet(sock)
            if settings.security == "starttls":
                self._stls()
            self._login()
        except BaseException:
            self.close(quiet=True)
            sock.close()
            raise

    def _greet(self, sock: socket.socket) -> _ConnectedPOP3:
        settings = self.settings
        try:
            return _ConnectedPOP3(
                sock, settings.host.strip(), settings.effective_port,
                max(settings.max_message_size + 2, 8192),
            )
        except (OSError, poplib.error_proto) as exc:
            reason = os_reason(exc, settings.timeout) if isinstance(exc, OSError) else _reason(exc)
            raise not_greeted(settings, "POP3", 995, reason) from exc

    def _stls(self) -> None:
        settings, pop = self.settings, self._pop
        try:
            pop.stls(tls_context(settings))
        except MailboxError:
            raise
        except poplib.error_proto as exc:
            reason = _reason(exc)
            if "not supported" in reason:
                raise fail(
                    settings, "tls", "tls_no_starttls", reason,
                    where=settings.where, command="STLS (STARTTLS)", port=995,
                ) from exc
            raise tls_failure(settings, exc, starttls=True) from exc
        except OSError as exc:
            raise tls_failure(settings, exc, starttls=True) from exc
        self.steps.append(tls_step(pop.sock, settings, starttls=True))

    def _login(self) -> None:
        settings, pop = self.settings, self._pop
        try:
            pop.user(settings.username)
            pop.pass_(settings.password)
        except poplib.error_proto as exc:
            reason = _reason(exc)
            raise login_refused(settings, reason) from exc
        except OSError as exc:
            raise lost(settings, exc, Phrase("doing_login")) from exc
        self.steps.append(Step("logged_in", user=settings.username))

    # -- reading -------------------------------------------------------------------

    def count(self) -> int:
        with self._session(Phrase("doing_count")):
            return int(self._pop.stat()[0])  # excludes messages marked in this session

    def _load_index(self) -> None:
        """UIDL and LIST once per session (about 60 bytes kept per message)."""
        if self._uids is not None:
            return
        pop = self._pop
        with self._session(Phrase("doing_list")):
            sizes = array("Q")
            for line in pop.list()[1]:
                number, size = line.split()[:2]
                sizes.append(int(size))
                if int(number) != len(sizes):
                    raise fail(self.settings, "protocol", "list_gaps")
            try:
                uids = [line.split()[1].decode("ascii", "replace") for line in pop.uidl()[1]]
            except poplib.error_proto:
                # No UIDL (very old servers): numbers are stable for this session,
                # which is all marking needs.
                uids = [str(number) for number in range(1, len(sizes) + 1)]
                self.steps.append(Step("no_uidl"))
        if len(uids) != len(sizes):
            raise fail(self.settings, "protocol", "uidl_mismatch")
        self._uids, self._sizes = uids, sizes

    def batches(self, limit: int | None = None) -> Iterator[list[MailboxMessage]]:
        remaining = self._batch_plan(limit)
        self._load_index()
        total = len(self._sizes)
        while (remaining is None or remaining > 0) and self._next <= total:
            batch = self._next_batch(self._take(remaining), total)
            if remaining is not None:
                remaining -= len(batch)
            yield batch

    def _next_batch(self, take: int, total: int) -> list[MailboxMessage]:
        settings, batch, budget = self.settings, [], 0
        while len(batch) < take and self._next <= total:
            number = self._next
            size = self._sizes[number - 1]
            reason = too_large(size, settings.max_message_size)
            if batch and not reason and budget + size > settings.max_batch_bytes:
                break
            self._next += 1
            raw = None
            if not reason:
                raw, reason = self._retr(number)
                budget += size
            uid = self._uids[number - 1]
            batch.append(MailboxMessage(uid, raw, size, reason))
            self._pending[uid] = number
        return batch

    def _retr(self, number: int) -> tuple[bytes | None, str]:
        try:
            with self._session(Phrase("doing_retrieve")):
                lines = self._pop.retr(number)[1]
        except MailboxError as exc:
            if exc.step != "protocol":
                raise
            return None, f"the server could not return it: {exc.reason}"
        # poplib strips line ends (and dot-stuffing); put back the CRLFs.
        return b"".join(line + _CRLF for line in lines), ""

    # -- marking and closing ----------------------------------------------------------

    def mark(self, uids: Iterable[str], target: str) -> None:
        """DELE, applied by the server at QUIT; POP3 has no folders to move to."""
        self._check_target(target)
        with self._session(Phrase("doing_delete")):
            for uid in uids:
                number = self._pending.pop(str(uid), None)
                if number is not None:
                    self._pop.dele(number)
                    self._deleted += 1

    def close(self, quiet: bool = False) -> None:
        """QUIT, which makes the deletions final."""
        pop, self._pop = self._pop, None
        if pop is None:
            return
        try:
            pop.quit()
        except (OSError, poplib.error_proto) as exc:
            with contextlib.suppress(OSError):
                pop.close()
            if quiet:
                return
            kind = "tcp" if isinstance(exc, OSError) else "protocol"
            reason = os_reason(exc, self.settings.timeout) if kind == "tcp" else _reason(exc)
            raise fail(
                self.settings, kind, f"quit_failed_{kind}", reason,
                where=self.settings.where, reason=reason, count=self._deleted,
            ) from exc

    @contextlib.contextmanager
    def _session(self, doing: Phrase) -> Iterator[None]:
        if self._pop is None:
            raise fail(self.settings, "protocol", "closed", doing=doing)
        try:
            yield
        except MailboxError:
            raise
        except OSError as exc:
            raise lost(self.settings, exc, doing) from exc
        except poplib.error_proto as exc:
            reason = _reason(exc)
            raise server_error(self.settings, doing, reason) from exc
