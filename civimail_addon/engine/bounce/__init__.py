"""Bounce analysis, shaped like flufl.bounce.

One module per source of evidence or MTA family (complaints, provider
notices, RFC 3464 DSNs, read receipts, auto-replies, the text formats of
Sendmail, Postfix, qmail, Exchange, Domino..., flufl.bounce as a fallback),
one ordered registry (:data:`.scan.DETECTORS`, most authoritative first),
one detector contract (:class:`.interfaces.Detector`). Callers need only
what this module exports; bounce types and patterns are :mod:`.classify`
and :mod:`.patterns`.
"""

from .budget import DEFAULT_SECONDS
from .interfaces import Context, Detector
from .report import BouncedRecipient, Report, one_line, render_table
from .scan import DETECTORS, analyze

__all__ = [
    "DEFAULT_SECONDS",
    "DETECTORS",
    "BouncedRecipient",
    "Context",
    "Detector",
    "Report",
    "analyze",
    "one_line",
    "render_table",
]
