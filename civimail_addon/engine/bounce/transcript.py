"""Notices that quote the SMTP dialogue with the refusing server.

* :class:`Transcript`: Sendmail and others quote each command and reply
  (``RCPT To:<a@b>`` / ``<<< 550 ...``);
* :class:`Session`: Postfix's "Transcript of session follows" (``In:``
  client and ``Out:`` server lines), read as SMTP works: a recipient refused
  at RCPT TO, or accepted there and then refused with the message after DATA.
"""

from __future__ import annotations

import re

from .text import ADDRESS, Found, TextFormat, merge

_TRANSCRIPT = re.compile(r"(?i)RCPT TO:\s*<?(" + ADDRESS + r")>?")
_SMTP_REPLY = re.compile(r"(?m)^\s*<<<\s*(.*)$")
_SESSION_LINE = re.compile(r"^\s*(In|Out):\s*(.*)$")


class Transcript(TextFormat):
    name = "transcript"

    def find(self, notice: str) -> list[Found]:
        found: list[Found] = []
        lines = notice.splitlines()
        for index, line in enumerate(lines):
            rcpt = _TRANSCRIPT.search(line)
            if not rcpt:
                continue
            replies = []
            for following in lines[index + 1: index + 6]:
                reply = _SMTP_REPLY.match(following)
                if reply:
                    replies.append(reply.group(1).strip())
                elif replies or _TRANSCRIPT.search(following):
                    break
            if replies:
                found.append(Found(rcpt.group(1).lower(), " ".join(replies)))
        return found


class Session(TextFormat):
    name = "session"

    def find(self, notice: str) -> list[Found]:
        found: list[Found] = []
        accepted: list[str] = []
        pending = ""  # the recipient the next server reply answers
        after_data = False
        for line in notice.splitlines():
            match = _SESSION_LINE.match(line)
            if not match:
                continue
            side, text = match.group(1), match.group(2).strip()
            if side == "In":
                rcpt = _TRANSCRIPT.search(text)
                pending = rcpt.group(1).lower() if rcpt else ""
                after_data = text.upper().startswith("DATA")
                continue
            code = text[:1]
            if pending and code in "2345":
                if code == "2":
                    accepted.append(pending)
                elif code in "45":
                    found.append(Found(pending, text))
                pending = ""
            elif after_data and code in "45" and text[:3].isdigit():
                # After DATA one reply answers for every recipient accepted so far.
                found.extend(Found(email, text) for email in accepted)
                accepted = []
        return merge(found)
