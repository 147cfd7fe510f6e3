"""Sendmail V5/V8 reply lines that name the recipient.

"550 <bob@example.com>... User unknown", "554 5.0.0 bob@example.com...
Service unavailable", "<a@b>... Deferred: ...".
"""

from __future__ import annotations

import re

from .text import ADDRESS, Found, TextFormat, merge

_SENDMAIL_LINE = re.compile(
    r"^\s*(?:([45]\d\d)[ -](?:([45]\.\d{1,3}\.\d{1,3}) )?)?<?(" + ADDRESS
    + r")>?\.\.\.\s*(\S.*)$")


class Sendmail(TextFormat):
    name = "sendmail"

    def find(self, notice: str) -> list[Found]:
        found = []
        for line in notice.splitlines():
            match = _SENDMAIL_LINE.match(line) if len(line) <= 1000 else None
            if match:
                reply = " ".join(code for code in match.group(1, 2) if code)
                found.append(Found(match.group(3).lower(), f"{reply} {match.group(4)}".strip()))
        return merge(found)
