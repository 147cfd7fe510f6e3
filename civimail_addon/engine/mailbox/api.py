"""open_mailbox() and check_connection(): the two ways in."""

from __future__ import annotations

from .base import ConnectionReport, Mailbox
from .imap import ImapMailbox
from .local import DirectoryMailbox, MaildirMailbox
from .pop3 import Pop3Mailbox
from .settings import MailboxSettings, validate

BACKENDS: dict[str, type[Mailbox]] = {
    "imap": ImapMailbox,
    "pop3": Pop3Mailbox,
    "maildir": MaildirMailbox,
    "directory": DirectoryMailbox,
}


def open_mailbox(settings: MailboxSettings) -> Mailbox:
    """Connect, log in and open the folder; raise MailboxError on any failure.

    Use it as a context manager: leaving it closes cleanly (POP3 QUIT applies
    the deletions, IMAP LOGOUT).
    """
    validate(settings)
    return BACKENDS[settings.protocol](settings)


def check_connection(settings: MailboxSettings) -> ConnectionReport:
    """Go through every step once and report them with the message count."""
    with open_mailbox(settings) as box:
        return ConnectionReport(message_count=box.count(), folder=box.folder, steps=box.steps)
