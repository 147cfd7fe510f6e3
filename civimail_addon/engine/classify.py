"""Bounce type of one recipient from its status codes and texts.

RFC 3463 enhanced status codes (class.subject.detail), as used here; a
code only decides when no pattern explains the text (many MTAs send a
generic or even wrong code with a precise message):

=========  ==========================================  =========
code       meaning                                      type
=========  ==========================================  =========
X.1.1      bad destination mailbox                      invalid
X.1.2      bad destination system (domain)              dns
X.1.3      bad destination mailbox syntax               invalid
X.1.4      ambiguous destination                        invalid
X.1.6      mailbox has moved                            inactive
X.1.7/8    bad sender address / sender domain           blocked
X.1.10     null MX (RFC 7505); Exchange: no such user  invalid
X.2.1      mailbox disabled                             inactive
X.2.2      mailbox full                                 quota
X.2.3      message too long for mailbox                 quota
X.3.1      mail system full                             quota
X.3.4      message too big for system                   quota
X.3.x      other destination system errors              host
X.4.4      unable to route (no usable MX / A)           dns
X.4.x      network / routing (X.4.6 = loop)             host
X.5.x      mail protocol error (not X.5.0, undefined)   syntax
X.6.x      message content or media                     spam
X.7.1-6    delivery not authorised, security features    blocked
X.7.0/9    other security / policy status               spam
X.7.13     user account disabled                        inactive
X.7.23-27  SPF / DKIM / DMARC / reverse DNS failures    blocked
=========  ==========================================  =========

A DSN ``Status`` of X.0.0 says nothing; a class-matching code the remote
server quoted in its reply ("550 5.7.1 ...") is used instead.

Basic SMTP reply codes, when nothing else is known: 551/553 invalid, 552
quota, 421/450/451/4xx host, 500-504 syntax. A bare 550 or 554 stays unknown:
RFC 5321 gives 550 for "mailbox not found, no access, or command rejected for
policy reasons" alike, so it proves no address dead. Patterns typed
``unknown`` (notice intros) count as no wording at all.

Then corrections from where in the SMTP dialogue the reply came, and from
what the server's own code says:

* "user unknown" after DATA is a content filter in disguise: the server had
  accepted the recipient at RCPT TO, and after DATA one reply answers for all
  recipients (Japanese carriers and m-FILTER reply so to refused senders;
  Yahoo's "dd" notice is the known exception, a vendor structure). The same
  holds when the server's code is X.7.x (security or policy): its own code
  says the refusal is a decision, not a missing mailbox. So: spam, not hard.
* a permanent refusal after DATA whose wording says nothing concerns the
  message itself (content or policy): spam.
* "user unknown", "no such domain" or an unexplained refusal at EHLO/HELO or
  MAIL FROM is about the sender: no recipient had been named yet.
* a domain lookup that failed only temporarily is host.
"""

from __future__ import annotations

import re

from .patterns import HARD_TYPES, PatternSet

STATUS_TYPES: dict[str, str] = {
    "1.1": "invalid", "1.2": "dns", "1.3": "invalid", "1.4": "invalid", "1.5": "invalid",
    "1.6": "inactive", "1.7": "blocked", "1.8": "blocked", "1.10": "invalid",
    "2.1": "inactive", "2.2": "quota", "2.3": "quota", "2.4": "host",
    "3.0": "host", "3.1": "quota", "3.2": "host", "3.3": "host", "3.4": "quota", "3.5": "host",
    "4.0": "host", "4.1": "host", "4.2": "host", "4.3": "host", "4.4": "dns", "4.5": "host",
    "4.6": "loop", "4.7": "host",
    "5.1": "syntax", "5.2": "syntax", "5.3": "syntax", "5.4": "syntax", "5.5": "syntax",
    "5.6": "syntax",
    "6.0": "spam", "6.1": "spam", "6.2": "spam", "6.3": "spam", "6.4": "spam", "6.5": "spam",
    "7.0": "spam", "7.1": "blocked", "7.2": "blocked", "7.3": "blocked", "7.4": "blocked",
    "7.5": "blocked", "7.6": "blocked", "7.7": "spam", "7.8": "blocked", "7.9": "spam",
    "7.13": "inactive", "7.23": "blocked", "7.24": "blocked", "7.25": "blocked",
    "7.26": "blocked", "7.27": "dns",
}
REPLY_TYPES = {"551": "invalid", "553": "invalid", "552": "quota",
               "421": "host", "450": "host", "451": "host", "452": "quota",
               "500": "syntax", "501": "syntax", "502": "syntax", "503": "syntax",
               "504": "syntax"}

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"(?<![\d.])([245]\d\d)(?:[\s-]|$)")
# An enhanced code right after a reply code of the same class ("550 5.7.1").
_REPLY_STATUS = re.compile(r"(?<![\d.])([245])\d\d[ -]\1\.(\d{1,3})\.(\d{1,3})\b")
_URL = re.compile(r"(?i)\b(https?://[^/\s]+)/\S*")
# Postfix "(in reply to end of DATA command)", Exim "after end of data",
# Sendmail transcripts ">>> DATA", m-FILTER "SMTP command: DATA".
_STAGE = re.compile(
    r"(?im)(?:in reply to (?:the )?|after |^\s*>>>\s*|smtp command\W*)(?:end of )?"
    r"(data\b|rcpt to\b|mail from\b|ehlo\b|helo\b)")
