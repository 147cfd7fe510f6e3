"""Recipients and reasons in bounces that carry no usable DSN.

Each detector reads the human-readable notice (the text before the copy of
the returned message) and returns ``Found`` entries. They run in the order of
``DETECTORS``; the first one that finds anything wins. The formats covered:

* transcript: Sendmail and others quote the SMTP dialogue
  (``RCPT To:<a@b>`` / ``<<< 550 ...``);
* sendmail: Sendmail V5/V8 reply lines naming the recipient
  (``550 <a@b>... User unknown``);
* session: Postfix's "Transcript of session follows" (``In:`` client and
  ``Out:`` server lines), read as SMTP works: a recipient refused at RCPT TO,
  or accepted there and then refused with the message after DATA;
* blocks: qmail, Yahoo, Exim, Postfix without DSN, Gmail, Exchange and
  Office 365, Lotus Domino/Notes, DragonFly, OpenSMTPD and most others put
  each failed address on a line of its own (or after "to"/"recipient:"),
  followed by the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import budget

# Bounded parts (RFC 5321 4.5.3.1) keep every search linear on long runs.
# The local part starts at an address boundary ("mailboxfull@x" is no "full@x"
# after the word "mailbox"), and is a dot-atom: no leading, trailing or double dot.
ADDRESS = (r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])"
           r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}){0,16}"
           r"@[A-Za-z0-9-]{1,63}"
           r"(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,63}")
_ADDR = re.compile(ADDRESS)

# Lines that start the copy of the returned message in text-only bounces.
_SEPARATOR = re.compile(
    r"(?im)^[ \t]*(?:[-=_#*]{3,}.{0,20}(?:original|copy|returned|below|undelivered message|"
    r"headers?|bounced|message (?:text|follows))|"
    r"(?:message headers follow|original message follows|original message headers|"
    r"-+ ?original message ?-+|bounced e-?mail:|"
    r"(?:the |your )?(?:original|returned) message (?:follows|is attached|headers?)))")
_HEADER_START = re.compile(r"(?m)^(?:Return-Path|Received|DKIM-Signature|X-Original-To"
                           r"|Delivered-To|Message-I[dD]):[ \t]?\S")

# An address alone on its line (maybe in <>, with "<mailto:...>", "(expanded from...)",
# or a trailing ":" and the reason), or introduced as the recipient ("The following
# recipients returned permanent errors: a@b").
# GroupWise and others put the reason in the parentheses ("a@b (user not found)").
_LINE_ADDRESS = re.compile(
    r"^[\s>*\-\"']*<?(" + ADDRESS + r")>?(?:<mailto:[^>]*>)?\s*(?:\(([^)]{0,300})\))?\s*"
    r"(?:(?::|\s)\s*(.*))?$")
_NOT_A_REASON = re.compile(r"(?i)^(expanded|generated|forwarded|redirected|via|original)\b")
# Sendmail V5/V8 transcripts name each recipient on the reply line itself:
# "550 <bob@example.com>... User unknown" or "554 5.0.0 bob@example.com... Service unavailable".
_SENDMAIL_LINE = re.compile(
    r"^\s*(?:([45]\d\d)[ -](?:([45]\.\d{1,3}\.\d{1,3}) )?)?<?(" + ADDRESS
    + r")>?\.\.\.\s*(\S.*)$")
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
_TRANSCRIPT = re.compile(r"(?i)RCPT TO:\s*<?(" + ADDRESS + r")>?")
_SMTP_REPLY = re.compile(r"(?m)^\s*<<<\s*(.*)$")
_SESSION_LINE = re.compile(r"^\s*(In|Out):\s*(.*)$")
_CODE = re.compile(r"\b[245]\d\d[\s-]|\b[245]\.\d{1,3}\.\d{1,3}\b")


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


def notice_part(text: str) -> str:
    """The notice without the inline copy of the returned message."""
    end = len(text)
    for pattern in (_SEPARATOR, _HEADER_START):
        found = pattern.search(text)
        if found and found.start() > 0:
            end = min(end, found.start())
    return text[:end]


def detect_transcript(notice: str) -> list[Found]:
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


def detect_session(notice: str) -> list[Found]:
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
    return _merge(found)


def detect_blocks(notice: str) -> list[Found]:
    lines = notice.splitlines()
    starts: list[tuple[int, str, str]] = []  # line index, address, text after it
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
        if match and not re.search(r"(?i)(mail from|envelope-from|from:)\s*<?$",
                                   line[: match.start(1)]):
            if _REDIRECT_BEFORE.search(line[: match.start(1)]) or _REDIRECT_AFTER.match(
                    line, match.end(1)):
                continue  # where to write instead, not who failed
            if starts and starts[-1][1].lower() == match.group(1).lower():
                continue  # the reply goes on about the same recipient ("550 Unknown\n user a@b")
            starts.append((index, match.group(1), line[match.end(1):].lstrip(">:. ")))
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
        # Only an address tied to failure words in its line or paragraph is a
        # failed recipient (not "write to me at new@example.org instead"); an
        # MTA's "RCPT TO:" line is a recipient of the failed transaction.
        if _RCPT_LINE.search(lines[index]) or _FAILURE.search(
                "\n".join([*before, lines[index], *block])):
            found.append(Found(email.lower(), "\n".join(block)))
    return _merge(found)


def detect_sendmail(notice: str) -> list[Found]:
    """Sendmail's own lines, "550 <a@b>... User unknown" (V5 and V8), "<a@b>... Deferred: ..."."""
    found = []
    for line in notice.splitlines():
        match = _SENDMAIL_LINE.match(line) if len(line) <= 1000 else None
        if match:
            reply = " ".join(code for code in match.group(1, 2) if code)
            found.append(Found(match.group(3).lower(), f"{reply} {match.group(4)}".strip()))
    return _merge(found)


def _merge(found: list[Found]) -> list[Found]:
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


Detector = Callable[[str], list[Found]]

#: Most specific first.
DETECTORS: list[tuple[str, Detector]] = [
    ("transcript", detect_transcript),
    ("session", detect_session),
    ("sendmail", detect_sendmail),
    ("blocks", detect_blocks),
]


def detect(notice: str, exclude: set[str]) -> tuple[str, list[Found]]:
    """Run the detectors in order; addresses in ``exclude`` (the sender) are ignored."""
    for name, detector in DETECTORS:
        budget.check()
        try:
            found = [f for f in detector(notice) if f.email not in exclude]
        except Exception:  # noqa: BLE001, S112 - one broken detector must not stop the rest
            continue
        if found:
            return name, found
    return "", []
