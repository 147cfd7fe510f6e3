"""Mailing messages sent over SMTP: one transaction, and the outbox that sends batches.

Pure Python (no Odoo). :func:`deliver` runs one SMTP transaction and says,
without raising, how it ended (a :class:`Delivery`); :class:`Outbox` sends
batches of :class:`Outgoing` messages over the host's SMTP sessions, in a
thread of its own so that the next batch is rendered meanwhile;
:func:`provider_message_id` reads the provider's id of a message in its reply
to DATA.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

__all__ = [
    "PERMANENT",
    "SENT",
    "TEMPORARY",
    "Delivery",
    "Outbox",
    "Outgoing",
    "deliver",
    "provider_message_id",
]

SENT = "sent"
PERMANENT = "permanent"  # 5xx: the server refused for good (a bounce)
TEMPORARY = "temporary"  # 4xx, dropped connection, timeout: try again later


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



def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value or "")


def _refusal(code: int, message, stage: str) -> Delivery:
    outcome = PERMANENT if 500 <= code < 600 else TEMPORARY
    # 421 means the server closes the session.
    return Delivery(outcome, code, _text(message), stage, session_broken=code == 421)


def _sendmail(session: smtplib.SMTP, mail_from: str, recipients: list[str], data: bytes,
              ready: Callable[[], None] | None) -> tuple[dict, bytes]:
    """``smtplib.SMTP.sendmail``, calling ``ready()`` between the last RCPT and DATA.

    Returns the refused recipients and the server's reply to DATA.

    Only the session methods the host's SMTP connection wrapper exposes are used.
    """
    session.ehlo_or_helo_if_needed()
    options = [f"size={len(data)}"] if session.has_extn("size") else []
    code, response = session.mail(mail_from, options)
    if code != 250:
        _abort(session, code)
        raise smtplib.SMTPSenderRefused(code, response, mail_from)
    refused = {}
    for recipient in recipients:
        code, response = session.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, response)
        if code == 421:
            session.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        _abort(session, code)
        raise smtplib.SMTPRecipientsRefused(refused)
    if ready is not None:
        try:
            ready()
        except BaseException:
            _abort(session, 0)
            raise
    code, response = session.data(data)
    if code != 250:
        _abort(session, code)
        raise smtplib.SMTPDataError(code, response)
    return refused, response


def _abort(session: smtplib.SMTP, code: int) -> None:
    """End a refused transaction as smtplib does: close on 421, else RSET."""
    if code == 421:
        session.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        session.rset()


def deliver(  # noqa: PLR0911 - one return per way a transaction ends
    session: smtplib.SMTP, mail_from: str, recipients: list[str], data: bytes,
    ready: Callable[[], None] | None = None,
) -> Delivery:
    """Run one SMTP transaction; never raises for what the server or network does.

    ``ready()``, when given, runs once the recipients are accepted and
    before the message is: what it raises is raised (the transaction is
    reset, nothing sent).
    """
    try:
        refused, reply = _sendmail(session, mail_from, recipients, data, ready)
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
    # The reply names the message in the provider's events ("250 Ok: queued as <id>").
    return Delivery(SENT, 250, _text(reply))


def close_quietly(session: smtplib.SMTP | None) -> None:
    if session is None:
        return
    try:
        session.quit()
    except (smtplib.SMTPException, OSError):
        with contextlib.suppress(OSError):
            session.close()


@dataclass(frozen=True)
class Outgoing:
    """A message ready to go: ``key`` names it for the caller (a trace),
    ``route`` the session it goes through (an outgoing server), ``message_id``
    is its Message-Id."""

    key: object
    route: object
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    message_id: str = ""


class Outbox:
    """Sends batches of messages, one SMTP transaction at a time, over one session per route.

    ``connect(route)`` opens a session (and may raise: the message then fails
    temporarily, as a dropped connection); ``accepted(outgoing, delivery)`` records a
    message the server accepted, or starts recording it: then ``settle()``
    waits until it is recorded. Either way no message is accepted before the
    previous one is recorded: ``settle()`` runs before the next message's
    DATA (overlapping the recording with its MAIL and RCPT) and at the end of
    each batch. With ``threaded``, a batch is sent by a thread of its own
    while the caller prepares the next one; otherwise :meth:`send` sends at
    once. Either way :meth:`results` gives ``{key: Delivery}`` of the last
    batch, and an exception of ``connect``/``accepted``/``settle`` stops the
    batch and is raised there.
    """

    def __init__(self, connect: Callable[[object], smtplib.SMTP],
                 accepted: Callable[[Outgoing, Delivery], None], threaded: bool = True,
                 settle: Callable[[], None] | None = None):
        self._connect = connect
        self._accepted = accepted
        self._settle = settle
        self._sessions: dict[object, smtplib.SMTP] = {}
        self._adopted: dict[object, smtplib.SMTP] = {}
        self._lock = threading.Lock()
        self._executor = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="civimail-outbox")
                          if threaded else None)
        self._pending = None
        self._results: dict[object, Delivery] = {}

    def adopt(self, route, session: smtplib.SMTP) -> None:
        """Use ``session`` (opened by the caller) for ``route`` from the next batch on."""
        with self._lock:
            close_quietly(self._adopted.pop(route, None))
            self._adopted[route] = session

    def send(self, batch: list[Outgoing]) -> None:
        """Start sending ``batch``; the previous batch's results must have been read."""
        if self._pending is not None:
            raise RuntimeError("the previous batch was not collected")
        if self._executor is None:
            self._results = self._send_all(batch)
        else:
            self._pending = self._executor.submit(self._send_all, batch)

    def results(self) -> dict[object, Delivery]:
        """{key: Delivery} of the batch last given to :meth:`send`, once all are sent."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._results = pending.result()
        results, self._results = self._results, {}
        return results

    def close(self) -> None:
        """Let the batch in flight end, then close every session."""
        if self._pending is not None:
            with contextlib.suppress(Exception):
                self._pending.result()
            self._pending = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        with self._lock:
            self._sessions.update(self._adopted)
            self._adopted.clear()
        for session in self._sessions.values():
            close_quietly(session)
        self._sessions.clear()

    def _send_all(self, batch: list[Outgoing]) -> dict[object, Delivery]:
        with self._lock:
            for route, session in self._adopted.items():
                close_quietly(self._sessions.pop(route, None))
                self._sessions[route] = session
            self._adopted.clear()
        results = {}
        try:
            for outgoing in batch:
                delivery = self._send_one(outgoing)
                results[outgoing.key] = delivery
                if delivery.outcome == SENT:
                    self._accepted(outgoing, delivery)
        finally:
            if self._settle is not None:
                self._settle()
        return results

    def _send_one(self, outgoing: Outgoing) -> Delivery:
        route = outgoing.route
        session = self._sessions.get(route)
        if session is None:
            try:
                session = self._connect(route)
            except Exception as error:  # noqa: BLE001 - any connection failure is temporary
                return Delivery(TEMPORARY, 0, f"{type(error).__name__}: {error}", "connection",
                                session_broken=True)
            self._sessions[route] = session
        delivery = deliver(session, outgoing.mail_from, outgoing.rcpt_to, outgoing.data,
                           ready=self._settle)
        if delivery.session_broken:
            close_quietly(self._sessions.pop(route, None))
        elif delivery.outcome != SENT:
            try:  # a refused transaction must not leave the session in the middle of one
                session.rset()
            except Exception:  # noqa: BLE001
                close_quietly(self._sessions.pop(route, None))
        return delivery


_PROVIDER_ID = re.compile(
    r"(?i)\b(?:queued as|id=)\s*<?([\w.@+=-]{1,200})|\bok:?\s+(?!queued)<?([\w.@+=-]{6,200})")


def provider_message_id(reply: str) -> str:
    """The message id a provider's reply to DATA gives ("250 Ok: queued as 1a2b…",
    Amazon SES's "250 Ok 0100018c…"), else ""."""
    found = _PROVIDER_ID.search(reply or "")
    return (found.group(1) or found.group(2)) if found else ""

