"""What every backend returns, and the context-manager shell they share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import Phrase, _lt
from .settings import MailboxSettings

PROCESSED = "processed"
IGNORED = "ignored"
TARGETS = (PROCESSED, IGNORED)


@dataclass
class MailboxMessage:
    """One message; ``raw`` is None (and ``skip_reason`` says why) when skipped."""

    uid: str  # stable within the mailbox: IMAP UID, POP3 UIDL, file name
    raw: bytes | None
    size: int
    skip_reason: str = ""


# What a connection did, step by step (check_connection's report). The Odoo
# module words them in the reader's language from these templates (``_lt``:
# see errors.py).
STEP_TEXTS = {
    "resolved": _lt("resolved %(host)s to %(addresses)s"),
    "connected": _lt("connected to %(ip)s port %(port)s"),
    "tls": _lt("%(how)s negotiated (%(version)s)"),
    "tls_unverified": _lt("%(how)s negotiated (%(version)s, certificate not verified)"),
    "logged_in": _lt("logged in as %(user)s"),
    "opened_folder": _lt("opened %(folder)s (hierarchy separator %(separator)s)"),
    "opened_path": _lt("opened the %(kind)s %(path)s"),
    "no_uidl": _lt("the server has no UIDL: message numbers serve as ids"),
}


class Step(str):
    """A step's English sentence, which also keeps its ``key`` and ``values``."""

    key: str
    values: dict

    def __new__(cls, key: str, **values) -> Step:
        # Our own words (a Phrase) are kept as they are, to be worded for the reader too.
        values = {name: value if isinstance(value, Phrase) else str(value)
                  for name, value in values.items()}
        step = super().__new__(cls, STEP_TEXTS[key] % values)
        step.key, step.values = key, values
        return step


@dataclass
class ConnectionReport:
    message_count: int
    folder: str  # resolved folder (after separator detection) or path
    steps: list[str] = field(default_factory=list)  # what succeeded, in order


def human_size(size: int) -> str:
    """30.2 MB, 25 MB, 512 KB, 900 bytes (binary units, as mail limits are)."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def too_large(size: int, limit: int) -> str:
    """The skip reason for a message over the limit, or "" if it fits."""
    if size <= limit:
        return ""
    return f"message of {human_size(size)} exceeds the {human_size(limit)} limit"


class Mailbox:
    """An open mailbox: ``with open_mailbox(settings) as box: ...``.

    Subclasses connect in ``__init__`` (raising MailboxError) and implement
    count, batches, mark and close. A session yields each message at most
    once; messages yielded but not marked stay where they are.
    """

    def __init__(self, settings: MailboxSettings):
        self.settings = settings
        self.folder = ""
        self.steps: list[str] = []  # what succeeded while opening, for check_connection

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        # A failing body wins: a close error must not hide it.
        self.close(quiet=exc_type is not None)

    def count(self) -> int:
        raise NotImplementedError

    def batches(self, limit: int | None = None) -> Iterator[list[MailboxMessage]]:
        """Lists of at most batch_size messages, at most ``limit`` in all."""
        raise NotImplementedError

    def mark(self, uids: Iterable[str], target: str) -> None:
        """Move messages to PROCESSED or IGNORED; call only after committing."""
        raise NotImplementedError

    def close(self, quiet: bool = False) -> None:
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------

    @staticmethod
    def _check_target(target: str) -> None:
        if target not in TARGETS:
            raise ValueError(f"mark target must be {PROCESSED!r} or {IGNORED!r}, not {target!r}")

    def _batch_plan(self, limit: int | None) -> int | None:
        if limit is not None and limit < 0:
            raise ValueError("limit must be None or >= 0")
        return limit

    def _take(self, remaining: int | None) -> int:
        """How many messages the next batch may hold."""
        size = self.settings.batch_size
        return size if remaining is None else min(size, remaining)
