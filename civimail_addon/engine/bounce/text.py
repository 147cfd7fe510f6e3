"""Bounces that carry no usable DSN: what the text formats have in common.

A text format (:class:`TextFormat`) reads the human-readable notice (the
text before the copy of the returned message) and returns :class:`Found`
entries, each a failed address with the text about it. The formats are
detectors of the registry, most specific first, after the reports that speak
for themselves; the first that finds anything names the failed recipients,
and :func:`text_report` types each of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

from .classify import classify
from .report import BouncedRecipient, Report, one_line

if TYPE_CHECKING:
    from .interfaces import Context

# Bounded parts (RFC 5321 4.5.3.1) keep every search linear on long runs.
# The local part starts at an address boundary ("mailboxfull@x" is no "full@x"
# after the word "mailbox"), and is a dot-atom: no leading, trailing or double dot.
ADDRESS = (r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])"
           r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}){0,16}"
           r"@[A-Za-z0-9-]{1,63}"
           r"(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,63}")
_ADDR = re.compile(ADDRESS)
_CODE = re.compile(r"\b[245]\d\d[\s-]|\b[245]\.\d{1,3}\.\d{1,3}\b")
# Wording of a notice about mail still being retried (a delay, not a failure).
_TEMPORARY = re.compile(r"(?i)delayed|not yet been delivered|will (continue|retry)|"
                        r"still (being )?retr")
# Google Groups refuses a post (non-member, or a group that may not exist: the
# notice cannot tell) in the poster's language, with no SMTP code.
_GOOGLE_GROUP = re.compile(r"(?i)@googlegroups\.com$")
_LINE_CODE = re.compile(r"\b[45]\d\d\b|\b[45]\.\d+\.\d+\b")


@dataclass
class Found:
    email: str
    diagnostic: str  # the text about this recipient, possibly several lines


def addresses(text: str) -> list[str]:
    """Every address in ``text``, in order."""
    return _ADDR.findall(text)


def is_address(text: str) -> bool:
    """Is ``text`` one plausible address (a dot-atom local part and a domain)?"""
    return bool(_ADDR.fullmatch(text))


def merge(found: list[Found]) -> list[Found]:
    """One entry per address; keep the most informative text."""
    merged: dict[str, Found] = {}
    for item in found:
        old = merged.get(item.email)
        if old is None:
            merged[item.email] = item
        elif _score(item.diagnostic) > _score(old.diagnostic):
            old.diagnostic = item.diagnostic
    return list(merged.values())


def _score(text: str) -> int:
    return (2 if _CODE.search(text) else 0) + (1 if text.strip() else 0)


class TextFormat:
    """A detector reading one format of notice; subclasses define :meth:`find`."""

    name = ""

    def find(self, notice: str) -> list[Found]:
        """The failed recipients this format sees in ``notice``, with their texts."""
        raise NotImplementedError

    def detect(self, msg: Message, context: Context) -> Report | None:
        found = context.found_by(self, context.exclude)
        return text_report(context, found, self.name) if found else None


def text_report(context: Context, found: list[Found], how: str) -> Report:
    """The bounce report of a text notice whose failed recipients ``how`` found."""
    notice = context.notice
    diagnostics = {f.email: f.diagnostic for f in found}
    emails = [f.email for f in found]
    temporary = bool(_TEMPORARY.search(notice))
    bounces = []
    for email in emails:
        text = diagnostics.get(email, "") or (notice if len(emails) == 1 else "")
        kind, hard, status = classify("", text, notice, context.patterns, temporary=temporary,
                                      recipient=email)
        if kind == "unknown" and not status and _GOOGLE_GROUP.search(email):
            kind, hard = "blocked", False
        if temporary:
            hard = False
        bounces.append(BouncedRecipient(email, kind, hard, status,
                                        one_line(_best_line(text) or text)))
    return Report("bounce", f"Bounce notice; recipients found by {how}.", bounces)


def _best_line(text: str) -> str:
    """The line of a block that quotes the SMTP reply, else the block."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    coded = [ln for ln in lines if _LINE_CODE.search(ln)]
    return " ".join(coded or lines)
