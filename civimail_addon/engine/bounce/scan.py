"""Bounce analysis: what a returned message says about which recipients.

:func:`analyze` never raises. It walks :data:`DETECTORS`, the one ordered
registry of sources of evidence, most authoritative first, and the first
detector with an answer decides (the contract is in :mod:`.interfaces`).
Each failed recipient gets a type from :mod:`.classify`.
"""

from __future__ import annotations

from email.message import Message

from ..verp import VerpCodec
from . import (
    arf,
    autoreply,
    blocks,
    budget,
    dsn,
    failed_header,
    flufl_fallback,
    mdn,
    mime,
    notice,
    returned,
    sendmail,
    ses,
    transcript,
)
from .interfaces import Context, Detector
from .patterns import PatternSet, default_patterns
from .report import MAX_BOUNCES, BouncedRecipient, Report
from .text import TextFormat

#: Most authoritative first; the first that answers decides.
DETECTORS: tuple[Detector, ...] = (
    # Reports that speak for themselves.
    arf.Complaints(),                       # RFC 5965 feedback reports, JMRP, AOL
    ses.SesNotices(),                       # Amazon SES notifications by mail
    dsn.DeliveryStatus(),                   # RFC 3464 delivery status notifications
    mdn.ReadReceipts(),                     # RFC 8098 read receipts: no bounce
    autoreply.Challenges(),                 # challenge-response requests
    autoreply.AutoReplies(),                # RFC 3834 auto-replies
    notice.NoBounceWording(),               # no sign of a failed delivery: no bounce
    # Text bounces: who failed, most reliable first.
    failed_header.FailedRecipientsHeader(),  # Exim, Gmail: X-Failed-Recipients
    transcript.Transcript(),                # quoted SMTP dialogue (Sendmail and others)
    transcript.Session(),                   # Postfix's "Transcript of session follows"
    sendmail.Sendmail(),                    # Sendmail V5/V8 "550 <a@b>... User unknown"
    blocks.Blocks(),                        # one address a line: qmail, Exchange, Domino...
    flufl_fallback.FluflBounce(),           # flufl.bounce's MTA heuristics
    returned.ReturnedHeaders(),             # the returned message's To/Cc
)
_TEXT_FORMATS = tuple(d for d in DETECTORS if isinstance(d, TextFormat))


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
            report = _scan(msg, raw, patterns or default_patterns())
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


def _scan(msg: Message, raw: bytes, patterns: PatternSet) -> Report:
    context = Context(msg, raw, patterns, _TEXT_FORMATS)
    for detector in DETECTORS:
        budget.check()
        report = detector.detect(msg, context)
        if report is not None:
            return report
    # Past the gate (notice.NoBounceWording) every message is a bounce; the
    # detectors after it only name its failed recipients.
    return Report("bounce", "Bounce notice without an identifiable recipient.")


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
