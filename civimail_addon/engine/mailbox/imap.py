"""IMAP backend (imapclient): read a folder in batches, move what was handled.

Per batch: one FETCH of UID + RFC822.SIZE by sequence-number window, one
UID FETCH of BODY.PEEK[] for the messages within the size limit (PEEK: no
\\Seen on messages not yet marked), then the caller marks them with one MOVE
(or COPY + \\Deleted + UID EXPUNGE) into ``<folder><sep>processed|ignored``.
Only a window of UIDs is ever in memory, however big the folder.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
from collections.abc import Iterable, Iterator

import imapclient

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

_MAX_IDS_PER_COMMAND = 500  # keeps command lines short for picky servers
_MAX_LISTED_FOLDERS = 30


class _ConnectedIMAP4(imaplib.IMAP4):
    """imaplib on a socket connected (and maybe TLS-wrapped) by net.py."""

    def __init__(self, sock: socket.socket, host: str, port: int):
        self._ready_socket = sock
        super().__init__(host, port)

    def _create_socket(self, timeout):
        return self._ready_socket


class _Client(imapclient.IMAPClient):
    def __init__(self, sock: socket.socket, settings: MailboxSettings):
        self._ready_socket = sock
        super().__init__(
            settings.host.strip(), settings.effective_port, ssl=settings.security == "ssl",
            timeout=settings.timeout,
        )

    def _create_IMAP4(self):  # imapclient's hook: hand it our socket
        return _ConnectedIMAP4(self._ready_socket, self.host, self.port)


class ImapMailbox(Mailbox):
    """An IMAP folder, selected read-write."""

    def __init__(self, settings: MailboxSettings):
        super().__init__(settings)
        self.separator = ""
        # MOVE (RFC 6851) when offered; tests switch it off to exercise COPY.
        self.use_move = False
        self._client: _Client | None = None
        self._ready_folders: set[str] = set()
        self._pending: set[int] = set()  # yielded, not marked: still in the folder
        self._moved = 0  # pending messages moved away since batches() last looked
        sock = open_socket(settings, self.steps)
        try:
            self._client = self._greet(sock)
            if settings.security == "starttls":
                self._starttls()
            self._login()
            self.use_move = self._client.has_capability("MOVE")
            self._open_folder()
        except BaseException:
            self.close(quiet=True)
            sock.close()
            raise

    # -- opening -------------------------------------------------------------------

    def _greet(self, sock: socket.socket) -> _Client:
        settings = self.settings
        try:
            return _Client(sock, settings)
        except (OSError, imaplib.IMAP4.error) as exc:
            reason = os_reason(exc, settings.timeout) if isinstance(exc, OSError) else text_of(exc)
            raise not_greeted(settings, "IMAP", 993, reason) from exc

    def _starttls(self) -> None:
        settings, client = self.settings, self._client
        if not client.has_capability("STARTTLS"):
            raise fail(
                settings, "tls", "tls_no_starttls", "STARTTLS not offered",
                where=settings.where, command="STARTTLS", port=993,
            )
        try:
            client.starttls(tls_context(settings))
        except MailboxError:
            raise
        except (OSError, imaplib.IMAP4.error) as exc:
            raise tls_failure(settings, exc, starttls=True) from exc
        self.steps.append(tls_step(client.socket(), settings, starttls=True))

    def _login(self) -> None:
        settings, client = self.settings, self._client
        try:
            if (settings.username + settings.password).isascii():
                client.login(settings.username, settings.password)
            else:
                # LOGIN cannot carry non-ASCII; AUTHENTICATE PLAIN sends UTF-8.
                client.plain_login(settings.username, settings.password)
        except (imaplib.IMAP4.error, UnicodeError) as exc:
            reason = text_of(exc).removeprefix("login failed: ")
            raise login_refused(settings, reason) from exc
        except OSError as exc:
            raise lost(settings, exc, Phrase("doing_login")) from exc
        self.steps.append(Step("logged_in", user=settings.username))

    def _open_folder(self) -> None:
        settings = self.settings
        wanted = settings.folder.strip() or "INBOX"
        with self._session(Phrase("doing_find_folder")):
            # LIST "" "" returns the hierarchy separator without listing folders.
            root = self._client.list_folders("", "")
            self.separator = text_of(root[0][1]) if root and root[0][1] else ""
            folder = self._find_folder(wanted)
            if folder is None:
                raise fail(
                    settings, "folder", "folder_missing", "folder not found",
                    folder=repr(wanted), where=settings.where,
                    separator=repr(self.separator), folders=self._folder_names(),
                )
            self.folder = folder
            try:
                self._client.select_folder(folder)
            except imaplib.IMAP4.error as exc:
                raise fail(
                    settings, "folder", "folder_unopenable", text_of(exc),
                    folder=repr(folder), where=settings.where, reason=text_of(exc),
                ) from exc
        self.steps.append(Step("opened_folder", folder=folder, separator=repr(self.separator)))

    def _find_folder(self, wanted: str) -> str | None:
        """The server's name for ``wanted``, "INBOX.X" and "INBOX/X" alike."""
        candidates = [wanted]
        sep = self.separator
        if sep:
            other = {".": "/", "/": "."}.get(sep)
            if other and other in wanted:
                candidates.append(wanted.replace(other, sep))
        for candidate in candidates:
            for flags, _sep, name in self._client.list_folders("", candidate):
                if not {b"\\noselect", b"\\nonexistent"} & {flag.lower() for flag in flags}:
                    return name
        return None

    def _folder_names(self) -> str:
        names = [name for _flags, _sep, name in self._client.list_folders()]
        shown = ", ".join(repr(name) for name in sorted(names)[:_MAX_LISTED_FOLDERS])
        more = len(names) - _MAX_LISTED_FOLDERS
        return shown + (f" and {more} more" if more > 0 else "")

    # -- reading -------------------------------------------------------------------

    def count(self) -> int:
        # Re-selecting is the reliable way to learn EXISTS after our own moves
        # (STATUS on the selected folder is discouraged by RFC 3501).
        with self._session(Phrase("doing_count")):
            return int(self._client.select_folder(self.folder)[b"EXISTS"])

    def batches(self, limit: int | None = None) -> Iterator[list[MailboxMessage]]:
        remaining = self._batch_plan(limit)
        last_uid = 0
        stale = 0  # window positions holding already-seen messages (see below)
        # SELECT costs O(folder size) on the server, so EXISTS is tracked from
        # our own moves and re-read only when it looks exhausted or wrong.
        exists, fresh_count = self.count(), True
        self._moved = 0
        while remaining is None or remaining > 0:
            exists, self._moved = exists - self._moved, 0
            # Messages are in UID order: those yielded and not marked sit before
            # the first unread one, so the window starts right after them.
            start = len(self._pending) + stale + 1
            if start > exists:
                if fresh_count:
                    return
                exists, fresh_count = self.count(), True  # new mail, or others expunged
                continue
            end = min(start + self._take(remaining) - 1, exists)
            try:
                window = self._sizes(range(start, end + 1))
            except MailboxError as exc:
                if exc.step != "protocol" or fresh_count:
                    raise
                exists, fresh_count = self.count(), True  # others expunged: window too far
                continue
            fresh_count = False
            fresh = [(uid, size) for uid, size in window if uid > last_uid]
            # A mark the server silently skipped leaves a seen message in the window.
            stale += len(window) - len(fresh)
            if not fresh:
                if not window:
                    return
                continue
            taken = self._within_budget(fresh)
            batch = self._bodies(taken)
            last_uid = taken[-1][0]
            self._pending.update(uid for uid, _size in taken)
            if remaining is not None:
                remaining -= len(batch)
            yield batch

    def _sizes(self, seqs: range) -> list[tuple[int, int]]:
        """(uid, size) of a sequence-number window, in UID order."""
        client = self._client
        with self._session(Phrase("doing_sizes")):
            client.use_uid = False
            try:
                response = client.fetch(list(seqs), ["UID", "RFC822.SIZE"])
            finally:
                client.use_uid = True
        return sorted(
            (data[b"UID"], data.get(b"RFC822.SIZE", 0))
            for data in response.values()
            if b"UID" in data
        )

    def _within_budget(self, fresh: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Cut the window so its bodies stay under max_batch_bytes (one at least)."""
        settings, total = self.settings, 0
        for index, (_uid, size) in enumerate(fresh):
            if size <= settings.max_message_size:
                total += size
            if total > settings.max_batch_bytes and index:
                return fresh[:index]
        return fresh

    def _bodies(self, taken: list[tuple[int, int]]) -> list[MailboxMessage]:
        limit = self.settings.max_message_size
        wanted = [uid for uid, size in taken if not too_large(size, limit)]
        bodies, problems = self._fetch_bodies(wanted)
        batch = []
        for uid, size in taken:
            reason = too_large(size, limit)
            raw = bodies.get(uid)
            if not reason and raw is None:
                reason = problems.get(uid, "the server returned no content for this message")
            batch.append(MailboxMessage(str(uid), None if reason else raw, size, reason))
        return batch

    def _fetch_bodies(self, uids: list[int]) -> tuple[dict[int, bytes], dict[int, str]]:
        """One UID FETCH for the batch; one per message only if that fails."""
        if not uids:
            return {}, {}
        try:
            with self._session(Phrase("doing_fetch_all")):
                return self._fetch_raw(uids), {}
        except MailboxError as exc:
            if exc.step != "protocol":
                raise
        # One unreadable message (e.g. a corrupt file on the server) must not
        # stop the others: retry one by one and keep each failure's reason.
        bodies, problems = {}, {}
        for uid in uids:
            try:
                with self._session(Phrase("doing_fetch_one")):
                    bodies.update(self._fetch_raw([uid]))
            except MailboxError as exc:
                if exc.step != "protocol":
                    raise
                problems[uid] = f"the server could not return it: {exc.reason}"
        return bodies, problems

    def _fetch_raw(self, uids: list[int]) -> dict[int, bytes]:
        response = self._client.fetch(uids, ["BODY.PEEK[]"])
        return {uid: data[b"BODY[]"] for uid, data in response.items() if data.get(b"BODY[]")}

    # -- marking -------------------------------------------------------------------

    def mark(self, uids: Iterable[str], target: str) -> None:
        self._check_target(target)
        ids = sorted({int(uid) for uid in uids})
        if not ids:
            return
        destination = self._destination(target)
        client = self._client
        with self._session(Phrase("doing_move", folder=destination)):
            for start in range(0, len(ids), _MAX_IDS_PER_COMMAND):
                chunk = ids[start:start + _MAX_IDS_PER_COMMAND]
                if self.use_move:
                    client.move(chunk, destination)
                else:
                    client.copy(chunk, destination)
                    client.delete_messages(chunk, silent=True)
                    if client.has_capability("UIDPLUS"):
                        client.uid_expunge(chunk)
                    else:
                        # Without UIDPLUS, EXPUNGE also removes messages others
                        # flagged \Deleted: the only way left to finish the move.
                        client.expunge()
                self._moved += len(self._pending.intersection(chunk))
                self._pending.difference_update(chunk)
                # imaplib keeps every untagged EXPUNGE for the whole session;
                # dropping them keeps memory flat (we count moves ourselves).
                client._imap.untagged_responses.clear()

    def _destination(self, target: str) -> str:
        """``<folder><sep><target>``, created (and subscribed) when missing."""
        name = f"{self.folder}{self.separator or '.'}{target}"
        if name in self._ready_folders:
            return name
        with self._session(Phrase("doing_create_folder", folder=name)):
            if not self._client.list_folders("", name):
                try:
                    self._client.create_folder(name)
                except imaplib.IMAP4.error as exc:
                    # Another reader may have created it meanwhile.
                    if not self._client.list_folders("", name):
                        raise fail(
                            self.settings, "folder", "folder_not_created", text_of(exc),
                            folder=repr(name), where=self.settings.where, reason=text_of(exc),
                        ) from exc
                with contextlib.suppress(imaplib.IMAP4.error):
                    self._client.subscribe_folder(name)  # so mail clients show it
        self._ready_folders.add(name)
        return name

    # -- closing -------------------------------------------------------------------

    def close(self, quiet: bool = False) -> None:
        """LOGOUT; moves are already final, so a failure here loses nothing."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                client.shutdown()

    @contextlib.contextmanager
    def _session(self, doing: Phrase) -> Iterator[None]:
        """Turn library errors during a command into MailboxError."""
        if self._client is None:
            raise fail(self.settings, "protocol", "closed", doing=doing)
        try:
            yield
        except MailboxError:
            raise
        except (OSError, ssl.SSLError) as exc:
            raise lost(self.settings, exc, doing) from exc
        except imaplib.IMAP4.error as exc:
            reason = text_of(exc)
            raise server_error(self.settings, doing, reason) from exc
