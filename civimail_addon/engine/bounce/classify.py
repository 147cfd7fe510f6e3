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
X.7.17     mailbox owner has changed (RFC 7293)         inactive
X.7.23-27  SPF / DKIM / DMARC / reverse DNS failures    blocked
X.7.other  other security or policy details: vendors'   blocked
           own (Microsoft 5.7.1xx-7xx, Gmail X.7.28)
           refuse the sender
X.3/4/5/6  other details of the subject                 as X.y.0
=========  ==========================================  =========

The enhanced code the remote server put in its own reply ("550 5.7.1 ...")
is preferred to the DSN ``Status`` of the same class, which is the reporting
MTA's summary (Sendmail writes 5.1.1 for any 550 at RCPT TO, many write
X.0.0, which says nothing).

Codes are read only where a server puts them: the DSN ``Status`` field, and
SMTP reply lines (a line, a Diagnostic-Code or a quoted answer that starts
with the reply code, "host ... said: 550 ...", Exchange's "#5.1.1"). A
number in prose ("RFC 2046, 5.1.5, but ...") is no status.

Basic SMTP reply codes, when nothing else is known: 551/553 invalid, 552
quota, 421/450/451/4xx host, 500-504 syntax. A bare 550 or 554 stays unknown:
RFC 5321 gives 550 for "mailbox not found, no access, or command rejected for
policy reasons" alike, so it proves no address dead. Patterns typed
``unknown`` (notice intros) count as no wording at all.

Order of evidence, strongest first:

1. **The server's words about this recipient** (its reply or Diagnostic-Code,
   read by the bounce patterns). RFC 3463 makes the enhanced code a
   machine-readable summary and RFC 5321 (4.2) lets the text say more; in
   practice servers send generic or wrong codes with precise words
   ("550 5.7.1 No such user", "554 5.7.1 Rcpt <...> does not exist",
   Microsoft's "550 5.4.1 Recipient address rejected: Access denied", which
   its Exchange Online documentation gives for a recipient missing from the
   directory). So a reply that says the recipient does not exist is invalid,
   whatever the class of its code and the SMTP command it answered. One
   vendor exception: Japanese mobile carriers (au, docomo, SoftBank) tell
   their users that a sender their reception filter refuses gets "user
   unknown" after DATA; there it is spam.
2. **The enhanced status code** (RFC 3463, table above): a class, subject
   and detail chosen for machines.
3. **The basic reply code** (RFC 5321 4.2.2/4.2.3), coarser: it tells the
   class, and only 551/552/553 and 50x name a cause.
4. **The SMTP stage** (which command the reply answered), when nothing above
   names a cause: an unexplained permanent refusal after DATA concerns the
   message (content or policy): spam; one at EHLO/HELO or MAIL FROM concerns
   the sender, since no recipient was named yet: blocked. Words typed invalid
   or dns at EHLO/HELO/MAIL FROM are about the sender's address or domain:
   blocked too.
5. **The notice's own wording** (the text around the replies, which may
   speak of several recipients): last.

Finally a domain lookup that failed only temporarily is host: only a
permanent answer proves a domain missing.
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
    "7.13": "inactive", "7.17": "inactive", "7.23": "blocked", "7.24": "blocked", "7.25": "blocked",
    "7.26": "blocked", "7.27": "dns",
}
REPLY_TYPES = {"551": "invalid", "553": "invalid", "552": "quota",
               "421": "host", "450": "host", "451": "host", "452": "quota",
               "500": "syntax", "501": "syntax", "502": "syntax", "503": "syntax",
               "504": "syntax"}

# A reply line: at the start of a line (maybe after ">>>", "<<<", "#" or a
# quote), after what introduces a server's answer ("said:", "returned '",
# "smtp;", "error:"), or after a colon, bracket or quote; then the reply code,
# maybe followed by an enhanced code.
_REPLY_LINE = re.compile(
    r"(?im)(?:^[ \t>|<*#'\"(\[-]{0,8}|\b(?:said|replied|responded|response|reply|answer|"
    r"returned|error|smtp|code)\b[^\n\d]{0,12}|[:;\]'\"(#][ \t]{0,3})"
    r"([245]\d\d)(?:[ \t]{1,3}[245]\d\d)?"  # some relays repeat the code: "554 554 5.7.0"
    r"(?:[ \t]{0,3}[-#]?[ \t]{0,3}#?([245])\.(\d{1,3})\.(\d{1,3}))?(?![\d.])")
# An enhanced code alone: at the start of a line, after "#" (Exchange's
# "<mx.example.com #5.1.1>") or after "Status:" or "code:".
_STATUS_LINE = re.compile(
    r"(?im)(?:^[ \t>|<*(\[-]{0,8}|#|\b(?:status|code)\b\W{0,3})([245])\.(\d{1,3})\.(\d{1,3})"
    r"(?![\d.])")
