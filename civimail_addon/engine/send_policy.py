"""What the sending job does when a message fails, and how many it may send.

Pure Python (no Odoo). :class:`RetryPolicy` says when a temporary failure is
tried again; :func:`window_start` and :func:`window_end` bound a send-limit
period; :func:`envelope_failure` names the trace failure of a message the
host's envelope preparation refused; :class:`Failure` and :class:`Batch` are
what a batch's building and sending produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = [
    "LIMIT_PERIODS",
    "Batch",
    "Failure",
    "RetryPolicy",
    "envelope_failure",
    "window_end",
    "window_start",
]

LIMIT_PERIODS = ("hour", "day", "week")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base``, ``base*factor``, ... capped at ``maximum`` seconds."""

    max_attempts: int = 3
    base: float = 300.0
    factor: float = 2.0
    maximum: float = 86400.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.maximum, self.base * self.factor ** max(attempt - 1, 0))

    def gives_up(self, attempt: int) -> bool:
        """True when attempt number ``attempt`` was the last one allowed."""
        return attempt >= max(self.max_attempts, 1)


def window_start(period: str, now: datetime) -> datetime:
    """Start of the send-limit window of ``period`` containing ``now``."""
    if period == "hour":
        return now.replace(minute=0, second=0, microsecond=0)
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=day.weekday())
    raise ValueError(f"period must be one of {LIMIT_PERIODS}, not {period!r}")


def window_end(period: str, now: datetime) -> datetime:
    start = window_start(period, now)
    return start + {"hour": timedelta(hours=1), "day": timedelta(days=1),
                    "week": timedelta(weeks=1)}[period]



@dataclass(frozen=True)
class Failure:
    """Why a trace's message could not be built: a trace failure type and reason."""

    failure_type: str
    reason: str | None = None


def envelope_failure(args: tuple, *, has_recipient: bool, no_valid_recipient: str,
                     no_valid_from: str, missing_from: tuple[str, ...]) -> Failure:
    """The trace failure the host's mail queue records for an envelope it refused.

    ``args`` are those of the host's AssertionError, its first one of the
    host's codes named by the keywords (``ir.mail_server.NO_VALID_RECIPIENT``…).
    """
    code = args[0] if args else ""
    if code == no_valid_recipient:
        return Failure("mail_email_invalid" if has_recipient else "mail_email_missing")
    if code == no_valid_from:
        return Failure("mail_from_invalid", str(args[1]) if len(args) > 1 else code)
    if code in missing_from:
        return Failure("mail_from_missing", code)
    return Failure("unknown", str(code) or repr(args))


@dataclass
class Batch:
    """A claimed batch of one mailing: the outcomes known so far and the messages to send.

    ``outcomes`` is ``{trace id: (outcome, failure type, reason)}``, an
    outcome being "cancel", "error" or a ``smtp_out.Delivery``; ``outgoing``
    the ``smtp_out.Outgoing`` messages to send, ``spooled`` those stored
    instead (delivery mode "Redirect to database"); ``logged`` the mail
    values of the messages the host would keep once sent (``{trace id: values}``).
    """

    mailing: object
    outcomes: dict
    outgoing: list
    server: object
    account: object
    spooled: list = field(default_factory=list)
    logged: dict = field(default_factory=dict)
