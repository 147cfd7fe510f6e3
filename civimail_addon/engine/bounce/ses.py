"""Amazon SES notifications delivered by mail (SNS JSON bodies)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING

from .classify import classify
from .report import BouncedRecipient, Report, one_line

if TYPE_CHECKING:
    from .interfaces import Context

_START = re.compile(r'\{\s*"(notificationType|eventType|Type)"')


@dataclass
class SesNotice:
    kind: str  # "bounce", "complaint" or "not_bounce"
    entries: list[tuple[str, str, str]] = field(default_factory=list)  # email, status, diag
    permanent: bool = False


def _load(text: str) -> dict | None:
    found = _START.search(text)
    if not found:
        return None
    try:
        data, _end = json.JSONDecoder(strict=False).raw_decode(text[found.start():])
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        # An SNS envelope wraps the SES notification as a JSON string.
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def parse(text: str) -> SesNotice | None:
    data = _load(text or "")
    if not data:
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    if kind == "bounce":
        bounce = data.get("bounce") or {}
        entries = [(str(r.get("emailAddress", "")).lower(), str(r.get("status", "")),
                    str(r.get("diagnosticCode", "")))
                   for r in bounce.get("bouncedRecipients") or [] if isinstance(r, dict)]
        return SesNotice("bounce", entries, bounce.get("bounceType") == "Permanent")
    if kind == "complaint":
        complaint = data.get("complaint") or {}
        entries = [(str(r.get("emailAddress", "")).lower(), "", "")
                   for r in complaint.get("complainedRecipients") or [] if isinstance(r, dict)]
        return SesNotice("complaint", entries)
    if kind in ("delivery", "send", "open", "click"):
        return SesNotice("not_bounce")
    return None


class SesNotices:
    name = "ses"

    def detect(self, msg: Message, context: Context) -> Report | None:
        notice = parse(context.text)
        if notice is None:
            return None
        if notice.kind == "not_bounce":
            return Report("not_bounce", "Amazon SES notification of a delivery.")
        if notice.kind == "complaint":
            return Report("complaint", "Amazon SES complaint notification.", [
                BouncedRecipient(e, "complaint", False) for e, _s, _d in notice.entries if e])
        bounces = []
        for email, given, diagnostic in notice.entries:
            kind, hard, status = classify(given, diagnostic, "", context.patterns,
                                          temporary=not notice.permanent)
            bounces.append(BouncedRecipient(email, kind, hard, status, one_line(diagnostic)))
        return Report("bounce", "Amazon SES bounce notification.", bounces)
