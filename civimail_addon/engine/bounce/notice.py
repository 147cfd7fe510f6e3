"""The notice's own words: where it ends, and whether it reports a failed delivery.

:class:`NoBounceWording` is the registry's gate between the reports that
speak for themselves (complaints, DSNs, receipts, auto-replies) and the text
formats: a message with no sign of a failed delivery is no bounce, whatever
addresses its text holds.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import TYPE_CHECKING

from . import mime
from .report import Report

if TYPE_CHECKING:
    from .interfaces import Context

# Lines that start the copy of the returned message in text-only bounces.
_SEPARATOR = re.compile(
    r"(?im)^[ \t]*(?:[-=_#*]{3,}.{0,20}(?:original|copy|returned|below|undelivered message|"
    r"headers?|bounced|message (?:text|follows))|"
    r"(?:message headers follow|original message follows|original message headers|"
    r"-+ ?original message ?-+|bounced e-?mail:|"
    r"(?:the |your )?(?:original|returned) message (?:follows|is attached|headers?)))")
_HEADER_START = re.compile(r"(?m)^(?:Return-Path|Received|DKIM-Signature|X-Original-To"
                           r"|Delivered-To|Message-I[dD]):[ \t]?\S")

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
# A quoted SMTP refusal: a 4xx/5xx reply with an enhanced code of its class ("451 4.3.0").
_SMTP_REFUSAL = re.compile(r"(?<![\d.])([45])\d\d[ -]\1\.\d{1,3}\.\d{1,3}\b")
# What people put before the subject of a reply or a forward (several languages).
_REPLY_SUBJECT = re.compile(
    r"(?i)^\s*\[?\s*(re|fwd?|aw|wg|tr|sv|vs|rv|r|i|enc|antw)\s*(\[\d+\])?\s*:")
_LIST_HEADERS = ("List-Id", "List-Post", "List-Unsubscribe", "X-Mailing-List")


def notice_part(text: str) -> str:
    """The notice without the inline copy of the returned message."""
    end = len(text)
    for pattern in (_SEPARATOR, _HEADER_START):
        found = pattern.search(text)
        if found and found.start() > 0:
            end = min(end, found.start())
    return text[:end]


def unquoted(text: str) -> str:
    """``text`` without the lines a person quoted ("> ...")."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def quotes_refusal(text: str) -> bool:
    """Does ``text`` quote an SMTP refusal with its enhanced code ("550 5.1.1 ...")?"""
    return bool(_SMTP_REFUSAL.search(text))


def looks_like_bounce(msg: Message, daemon: bool, own_text: str) -> bool:
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


class NoBounceWording:
    """Neither a report nor an auto-reply, and no sign of a failed delivery: no bounce."""

    name = "no-bounce-wording"

    def detect(self, msg: Message, context: Context) -> Report | None:
        if context.bounce_like:
            return None
        return Report("not_bounce", "Neither a delivery report nor an auto-reply.")
