"""Sending one message over an SMTP session, and what to do when it fails.

Pure Python (no Odoo): the mailing job opens its sessions with the host's
outgoing servers and hands them to :func:`deliver`, which runs one SMTP
transaction and says, without raising, how it ended. :class:`RetryPolicy`
says when a temporary failure is tried again; :func:`window_start` gives the
start of a send-limit window.
"""

from __future__ import annotations

import contextlib
import io
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.generator import BytesGenerator
from email.message import Message

SENT = "sent"
PERMANENT = "permanent"  # 5xx: the server refused for good (a bounce)
TEMPORARY = "temporary"  # 4xx, dropped connection, timeout: try again later

LIMIT_PERIODS = ("hour", "day", "week")


@dataclass(frozen=True)
class Delivery:
    """How one SMTP transaction ended.

    ``stage`` is the command the server answered ("mail", "rcpt", "data") or
    "connection" when the session broke; ``session_broken`` tells the caller
    to open a new session before the next message.
    """

    outcome: str
    code: int = 0
    message: str = ""
    stage: str = ""
    session_broken: bool = False

    @property
    def response(self) -> str:
        """The server's reply as one line, e.g. ``550 5.1.1 User unknown (RCPT)``."""
        text = " ".join(f"{self.code or ''} {self.message}".split())
        return f"{text} ({self.stage.upper()})" if self.stage else text


def flatten(message: Message) -> bytes:
    """The bytes an SMTP client sends for ``message`` (CRLF line ends, no Bcc)."""
    for header in ("Bcc", "Resent-Bcc"):
        del message[header]
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=message.policy.clone(linesep="\r\n")).flatten(message)
    return buffer.getvalue()


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value or "")


def _refusal(code: int, message, stage: str) -> Delivery:
    outcome = PERMANENT if 500 <= code < 600 else TEMPORARY
    # 421 means the server closes the session.
    return Delivery(outcome, code, _text(message), stage, session_broken=code == 421)


def deliver(  # noqa: PLR0911 - one return per way a transaction ends
    session: smtplib.SMTP, mail_from: str, recipients: list[str], data: bytes,
) -> Delivery:
    """Run one SMTP transaction; never raises for what the server or network does."""
    try:
        refused = session.sendmail(mail_from, recipients, data)
    except smtplib.SMTPRecipientsRefused as error:
        code, message = next(iter(error.recipients.values()))
        return _refusal(code, message, "rcpt")
    except smtplib.SMTPSenderRefused as error:
        return _refusal(error.smtp_code, error.smtp_error, "mail")
    except smtplib.SMTPDataError as error:
        return _refusal(error.smtp_code, error.smtp_error, "data")
    except smtplib.SMTPResponseException as error:
        return _refusal(error.smtp_code, error.smtp_error, "")
    except (smtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as error:
        # Disconnected, timed out or reset: no reply, so not accepted.
        return Delivery(TEMPORARY, 0, f"{type(error).__name__}: {error}".strip(": "),
                        "connection", session_broken=True)
    if refused:  # several recipients, some refused: report the first refusal
        code, message = next(iter(refused.values()))
        return _refusal(code, message, "rcpt")
    return Delivery(SENT, 250, "OK")


def close_quietly(session: smtplib.SMTP | None) -> None:
    if session is None:
        return
    try:
        session.quit()
    except (smtplib.SMTPException, OSError):
        with contextlib.suppress(OSError):
            session.close()


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


def list_unsubscribe(url: str, mailto: str = "") -> str:
    """RFC 2369 List-Unsubscribe value: the one-click URL first, then the mailto."""
    parts = [f"<{url}>"] if url else []
    if mailto:
        parts.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return ", ".join(parts)
