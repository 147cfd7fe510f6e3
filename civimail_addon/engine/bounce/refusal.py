"""A refusal the SMTP server gave while a mailing was sent, typed as a bounce would be."""

from __future__ import annotations

from .classify import classify, find_status
from .patterns import PatternSet
from .report import BouncedRecipient

#: The SMTP command each sending stage answered.
_COMMANDS = {"mail": "MAIL FROM", "rcpt": "RCPT TO"}


def smtp_refusal(email: str, smtp_code: int | str, smtp_message: str, stage: str,
                 patterns: PatternSet) -> BouncedRecipient:
    """The bounce of ``email`` refused with ``smtp_code`` at ``stage`` ("mail", "rcpt", "data").

    Worded as a DSN's Diagnostic-Code ("smtp; 550 ..."), with the command it
    answered as context: a refusal of MAIL FROM is about the sender.
    """
    diagnostic = f"smtp; {smtp_code} {' '.join(str(smtp_message).split())}"
    command = _COMMANDS.get(stage, stage)
    context = f"in reply to {command} command" if stage else ""
    kind, hard, status = classify(find_status(diagnostic), diagnostic, context, patterns)
    return BouncedRecipient(email, kind, hard, status, diagnostic)
