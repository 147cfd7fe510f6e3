"""Automatic answers that are not bounces: RFC 3834 auto-replies (vacation,
out-of-office) and challenge-response requests; and who counts as a mail system."""

from __future__ import annotations

import re
from email.message import Message
from email.utils import parseaddr
from typing import TYPE_CHECKING

from . import mime, notice
from .report import BouncedRecipient, Report, one_line

if TYPE_CHECKING:
    from .interfaces import Context

_SUBJECT = re.compile(
    r"(?i)^\s*(out of (the )?office|auto(matic|matische)?[ -]?(reply|response|antwort)|"
    r"abwesenheit|absence|r[ée]ponse automatique|respuesta autom[áa]tica|"
    r"risposta automatica|on vacation|vacation|away from|i am away|away until)")
# Local parts of mail systems. Not "noreply" or "bounces": shops, carriers and
# newsletters send from those, and their "Delivery failed: parcel..." is no bounce.
_DAEMON = re.compile(r"(?i)^(mailer-daemon|post_?master|mail-daemon|mailerdaemon|mailer_daemon|"
                     r"mdaemon|mail\.?delivery\.?(sub)?system|"
                     r"microsoftexchange[0-9a-f]{0,40})(@|$)")
# Display names mail systems sign their notices with.
_DAEMON_NAME = re.compile(
    r"(?i)^\W*(mail(er)?[ -]?daemon|postmaster|mail delivery (sub)?system|"
    r"mail (administrator|system|router)|microsoft (exchange|outlook)|"
    r"delivery (status )?notification|undeliverable mail|mail delivery service|"
    r"system administrator|internet mail delivery|delivery subsystem)\b")
# Challenge-response systems (TMDA, Spam Arrest, Boxbe, Mailbox "pre-approved
# senders", ISP sender verification): the recipient's filter holds the message
# until its sender proves to be a person. Phrases of their requests; each
# speaks of the sender's approval or of a held message, so a newsletter's
# "please confirm your subscription" is none.
_CHALLENGE = re.compile(
    r"(?i)sender (is )?not pre-?approved|pre-?approved senders?|approved senders|"
    r"(message|e-?mail|mail)\b.{0,80}\brequires? (your |a |sender )?(confirmation|verification)|"
    r"(confirm|verify|prove) (that )?you are (a )?(human|real person|person|not a (robot|spammer))|"
    r"added to (my|the) (list of )?(approved|allowed|trusted) senders|"
    r"(message|e-?mail) (is|has been|will be) (held|quarantined|kept) (until|pending)|"
    r"\bspam ?arrest\b|\bboxbe\b|\btmda\b|challenge[- ]response|"
    r"(join|added to) my guest list")


def is_daemon(address: str) -> bool:
    return bool(_DAEMON.match(address or ""))


def is_daemon_sender(msg: Message) -> bool:
    """Is ``msg`` From a mail system (a daemon's address or display name)?

    The null return path is no sign of it: RFC 3834 asks auto-replies to use
    it too.
    """
    name, address = parseaddr(mime.header(msg, "From"))
    return is_daemon(address.lower()) or bool(_DAEMON_NAME.match(name or ""))


def is_challenge(msg: Message, text: str) -> bool:
    """Is ``msg`` a challenge-response request (its subject or own ``text``)?"""
    return bool(_CHALLENGE.search(mime.header(msg, "Subject")) or _CHALLENGE.search(text[:8192]))


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


class Challenges:
    """A challenge-response request, unless a mail system quotes a refusal."""

    name = "challenge"

    def detect(self, msg: Message, context: Context) -> Report | None:
        refused = notice.quotes_refusal(context.own_text) or bool(msg.get("X-Failed-Recipients"))
        if (context.daemon and refused) or not is_challenge(msg, context.own_text):
            return None
        return Report("challenge", "Challenge-response request: the recipient's filter asks "
                      "the sender to confirm; not a bounce.", challenges=[
            BouncedRecipient(context.sender, "challenge", False, "",
                             one_line(mime.header(msg, "Subject")))])


class AutoReplies:
    """An auto-reply; Exim and others mark their bounces Auto-Submitted: auto-replied too."""

    name = "autoreply"

    def detect(self, msg: Message, context: Context) -> Report | None:
        why = reason(msg)
        if not why or (context.daemon and context.bounce_like):
            return None
        sender = context.sender
        return Report("autoreply", f"Auto-reply: {why}.", [
            BouncedRecipient(sender, "away", False, "", one_line(mime.header(msg, "Subject")))]
            if sender else [])
