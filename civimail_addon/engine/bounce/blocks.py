"""Notices that give each failed address a line of its own, followed by the reason.

qmail, Yahoo, Exim, Postfix without DSN, Gmail, Exchange and Office 365,
Lotus Domino/Notes, GroupWise, DragonFly, OpenSMTPD and most others put each
failed address on a line of its own (or after "to"/"recipient:"), followed by
the reason. Only an address tied to failure words in its line or paragraph is
a failed recipient (not "write to me at new@example.org instead").
"""

from __future__ import annotations

import re

from .text import ADDRESS, Found, TextFormat, merge

# An address alone on its line (maybe in <>, with "<mailto:...>", "(expanded from...)",
# or a trailing ":" and the reason), or introduced as the recipient ("The following
# recipients returned permanent errors: a@b").
# GroupWise and others put the reason in the parentheses ("a@b (user not found)").
_LINE_ADDRESS = re.compile(
    r"^[\s>*\-\"']*<?(" + ADDRESS + r")>?(?:<mailto:[^>]*>)?\s*(?:\(([^)]{0,300})\))?\s*"
    r"(?:(?::|\s)\s*(.*))?$")
_NOT_A_REASON = re.compile(r"(?i)^(expanded|generated|forwarded|redirected|via|original)\b")
# An address given as the one to use instead ("please write to new@x instead",
# "my new address is new@x"): no failed recipient.
_REDIRECT_BEFORE = re.compile(
    r"(?i)(?:\b(?:please|kindly)\s+(?:write|send|mail|contact|use|forward|redirect)\w*"
    r"(?:\s+(?:me|it|your \w+|mail|messages|e-?mails))?\s+(?:to|at)?|"
    r"new (?:e-?mail )?address(?: is)?|nouvelle adresse|neue (?:e-?mail-)?adresse)\W{0,3}<?$")
_REDIRECT_AFTER = re.compile(r"(?i)>?\W{0,3}(?:instead|from now on|désormais|stattdessen)\b")
# Words that tie an address to a failure ("the same line or paragraph").
_FAILURE = re.compile(
    r"(?i)\b[45]\d\d\b|\b[45]\.\d{1,3}\.\d{1,3}\b|unknown|not exist|no such|reject|refus|"
    r"fail|undeliver|not (be )?deliver|could not|couldn't|unable|error|invalid|\bfull\b|quota|"
    r"disabled|inactive|suspended|denied|not found|permanent|temporar|blocked|spam|timed? ?out|"
    r"expired|unreachable|bounced|returned|not reach|no longer|problem|not listed|giving up|"
    r"gave up|deferred|delay|can ?not|exceed|unrouteable|unavailable|"
    r"配信|エラー|存在しません|ありません|宛先|unzustellbar|nicht|introuvable|inconnu|échec")
_PHRASE_ADDRESS = re.compile(
    r"(?i)(?:\bto\b|recipients?(?:\b[^:<>@\n]{0,40}:)?|\baddress(?:es|ee)?\(?e?s?\)?|"
    r"\buser|mailbox|rcpt to)\s*:?\s*<?(" + ADDRESS + r")>?")
_RCPT_LINE = re.compile(r"(?i)^[\s>]*(?:rcpt to|recipient)\s*:")
_SENDER_INTRO = re.compile(r"(?i)(mail from|envelope-from|from:)\s*<?$")


class Blocks(TextFormat):
    name = "blocks"

    def find(self, notice: str) -> list[Found]:
        lines = notice.splitlines()
        starts = _starts(lines)
        found: list[Found] = []
        for number, (index, email, rest) in enumerate(starts):
            before = [ln for ln in lines[max(0, index - 8):index] if ln.strip()][-3:]
            stop = starts[number + 1][0] if number + 1 < len(starts) else len(lines)
            block = [rest] if rest else []
            blank = 0
            for line in lines[index + 1: min(stop, index + 12)]:
                if not line.strip():
                    blank += 1
                    if blank >= 2 and block:
                        break
                    continue
                blank = 0
                block.append(line.strip())
            # An MTA's "RCPT TO:" line is a recipient of the failed transaction.
            if _RCPT_LINE.search(lines[index]) or _FAILURE.search(
                    "\n".join([*before, lines[index], *block])):
                found.append(Found(email.lower(), "\n".join(block)))
        return merge(found)


def _starts(lines: list[str]) -> list[tuple[int, str, str]]:
    """(line index, address, text after it) of each line that starts a recipient's block."""
    starts: list[tuple[int, str, str]] = []
    for index, line in enumerate(lines):
        if len(line) > 400:
            continue
        match = _LINE_ADDRESS.match(line)
        if match:
            reason = match.group(2) or ""
            reason = "" if _NOT_A_REASON.match(reason) else reason
            starts.append((index, match.group(1),
                           " ".join(r for r in (reason, match.group(3) or "") if r)))
            continue
        match = _PHRASE_ADDRESS.search(line)
        if match and not _SENDER_INTRO.search(line[: match.start(1)]):
            if _REDIRECT_BEFORE.search(line[: match.start(1)]) or _REDIRECT_AFTER.match(
                    line, match.end(1)):
                continue  # where to write instead, not who failed
            if starts and starts[-1][1].lower() == match.group(1).lower():
                continue  # the reply goes on about the same recipient ("550 Unknown\n user a@b")
            starts.append((index, match.group(1), line[match.end(1):].lstrip(">:. ")))
    return starts