_URL = re.compile(r"(?i)\b(https?://[^/\s]{1,255})/\S*")
# Postfix "(in reply to end of DATA command)", Exim "after end of data",
# Sendmail transcripts ">>> DATA", m-FILTER "SMTP command: DATA".
_STAGE = re.compile(
    r"(?im)(?:in reply to (?:the )?|after |^[ \t]*>>>[ \t]*|smtp command\W{0,10})(?:end of )?"
    r"(data\b|rcpt to\b|mail from\b|ehlo\b|helo\b)")
_NO_RCPT = re.compile(r"(?i)need rcpt|no valid recipients")
# Japanese mobile carriers answer "550 Unknown user" after DATA when the
# recipient's reception filter (指定受信 / 受信拒否) refuses the sender: the
# carriers tell their users that a refused sender gets a "user unknown"
# error. Recipient-side filtering, so spam, not a dead address.
_JP_CARRIERS = re.compile(
    r"(?i)@(?:[\w-]+\.)*(?:ezweb\.ne\.jp|au\.com|docomo\.ne\.jp|softbank\.ne\.jp|"
    r"i\.softbank\.jp|vodafone\.ne\.jp|disney\.ne\.jp|ymobile\.ne\.jp)$")
_MOVED = re.compile(r"(?i)\bmoved\b|has changed|new (e-?mail )?address|"
                    r"(write|send|use|contact)\b.{0,80}\binstead\b")


def reply_codes(text: str) -> tuple[str, str]:
    """``(reply code, enhanced code)`` of the first SMTP reply in ``text`` ('' when none)."""
    for found in _REPLY_LINE.finditer(text or ""):
        reply, cls = found.group(1), found.group(2)
        if cls is None:
            return reply, ""
        if cls == reply[0]:
            return reply, ".".join(found.group(2, 3, 4))
        return reply, ""
    return "", ""


def find_status(*texts: str) -> str:
    """The enhanced status code a server gave in one of ``texts`` ('' when none)."""
    for text in texts:
        quoted = reply_codes(text)[1]
        if quoted:
            return quoted
        found = _STATUS_LINE.search(text or "")
        if found:
            return ".".join(found.groups())
    return ""


def find_reply(text: str) -> str:
    return reply_codes(text)[0]


def status_type(status: str) -> str | None:
    if not status or status.count(".") != 2:
        return None
    _cls, subject, detail = status.split(".")
    known = STATUS_TYPES.get(f"{subject}.{detail}")
    if known is None and subject == "7":
        return "blocked"
    if known is None and subject in ("3", "4", "5", "6"):
        return STATUS_TYPES.get(f"{subject}.0")
    return known


def classify(status: str, diagnostic: str, context: str, patterns: PatternSet, *,
             temporary: bool = False, recipient: str = "") -> tuple[str, bool, str]:
    """Return ``(type, hard, status)`` for one failed recipient.

    ``status`` is the DSN Status field ('' when none), ``diagnostic`` the
    server's words about this recipient, ``context`` the rest of the notice.
    The evidence is weighed in the order of the module docstring.
    """
    reply, quoted = reply_codes(diagnostic)
    status = _refined_status(status, quoted, diagnostic)
    # URLs are no wording ("https://.../reason/#filtered" says nothing of the cause).
    diagnostic, context = _URL.sub(r"\1 ", diagnostic or ""), _URL.sub(r"\1 ", context or "")
    permanent = not temporary and not status.startswith("4") and not reply.startswith("4")
    stage = smtp_stage(diagnostic, context)
    worded = _wording(patterns, diagnostic)
    kind = worded or status_type(status) or REPLY_TYPES.get(reply)
    if kind is None and permanent and stage == "data":
        kind = "spam"  # refused for the message, not for an address
    elif kind == "invalid" and stage == "data" and _JP_CARRIERS.search(recipient):
        kind = "spam"
    if stage in ("ehlo", "helo", "mail") and (
            kind in ("invalid", "dns") or (kind is None and permanent)):
        kind = "blocked"  # refused before any recipient was named
    kind = kind or _wording(patterns, context) or ("host" if temporary else "unknown")
    if kind == "dns" and not permanent:
        # Only a permanent answer proves a domain missing; a lookup that failed
        # for now is a network or server problem.
        kind = "host"
    hard = kind in HARD_TYPES or (
        kind == "inactive" and (status.endswith(".1.6") or bool(_MOVED.search(diagnostic))))
    return kind, hard, status


def _refined_status(status: str, quoted: str, diagnostic: str) -> str:
    """The remote server's own enhanced code, else the DSN status.

    The Status field is the reporting MTA's summary (RFC 3464 2.3.4): Sendmail
    writes 5.1.1 for any 550 at RCPT TO, others 5.0.0. The code the remote
    server put in its reply (the Diagnostic-Code) is the first-hand one, when
    it is of the same class.
    """
    quoted = quoted or ("" if status and not status.endswith(".0.0")
                        else find_status(diagnostic))
    if quoted and (not status or quoted[0] == status[0]):
        return quoted
    return status


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
