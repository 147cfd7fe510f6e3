"""Read bounce mailboxes: IMAP, POP3, Maildir or a plain directory.

    with open_mailbox(settings) as box:
        for batch in box.batches(limit=1000):
            ...  # process, COMMIT, then:
            box.mark(uids, PROCESSED)  # or IGNORED

Messages are marked (moved away, or deleted on POP3) only after the caller
has committed, so a crash in between leaves them where they were and the next
run reads them again. Messages over ``max_message_size`` come back with
``raw=None`` and a ``skip_reason``. Every failure is a MailboxError whose
``step`` says what to fix. One module per concern, as in flufl.bounce.
"""

from .settings import MailboxSettings, default_port
from .errors import MailboxError
from .base import IGNORED, PROCESSED, ConnectionReport, Mailbox, MailboxMessage
from .api import check_connection, open_mailbox

__all__ = [
    "IGNORED",
    "PROCESSED",
    "ConnectionReport",
    "Mailbox",
    "MailboxError",
    "MailboxMessage",
    "MailboxSettings",
    "check_connection",
    "default_port",
    "open_mailbox",
]
