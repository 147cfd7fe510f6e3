"""RFC 8098 message disposition notifications (read receipts): never bounces."""

from __future__ import annotations

from email.message import Message
from typing import TYPE_CHECKING

from . import mime
from .report import Report

if TYPE_CHECKING:
    from .interfaces import Context


def is_receipt(msg: Message) -> bool:
    """Is ``msg`` a read receipt (a disposition-notification report)?"""
    if (mime.content_type(msg) == "multipart/report"
            and "disposition-notification" in mime.header(msg, "Content-Type").lower()):
        return True
    return any(mime.content_type(part) == "message/disposition-notification"
               for part in mime.walk(msg))


class ReadReceipts:
    name = "mdn"

    def detect(self, msg: Message, context: Context) -> Report | None:
        if not is_receipt(msg):
            return None
        return Report("not_bounce", "Message disposition notification (read receipt, RFC 8098).")