_NO_RCPT = re.compile(r"(?i)need rcpt|no valid recipients")
# Yahoo refuses unknown users only after DATA ("554 delivery error: dd This user
# doesn't have a yahoo.com account").
_YAHOO_DD = re.compile(r"(?i)delivery error: dd ")
_MOVED = re.compile(r"(?i)\bmoved\b|has changed|new (e-?mail )?address")


def find_status(*texts: str) -> str:
    for text in texts:
        found = _STATUS.search(text or "")
        if found:
            return ".".join(found.groups())
    return ""


def find_reply(text: str) -> str:
    found = _REPLY.search(text or "")
    return found.group(1) if found else ""


def status_type(status: str) -> str | None:
    if not status or status.count(".") != 2:
        return None
    _cls, subject, detail = status.split(".")
    return STATUS_TYPES.get(f"{subject}.{detail}")


def classify(status: str, diagnostic: str, context: str, patterns: PatternSet,
             temporary: bool = False) -> tuple[str, bool, str]:
    """Return ``(type, hard, status)`` for one failed recipient.

    The precise text beats the code; the code beats the surrounding notice.
    """
    status = _refined_status(status, diagnostic)
    # URLs are no wording ("https://.../reason/#filtered" says nothing of the cause).
    diagnostic, context = _URL.sub(r"\1 ", diagnostic or ""), _URL.sub(r"\1 ", context or "")
    worded = _wording(patterns, diagnostic)
    kind = worded or status_type(status)
    if kind is None:
        kind = _wording(patterns, context) or REPLY_TYPES.get(find_reply(diagnostic))
    kind = kind or ("host" if temporary else "unknown")
    permanent = not temporary and not status.startswith("4") and not find_reply(
        diagnostic).startswith("4")
    stage = smtp_stage(diagnostic, context)
    policy_code = status.split(".")[1:2] == ["7"]
    if kind == "invalid" and (stage == "data" or (worded and policy_code)) \
            and not _YAHOO_DD.search(diagnostic):
        kind = "spam"  # a filter in disguise (see the module docstring)
    elif kind == "unknown" and stage == "data" and permanent:
        kind = "spam"
    elif stage in ("ehlo", "helo", "mail") and (
            kind in ("invalid", "dns") or (kind == "unknown" and permanent)):
        kind = "blocked"  # refused before any recipient was named
    if kind == "dns" and (temporary or status.startswith("4")):
        # Only a permanent answer proves a domain missing; a lookup that failed
        # for now is a network or server problem.
        kind = "host"
    hard = kind in HARD_TYPES or (
        kind == "inactive" and (status.endswith(".1.6") or bool(_MOVED.search(diagnostic))))
    return kind, hard, status


def _refined_status(status: str, diagnostic: str) -> str:
    """The DSN status, or the remote reply's own code when the status is X.0.0 or absent."""
    if status and not status.endswith(".0.0"):
        return status
    quoted = _REPLY_STATUS.search(diagnostic or "")
    if quoted and (not status or quoted.group(1) == status[0]):
        return ".".join(quoted.groups())
    return status or find_status(diagnostic)


def _wording(patterns: PatternSet, text: str) -> str | None:
    """The type the text's wording gives; ``unknown`` patterns only recognise a notice."""
    # Folded lines ("550 Unknown\n    user") are one phrase.
    kind = patterns.classify(" ".join(text.split()))
    return None if kind == "unknown" else kind


def smtp_stage(*texts: str) -> str:
    """The SMTP command the rejection answered: "ehlo", "helo", "mail", "rcpt", "data" or "".

    The first text naming a command decides.
    """
    for text in texts:
        found = _STAGE.search(text or "")
        if not found:
            continue
        stage = found.group(1).lower().split()[0]
        # Sendmail pipelines RCPT TO and DATA: a "Need RCPT" after ">>> DATA"
        # shows that the rejection quoted before it answered RCPT TO.
        if stage == "data" and _NO_RCPT.search(text, found.end(), found.end() + 800):
            return "rcpt"
        return stage
    return ""
