"""RFC 3834 auto-replies (vacation and out-of-office messages)."""

from __future__ import annotations

import re
from email.message import Message

from . import mime

_SUBJECT = re.compile(
    r"(?i)^\s*(out of (the )?office|auto(matic|matische)?[ -]?(reply|response|antwort)|"
    r"abwesenheit|absence|r[ée]ponse automatique|respuesta autom[áa]tica|"
    r"risposta automatica|on vacation|vacation|away from|i am away|away until)")
_DAEMON = re.compile(r"(?i)^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|"
                     r"bounces?|noreply|no-reply|mdaemon)(@|$)")


def is_daemon(address: str) -> bool:
    return bool(_DAEMON.match(address or ""))


def reason(msg: Message) -> str:
    """Why ``msg`` is an auto-reply ('' when it is not one).

    Microsoft's X-Auto-Response-Suppress asks others not to auto-reply; it
    does not mark the message itself as one, so it is ignored.
    """
    auto = mime.header(msg, "Auto-Submitted").lower()
    if auto.startswith("auto-replied"):
        return "it carries Auto-Submitted: auto-replied (RFC 3834)"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if mime.header(msg, name):
            return f"it carries an {name} header"
    if mime.header(msg, "Precedence").lower() == "auto_reply":
        return "it carries Precedence: auto_reply"
    subject = mime.header(msg, "Subject")
    if _SUBJECT.search(subject):
        return f"its subject ({subject[:60]!r}) is an auto-reply subject"
    return ""
