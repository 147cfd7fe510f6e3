"""Local backends: a Maildir (new/ and cur/) or a plain directory of files.

Marking renames the file (atomic on one file system) into ``processed/`` or
``ignored/`` inside the mailbox path: Maildirs there get cur/new/tmp so any
Maildir reader can open them. Directories are scanned lazily (os.scandir),
so memory does not grow with the number of files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .base import TARGETS, Mailbox, MailboxMessage, Step, too_large
from .errors import Phrase, fail, os_reason
from .settings import MailboxSettings

_MAILDIR_SUBDIRS = ("new", "cur")  # read order: new first


class _LocalMailbox(Mailbox):
    """Shared logic; subclasses say where messages are and where they go."""

    kind = ""

    def __init__(self, settings: MailboxSettings):
        super().__init__(settings)
        self.path = Path(settings.path.strip()).expanduser()
        self.folder = str(self.path)
        self._pending: set[str] = set()  # yielded, not marked: skipped by later scans
        self._check_path()
        self.steps.append(Step("opened_path", kind=self.kind, path=self.path))

    def _check_path(self) -> None:
        if not self.path.is_dir():
            raise fail(self.settings, "folder", "path_missing", "not a directory",
                       kind=self.kind, path=repr(str(self.path)))
        if not os.access(self.path, os.R_OK | os.W_OK | os.X_OK):
            raise fail(self.settings, "folder", "path_no_access", "permission denied",
                       kind=self.kind, path=repr(str(self.path)))
        self._check_layout()

    def _check_layout(self) -> None:
        """Subclasses check what must be inside the folder."""

    # -- to implement -----------------------------------------------------------------

    def _sources(self) -> tuple[Path, ...]:
        raise NotImplementedError

    def _destination(self, source: Path, target: str) -> Path:
        raise NotImplementedError

    # -- reading -------------------------------------------------------------------

    def _scan(self, skip_pending: bool = True) -> Iterator[os.DirEntry]:
        skipped = self._pending if skip_pending else set()
        for folder in self._sources():
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        # Dot files are temporary (rsync, editors) or metadata.
                        if entry.name.startswith(".") or entry.name in skipped:
                            continue
                        if entry.is_file(follow_symlinks=False):
                            yield entry
            except OSError as exc:
                raise fail(
                    self.settings, "folder", "path_unreadable",
                    path=repr(str(folder)), reason=os_reason(exc, self.settings.timeout),
                ) from exc

    def count(self) -> int:
        return sum(1 for _entry in self._scan(skip_pending=False))

    def batches(self, limit: int | None = None) -> Iterator[list[MailboxMessage]]:
        remaining = self._batch_plan(limit)
        # The directory may change while we iterate (our own marks rename files
        # away): readdir never returns an entry twice, vanished files are skipped.
        entries = self._scan()
        while remaining is None or remaining > 0:
            batch = self._next_batch(entries, self._take(remaining))
            if not batch:
                return
            if remaining is not None:
                remaining -= len(batch)
            yield batch

    def _next_batch(self, entries: Iterator[os.DirEntry], take: int) -> list[MailboxMessage]:
        settings, batch, budget = self.settings, [], 0
        while len(batch) < take and budget <= settings.max_batch_bytes:
            entry = next(entries, None)
            if entry is None:
                break
            message = self._read(entry)
            if message is None:
                continue
            budget += len(message.raw or b"")
            batch.append(message)
            self._pending.add(message.uid)
        return batch

    def _read(self, entry: os.DirEntry) -> MailboxMessage | None:
        try:
            size = entry.stat(follow_symlinks=False).st_size
            reason = too_large(size, self.settings.max_message_size)
            if reason:
                return MailboxMessage(entry.name, None, size, reason)
            with open(entry.path, "rb") as handle:
                raw = handle.read(self.settings.max_message_size + 1)
        except FileNotFoundError:
            return None  # moved away meanwhile (another reader): not ours any more
        except OSError as exc:
            return MailboxMessage(entry.name, None, 0, f"the file cannot be read: {exc.strerror}")
        # The file may have grown since stat(): judge what was actually read.
        reason = too_large(len(raw), self.settings.max_message_size)
        return MailboxMessage(entry.name, None if reason else raw, len(raw), reason)

    # -- marking -------------------------------------------------------------------

    def mark(self, uids: Iterable[str], target: str) -> None:
        self._check_target(target)
        for uid in uids:
            name = str(uid)
            if not name or name.startswith(".") or "/" in name or os.sep in name:
                raise ValueError(f"not a message id of this mailbox: {name!r}")
            source = self._locate(name)
            self._pending.discard(name)
            if source is None:
                continue  # already gone: nothing left to move
            destination = self._destination(source, target)
            try:
                os.rename(source, _free_name(destination))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise fail(
                    self.settings, "folder", "path_move_failed", name=repr(name),
                    path=repr(str(destination.parent)),
                    reason=os_reason(exc, self.settings.timeout),
                ) from exc

    def _locate(self, name: str) -> Path | None:
        for folder in self._sources():
            candidate = folder / name
            if candidate.is_file():
                return candidate
        return None

    def _make_dirs(self, *folders: Path) -> None:
        for folder in folders:
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise fail(
                    self.settings, "folder", "path_create_failed",
                    path=repr(str(folder)), reason=os_reason(exc, self.settings.timeout),
                ) from exc

    def close(self, quiet: bool = False) -> None:
        """Nothing to release: every mark is already a finished rename."""


def _free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``... so a same-named file is never overwritten."""
    candidate, number = path, 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.{number}")
    return candidate


class MaildirMailbox(_LocalMailbox):
    """A Maildir: messages in new/ and cur/; marks go to processed/ and ignored/."""

    kind = "Maildir"

    def _check_layout(self) -> None:
        missing = [name for name in _MAILDIR_SUBDIRS if not (self.path / name).is_dir()]
        if missing:
            raise fail(self.settings, "folder", "not_maildir", "not a Maildir",
                       path=repr(str(self.path)), missing=" or ".join(missing))

    def _sources(self) -> tuple[Path, ...]:
        return tuple(self.path / name for name in _MAILDIR_SUBDIRS)

    def _destination(self, source: Path, target: str) -> Path:
        assert target in TARGETS
        maildir = self.path / target
        self._make_dirs(*(maildir / name for name in ("cur", "new", "tmp")))
        # Same sub-folder as before: new stays new, cur keeps its ":2,flags" info.
        return maildir / source.parent.name / source.name


class DirectoryMailbox(_LocalMailbox):
    """Every regular file directly in the folder is one message."""

    kind = Phrase("kind_directory")

    def _sources(self) -> tuple[Path, ...]:
        return (self.path,)

    def _destination(self, source: Path, target: str) -> Path:
        assert target in TARGETS
        self._make_dirs(self.path / target)
        return self.path / target / source.name
