"""Bounce analysis: what a returned message says about which recipients.

``analyze(raw)`` never raises. Steps, in order: complaints (ARF, SES), RFC 3464
DSNs, auto-replies, then text bounces (flufl.bounce and our own detectors),
and lastly the headers of the returned original. Each failed recipient gets a
type from :mod:`.classify`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses, parseaddr
from pathlib import Path

from . import arf, autoreply, budget, detectors, dsn, mdn, mime, ses
from .classify import classify
from .patterns import PatternSet, default_patterns
from .verp import VerpCodec, VerpToken

__all__ = ["BouncedRecipient", "Report", "analyze", "render_table"]

MAX_DIAGNOSTIC = 500
#: Bytes and lines of a message flufl.bounce reads (the notice, not a huge returned message).
FLUFL_MAX_RAW = 64 * 1024
FLUFL_MAX_LINES = 2000
#: Failed recipients reported for one message (a bounce names one, a few at most).
MAX_BOUNCES = dsn.MAX_RECIPIENTS

# flufl.bounce logs a traceback for each of its detectors that chokes on a
# message, through its own logger; the analyzer already treats that as "found
# nothing". Kept out of the host's log and of stderr (which system cron mails
# to the administrator after every successful run).
_FLUFL_LOG = logging.getLogger("flufl.bounce")
_FLUFL_LOG.addHandler(logging.NullHandler())
_FLUFL_LOG.propagate = False

_BOUNCE_SUBJECT = re.compile(
    r"(?i)undeliver|undelivered|delivery (status|failure|failed|notification|has failed|"
    r"problem)|failure notice|returned mail|mail delivery (failed|failure|system)|"
    r"non[- ]?remis|unzustellbar|nicht zustellbar|failed delivery|failure delivery|"
    r"delivery error|mail system error|could not be delivered|returned to sender|"
    r"\bbounce|warning: (message|could not)|delayed mail|not delivered|mail failed|"
    r"returning (message )?to sender|"
    # Outlook's localised "Undeliverable:" (Dutch, Spanish, Italian, Portuguese,
    # Nordic, Polish, Russian); French and German are above.
    r"onbestelbaar|no se puede entregar|non recapitabile|n[ãa]o (é possível )?entreg|"
    r"kan inte levereras|ikke leveret|ikke levert|niedostarczalne|недоставляемое|"
    r"配信不能|配信できません|配信されませんでした|送信できません|"
    r"エラーメール|メールエラー|エラー通知")
_BOUNCE_TEXT = re.compile(
    r"(?i)(could not|couldn't|was not|cannot|can't|unable to|wasn't able to|failed to|"
    r"has not yet been) (be )?deliver|delivery (has )?failed|permanent (fatal )?error|"
    r"undeliverable|did not reach|error delivering|not delivered|delivery to .{0,80} failed|"
    r"returned (mail|message)|failure reasons|delivery failure|was rejected|"
    r"failed addresses|no valid recipients|配信されませんでした|配信できませんでした|"
    r"送信できませんでした")
# An SMTP reply line quoting a refusal ("550 ...", "<<< 550 ...", "said: 550").
_REPLY_LINE = re.compile(r"(?im)(?:^[ \t<>]{0,8}|said:\s{0,3})[45]\d\d[ -]\S")
# The first line of a multi-line reply ("554-...") and a success reply ("221 Bye").
_MULTILINE = re.compile(r"\s*([45]\d\d)-")
_SUCCESS_REPLY = re.compile(r"\s*2\d\d\b")
_REFUSAL_CODE = re.compile(r"\b[45]\d\d\b")
# A quoted SMTP refusal: a 4xx/5xx reply with an enhanced code of its class ("451 4.3.0").
_SMTP_REFUSAL = re.compile(r"(?<![\d.])([45])\d\d[ -]\1\.\d{1,3}\.\d{1,3}\b")
# What people put before the subject of a reply or a forward (several languages).
_REPLY_SUBJECT = re.compile(
    r"(?i)^\s*\[?\s*(re|fwd?|aw|wg|tr|sv|vs|rv|r|i|enc|antw)\s*(\[\d+\])?\s*:")
_LIST_HEADERS = ("List-Id", "List-Post", "List-Unsubscribe", "X-Mailing-List")
# Google Groups refuses a post (non-member, or a group that may not exist: the
# notice cannot tell) in the poster's language, with no SMTP code.
_GOOGLE_GROUP = re.compile(r"(?i)@googlegroups\.com$")


@dataclass
class BouncedRecipient:
    email: str
    type: str
    hard: bool
    status: str = ""
    diagnostic: str = ""
    verp: VerpToken | None = None

    def to_dict(self) -> dict:
        return {"email": self.email, "type": self.type, "hard": self.hard,
                "status": self.status, "diagnostic": self.diagnostic}


@dataclass
class Report:
    kind: str  # "bounce", "autoreply", "challenge", "complaint", "not_bounce", "unprocessable"
    reason: str
    bounces: list[BouncedRecipient] = field(default_factory=list)
    message_id: str = ""
    #: Who sent a challenge-response request (kind "challenge"): not bounces.
    challenges: list[BouncedRecipient] = field(default_factory=list)
    #: Bounce patterns that ran out of time on this message (named to the manager).
    slow_patterns: list[str] = field(default_factory=list)

    def to_dict(self, path: str | Path = "") -> dict:
        return {"file": str(path), "kind": self.kind,
                "bounces": [b.to_dict() for b in self.bounces]}


def one_line(text: str, limit: int = MAX_DIAGNOSTIC) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def analyze(raw: bytes, patterns: PatternSet | None = None,
            verp: VerpCodec | None = None,
            seconds: float | None = budget.DEFAULT_SECONDS) -> Report:
    """Analyze one message; never raises.

    Past ``seconds`` (None: no limit) the analysis stops and the report's kind
    is ``unprocessable``: the caller sets the message aside with the reason.
    """
    with budget.analysis(seconds) as spent:
        try:
            msg = mime.parse(raw)
            if msg is None:
                return Report("not_bounce", "Unparseable or empty message.")
            report = _analyze(msg, patterns or default_patterns(), raw)
            del report.bounces[MAX_BOUNCES:]
            report.message_id = mime.header(msg, "Message-ID")
            if verp is not None:
                _attach_verp(report, msg, verp)
        except budget.BudgetExceeded as exc:
            report = Report("unprocessable", f"Set aside: {exc}.")
        except Exception as exc:  # noqa: BLE001 - the analyzer must never raise
            report = Report("not_bounce", f"Unparseable message ({type(exc).__name__}).")
        report.slow_patterns = list(spent.slow_patterns)
        return report


def _analyze(msg: Message, patterns: PatternSet, raw: bytes) -> Report:  # noqa: PLR0911 - one exit per kind
    notice_full = mime.body_text(msg)
    budget.check()

    complaint = arf.parse(msg)
    if complaint is not None:
        # With no address to name, one entry still records the complaint
        # (the caller can tie it to a mailing through VERP or Message-ID).
        return Report("complaint", f"Feedback report ({complaint.feedback_type}).", [
            BouncedRecipient(r, "complaint", False) for r in complaint.recipients or [""]])

    notice = ses.parse(notice_full)
    if notice is not None:
        return _from_ses(notice, patterns)

    daemon = autoreply.is_daemon_sender(msg)
    null_sender = mime.header(msg, "Return-Path").strip() == "<>"
    reports = dsn.recipients(msg, attached=daemon or null_sender)
    budget.check()
    failed = [r for r in reports if r.action not in dsn.SUCCESS_ACTIONS]
    if reports and not failed:
        return Report("not_bounce", "Delivery status notification of successful delivery.")
    notice_text = detectors.notice_part(notice_full)
    if failed:
        return _from_dsn(msg, failed, notice_text, patterns)
    if mdn.is_receipt(msg):
        return Report("not_bounce", "Message disposition notification (read receipt, RFC 8098).")

    sender = _address(mime.header(msg, "From"))
    own_text = _unquoted(notice_text)
    refused = bool(_SMTP_REFUSAL.search(own_text) or msg.get("X-Failed-Recipients"))
    if not (daemon and refused) and autoreply.is_challenge(msg, own_text):
        return Report("challenge", "Challenge-response request: the recipient's filter asks "
                      "the sender to confirm; not a bounce.", challenges=[
            BouncedRecipient(sender, "challenge", False, "",
                             one_line(mime.header(msg, "Subject")))])
    why = autoreply.reason(msg)
    bounce_like = _looks_like_bounce(msg, daemon or null_sender, own_text)
    # Exim and others mark their bounces Auto-Submitted: auto-replied too.
    if why and not (daemon and bounce_like):
        return Report("autoreply", f"Auto-reply: {why}.", [
            BouncedRecipient(sender, "away", False, "", one_line(mime.header(msg, "Subject")))]
            if sender else [])

    if not bounce_like:
        return Report("not_bounce", "Neither a delivery report nor an auto-reply.")
    return _from_text(msg, notice_text, patterns, raw)


def _from_ses(notice: ses.SesNotice, patterns: PatternSet) -> Report:
    if notice.kind == "not_bounce":
        return Report("not_bounce", "Amazon SES notification of a delivery.")
    if notice.kind == "complaint":
        return Report("complaint", "Amazon SES complaint notification.", [
            BouncedRecipient(e, "complaint", False) for e, _s, _d in notice.entries if e])
    bounces = []
    for email, given, diagnostic in notice.entries:
        kind, hard, status = classify(given, diagnostic, "", patterns,
                                      temporary=not notice.permanent)
        bounces.append(BouncedRecipient(email, kind, hard, status, one_line(diagnostic)))
    return Report("bounce", "Amazon SES bounce notification.", bounces)


def _from_dsn(msg: Message, failed: list[dsn.DsnRecipient], notice: str,
              patterns: PatternSet) -> Report:
    found = {f.email: f.diagnostic for f in detectors.detect(notice, set())[1]}
    original = _original_recipient(msg, notice)
    context = dsn.prose(notice)
    bounces = []
    for rcpt in failed:
        email = rcpt.email or (original[0] if len(original) == 1 else "")
        text = _whole_reply(rcpt.diagnostic, notice) or found.get(email, "")
        delayed = rcpt.action == "delayed"
        kind, hard, status = classify(rcpt.status, text, context, patterns, temporary=delayed,
                                      recipient=email)
        if delayed or status.startswith("4"):
            hard = hard and not delayed and kind == "invalid"
        bounces.append(BouncedRecipient(email, kind, hard, status, one_line(text or notice)))
    action = "delayed" if all(r.action == "delayed" for r in failed) else "failed"
    return Report("bounce", f"Delivery status notification ({action}).", bounces)


def _whole_reply(diagnostic: str, notice: str) -> str:
    """The Diagnostic-Code's reply, completed from the notice's transcript.

    Sendmail keeps only the first line of a multi-line reply ("554-gmx.net
    ... Service not available"), whose last lines say why ("554-IP address is
    block listed"); the transcript in the notice has them all. A success reply
    ("221 Bye", the answer to QUIT after a 421 greeting) explains nothing.
    """
    diagnostic = diagnostic or ""
    code = _MULTILINE.match(diagnostic)
    if code:
        # The transcript's lines of this reply: from its first line on, while
        # they carry its code.
        first = " ".join(diagnostic.split())
        lines = [" ".join(ln.split()).removeprefix("<<<").strip() for ln in notice.splitlines()]
        if first in lines:
            start = lines.index(first)
            reply = [lines[start]]
            for line in lines[start + 1:start + 20]:
                if not line.startswith(code.group(1)):
                    break
                reply.append(line)
                if line[3:4] == " ":  # "554 ..." ends a multi-line reply
                    break
            return " ".join(reply)
        return diagnostic
    if _SUCCESS_REPLY.match(diagnostic) and not _REFUSAL_CODE.search(diagnostic):
        return ""
    return diagnostic


def _from_text(msg: Message, notice: str, patterns: PatternSet, raw: bytes) -> Report:
    # Where a failed recipient comes from, most reliable first: X-Failed-Recipients
    # (Exim, Gmail), which names them outright, even the sender of a message to
    # oneself; the notice's lines that tie an address to failure words;
    # flufl.bounce's MTA heuristics; and last the returned message's headers
    # when they name one recipient (or the one the notice names by display
    # name, as Exchange 2003 does).
    failed = _failed_header(msg)
    exclude = _senders(msg) - set(failed)
    how, found = detectors.detect(notice, exclude)
    diagnostics = {f.email: f.diagnostic for f in found}
    emails = [f.email for f in found]
    if failed:
        emails, how = failed, "the X-Failed-Recipients header"
    if not emails:
        budget.check()
        # Only what the notice itself names: flufl.bounce reads the returned
        # message too, whose To or Cc may be a list or another person.
        named = notice.lower()
        emails = [e for e in _flufl(msg, raw) if e not in exclude and e in named]
        how = "flufl.bounce" if emails else how
    if not emails:
        emails = [e for e in _original_recipient(msg, notice) if e not in exclude]
        how = "the returned message's headers" if emails else how
    if not emails:
        return Report("bounce", "Bounce notice without an identifiable recipient.")
    temporary = bool(re.search(r"(?i)delayed|not yet been delivered|will (continue|retry)|"
                               r"still (being )?retr", notice))
    bounces = []
    for email in emails:
        text = diagnostics.get(email, "") or (notice if len(emails) == 1 else "")
        kind, hard, status = classify("", text, notice, patterns, temporary=temporary,
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
    coded = [ln for ln in lines if re.search(r"\b[45]\d\d\b|\b[45]\.\d+\.\d+\b", ln)]
    return " ".join(coded or lines)


def _looks_like_bounce(msg: Message, daemon: bool, own_text: str) -> bool:
    """Is there evidence that ``msg`` reports a failed delivery?

    A delivery-status report, an Exim/Gmail X-Failed-Recipients header, or
    failure wording from a null or mail-system sender (MAILER-DAEMON,
    postmaster, Microsoft Exchange...). From anyone else, a failure subject
    and failure wording of its own (not quoted with ">") with the returned
    message or an SMTP reply, and neither a reply or forward subject nor the
    headers of list mail: a person quoting a bounce, a forwarded notice, a
    digest or a list post is not one.
    """
    if msg.get("X-Failed-Recipients") or (
            mime.content_type(msg) == "multipart/report"
            and "delivery-status" in mime.header(msg, "Content-Type").lower()):
        return True
    subject = mime.header(msg, "Subject")
    if daemon:
        return bool(_BOUNCE_SUBJECT.search(subject) or _BOUNCE_TEXT.search(own_text)
                    or _SMTP_REFUSAL.search(own_text) or _REPLY_LINE.search(own_text))
    if _REPLY_SUBJECT.match(subject) or any(msg.get(h) for h in _LIST_HEADERS):
        return False
    # A courier's "Delivery failed: parcel..." has the words but no mail in it.
    return bool(_BOUNCE_SUBJECT.search(subject) and _BOUNCE_TEXT.search(own_text) and (
        mime.attached_message(msg) is not None or _SMTP_REFUSAL.search(own_text)
        or _REPLY_LINE.search(own_text)))


def _unquoted(text: str) -> str:
    """``text`` without the lines a person quoted ("> ...")."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def _address(value: str) -> str:
    return parseaddr(value)[1].lower()


def _senders(msg: Message) -> set[str]:
    """Addresses that are not the failed recipient: the notice's and original's senders."""
    found = {_address(mime.header(msg, name)) for name in ("From", "To", "Reply-To", "Sender")}
    original = mime.attached_message(msg)
    if original is not None:
        found |= {_address(mime.header(original, n)) for n in ("From", "Sender", "Return-Path")}
    return {f for f in found if f}


def _failed_header(msg: Message) -> list[str]:
    """Addresses of X-Failed-Recipients (Exim, Gmail), at most ``MAX_BOUNCES``."""
    values = " ".join(str(v)[:mime.MAX_HEADER] for v in msg.get_all("X-Failed-Recipients") or [])
    found = [a.lower() for a in detectors.addresses(values)]
    return list(dict.fromkeys(found))[:MAX_BOUNCES]


def _addressees(original: Message) -> list[tuple[str, str]]:
    """``(display name, address)`` of the To and Cc of a returned message."""
    values = [str(v)[:mime.MAX_HEADER]
              for name in ("To", "Cc") for v in original.get_all(name) or []]
    try:
        pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - deeply nested comments and the like
        return []
    return [(n.strip(), a.lower()) for n, a in pairs if detectors.is_address(a)][:MAX_BOUNCES]


def _original_recipient(msg: Message, notice: str) -> list[str]:
    """The returned message's recipient, when its headers leave no doubt.

    Its only To/Cc address, or the ones the notice names by display name
    (Exchange 2003: "John Doe on 1/1/2010"); never the address of the list
    it was posted to (its List-Post).
    """
    original = mime.attached_message(msg)
    if original is None:
        return []
    pairs = _addressees(original)
    list_address = _address(mime.header(original, "List-Post").replace("mailto:", ""))
    pairs = [(n, a) for n, a in pairs if a != list_address]
    if len({a for _n, a in pairs}) == 1:
        return [pairs[0][1]]
    named = [a for n, a in pairs if len(n) >= 3 and n.lower() in notice.lower()]
    return list(dict.fromkeys(named))


def _flufl(msg: Message, raw: bytes) -> list[str]:
    try:
        from flufl.bounce import all_failures  # noqa: PLC0415 - optional fallback
    except ImportError:
        return []
    head = raw[:FLUFL_MAX_RAW]
    lines = head.split(b"\n", FLUFL_MAX_LINES)
    if len(head) < len(raw) or len(lines) > FLUFL_MAX_LINES:
        # Its detectors read every line with dozens of patterns: give them the
        # head of the message (the notice comes first).
        msg = mime.parse(b"\n".join(lines[:FLUFL_MAX_LINES])) or msg
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - its heuristics choke on odd input
        return []
    found = []
    for item in (*permanent, *temporary):
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        address = text.strip("<> ").lower()
        if detectors.is_address(address):  # its patterns take "instead.a@b" or "a@b>"
            found.append(address)
    return list(dict.fromkeys(found))


def _attach_verp(report: Report, msg: Message, codec: VerpCodec) -> None:
    """Pair each reported recipient with the VERP token signed for it.

    At most ``MAX_BOUNCES`` recipients and ``verp.MAX_TOKENS`` tokens, so the
    signatures checked per message stay bounded.
    """
    tokens = codec.find_tokens(msg)
    named = report.challenges if report.kind == "challenge" else report.bounces
    if not tokens or report.kind == "not_bounce":
        return
    unused = list(tokens)
    for bounce in named:
        for token in unused:
            if codec.verify(token, bounce.email):
                bounce.verp = token
                unused.remove(token)
                break
    if len(unused) == 1 and len(named) == 1 and named[0].verp is None:
        # Forwarding may rewrite the address; the trace id still names the
        # recipient, and the caller verifies it against the trace's address.
        named[0].verp = unused[0]
    elif not named and report.kind == "bounce":
        report.bounces = [BouncedRecipient("", "unknown", False, "", "", t) for t in unused]


def render_table(reports: list[tuple[str, Report]], width: int = 60) -> str:
    """A fixed-width text table of ``(file, report)`` pairs for the command line."""
    rows = [("FILE", "KIND", "EMAIL", "TYPE", "HARD", "STATUS", "DIAGNOSTIC")]
    for path, report in reports:
        name = Path(str(path)).name
        if not report.bounces:
            rows.append((name, report.kind, "-", "-", "-", "-", one_line(report.reason, width)))
        for b in report.bounces:
            rows.append((name, report.kind, b.email or "-", b.type, "yes" if b.hard else "no",
                         b.status or "-", one_line(b.diagnostic, width) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
