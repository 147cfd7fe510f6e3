"""The detector contract: what a detector is given and what it answers.

:func:`.scan.analyze` walks the ordered registry ``scan.DETECTORS`` (most
authoritative evidence first). Each detector gets the parsed message and a
:class:`Context` (the facts about it that several detectors read, each worked
out once, when first asked), and answers with the :class:`~.report.Report`
its evidence decides, or ``None`` to let the next detector look. The first
report wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from . import autoreply, budget, mime
from .failed_header import failed_recipients
from .notice import looks_like_bounce, notice_part, unquoted
from .patterns import PatternSet

if TYPE_CHECKING:
    from .report import Report
    from .text import Found, TextFormat


class Detector(Protocol):
    """One source of evidence: a kind of report, a provider's notice, an MTA's format."""

    #: What the registry calls it (text formats: how the recipients were found).
    name: str

    def detect(self, msg: Message, context: Context) -> Report | None:
        """The report this evidence decides for ``msg``, or None (not mine: ask the next one)."""


@dataclass
class Context:
    """One message under analysis, with what the detectors read of it."""

    msg: Message
    raw: bytes
    patterns: PatternSet
    #: The registry's detectors that read a notice's text, in its order.
    text_formats: Sequence[TextFormat]

    def __post_init__(self):
        #: The message's readable text: the notice and any inline copy of the returned message.
        self.text = mime.body_text(self.msg)

    @cached_property
    def notice(self) -> str:
        """The notice without the inline copy of the returned message."""
        return notice_part(self.text)

    @cached_property
    def own_text(self) -> str:
        """The notice without the lines a person quoted ("> ...")."""
        return unquoted(self.notice)

    @cached_property
    def daemon(self) -> bool:
        """Is the message From a mail system (MAILER-DAEMON, postmaster, Exchange...)?"""
        return autoreply.is_daemon_sender(self.msg)

    @cached_property
    def null_sender(self) -> bool:
        return mime.header(self.msg, "Return-Path").strip() == "<>"

    @cached_property
    def sender(self) -> str:
        return mime.address(mime.header(self.msg, "From"))

    @cached_property
    def bounce_like(self) -> bool:
        """Is there evidence that the message reports a failed delivery?"""
        return looks_like_bounce(self.msg, self.daemon or self.null_sender, self.own_text)

    @cached_property
    def failed_header(self) -> list[str]:
        """The addresses of X-Failed-Recipients (Exim, Gmail)."""
        return failed_recipients(self.msg)

    @cached_property
    def exclude(self) -> set[str]:
        """Addresses that are not failed recipients: the notice's and original's senders
        (unless X-Failed-Recipients names them: the sender of a message to oneself)."""
        found = {mime.address(mime.header(self.msg, name))
                 for name in ("From", "To", "Reply-To", "Sender")}
        original = mime.attached_message(self.msg)
        if original is not None:
            found |= {mime.address(mime.header(original, name))
                      for name in ("From", "Sender", "Return-Path")}
        return {f for f in found if f} - set(self.failed_header)

    def found_by(self, text_format: TextFormat, exclude: set[str]) -> list[Found]:
        """What one text format finds in the notice, but ``exclude``; [] if it chokes."""
        budget.check()
        try:
            return [f for f in text_format.find(self.notice) if f.email not in exclude]
        except Exception:  # noqa: BLE001 - one broken format must not stop the rest
            return []

    def first_found(self, exclude: set[str]) -> list[Found]:
        """What the first text format that finds anything (but ``exclude``) finds."""
        for text_format in self.text_formats:
            found = self.found_by(text_format, exclude)
            if found:
                return found
        return []
