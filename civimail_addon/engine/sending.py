"""Building mailing messages, sending them over SMTP, and what to do when it fails.

Pure Python (no Odoo). :func:`assemble` writes the parts the host rendered
(headers, text and html bodies, attachments encoded once per mailing) straight
to the bytes of a MIME message. :class:`Outbox` sends batches of such messages
over the host's SMTP sessions, in a thread of its own so that the next batch
is rendered meanwhile; :func:`deliver` runs one SMTP transaction and says,
without raising, how it ended. :class:`RetryPolicy` says when a temporary
failure is tried again; :func:`window_start` gives the start of a send-limit
window.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.policy
import email.utils
import functools
import io
import re
import secrets
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.generator import BytesGenerator
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

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


# ---------------------------------------------------------------------------
# Building messages
# ---------------------------------------------------------------------------

CRLF = "\r\n"
FOLD_AT = 78  # where ASCII header lines are folded, as the host's email policy does
ENCODED_FOLD_AT = 76  # RFC 2047: lines holding encoded-words
MAX_LINE = 998  # RFC 5322: octets per line, CRLF excluded
ADDRESS_HEADERS = frozenset({
    "from", "to", "cc", "reply-to", "sender", "resent-from", "resent-to", "resent-cc",
    "resent-sender",
})
# The host never folds identification fields (RFC 2047 section 5): MTAs rewrite folded ones.
UNFOLDED_HEADERS = frozenset({"message-id", "in-reply-to", "references", "resent-msg-id"})
DROPPED_HEADERS = frozenset({"bcc", "resent-bcc"})
_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_Q_SAFE = frozenset(_ALNUM + b"!*+-/")  # RFC 2047 5(3): safe in any encoded-word
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")  # RFC 5322 atext
_PRINTABLE = re.compile(r"[!-~]+")
_NEWLINES = re.compile(r"\r\n|\r|\n")
_MIME_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+")
_RFC2231_SAFE = frozenset(_ALNUM + b"!#$&+-.^_`|~")  # attribute-char
_HEADER_CACHE_SIZE = 2048


class Headers:
    """Header fields in order, with the mapping interface of ``email.message.Message``.

    ``headers[name]`` is the first value or None, ``headers[name] = value``
    adds a field, ``del headers[name]`` removes every field of that name:
    what the host's envelope preparation uses, so it runs unchanged on these.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str, object]] = ()):
        self._fields = list(fields)

    def __getitem__(self, name: str):
        name = name.lower()
        for key, value in self._fields:
            if key.lower() == name:
                return value
        return None

    def get(self, name: str, default=None):
        value = self[name]
        return default if value is None else value

    def get_all(self, name: str, failobj=None):
        name = name.lower()
        found = [value for key, value in self._fields if key.lower() == name]
        return found or failobj

    def __setitem__(self, name: str, value) -> None:
        self._fields.append((name, value))

    def __delitem__(self, name: str) -> None:
        name = name.lower()
        self._fields = [(key, value) for key, value in self._fields if key.lower() != name]

    def __contains__(self, name: str) -> bool:
        return self[name] is not None

    def __len__(self) -> int:
        return len(self._fields)

    def items(self) -> list[tuple[str, object]]:
        return list(self._fields)


def _fold(name: str, value: str, limit: int = FOLD_AT) -> str | None:
    """``Name: value`` folded at spaces near ``limit``; None if a line would exceed 998."""
    words = value.split(" ")
    lines = []
    line = f"{name}: {words[0]}"
    for word in words[1:]:
        # Fold only before a word: a line of nothing but whitespace is not allowed.
        if word and len(line) + 1 + len(word) > limit and line.strip():
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    if any(len(text) > MAX_LINE for text in lines):
        return None
    return CRLF.join(lines)


def _encoded_words(text: str, first: int, rest: int = ENCODED_FOLD_AT - 1) -> list[str]:
    """``text`` as RFC 2047 encoded-words in UTF-8 (Q or B, the shorter).

    The first word is at most ``first`` characters long (0: no limit of its
    own), the others ``rest``; words never split a character, and once
    decoded and joined they give ``text`` back.
    """
    raw = text.encode("utf-8")
    q_length = sum(1 if byte in _Q_SAFE or byte == 0x20 else 3 for byte in raw)
    use_q = q_length <= (len(raw) + 2) // 3 * 4
    overhead = len("=?utf-8?q??=")
    words, chunk, size = [], [], 0
    limit = (first or rest) - overhead
    for char in text:
        data = char.encode("utf-8")
        if use_q:
            piece = "".join(
                "_" if byte == 0x20 else chr(byte) if byte in _Q_SAFE else f"={byte:02X}"
                for byte in data
            )
            grown = size + len(piece)
        else:
            piece = data
            grown = (sum(map(len, chunk)) + len(data) + 2) // 3 * 4
        if chunk and grown > limit:
            words.append(chunk)
            chunk, limit = [], rest - overhead
            grown = len(piece) if use_q else (len(data) + 2) // 3 * 4
        chunk.append(piece)
        size = grown
    if chunk or not words:
        words.append(chunk)
    if use_q:
        return [f"=?utf-8?q?{''.join(chunk)}?=" for chunk in words]
    return [f"=?utf-8?b?{base64.b64encode(b''.join(chunk)).decode('ascii')}?=" for chunk in words]


def _mixed_words(text: str, plain: re.Pattern, first: int = 0) -> str:
    """``text`` with its runs of words that are not ``plain`` as encoded-words.

    Plain words stay readable, as the host's email policy writes them; a run
    of other words becomes encoded-words with its inner spaces inside them, so
    that decoders, whether or not they drop the space between two adjacent
    encoded-words (RFC 2047 says to), give ``text`` back. ``first`` limits
    the first encoded-word when it starts the value.
    """
    words = text.split(" ")
    if "" in words:  # leading, trailing or repeated spaces: keep them all inside
        return " ".join(_encoded_words(text, first))
    tokens, run = [], []
    for word in [*words, None]:
        if word is not None and not (plain.fullmatch(word) and "=?" not in word):
            run.append(word)
            continue
        if run:
            tokens += _encoded_words(" ".join(run), 0 if tokens else first)
            run = []
        if word is not None:
            tokens.append(word)
    return " ".join(tokens)


def _phrase(name: str) -> str:
    """A display name as it may stand before ``<address>``: quoted, or encoded where needed."""
    if name.isascii():
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return _mixed_words(name, _ATOM)


def _address_field(name: str, text: str) -> str | None:
    """An address header with its display names encoded; None when not a plain list."""
    pairs = getaddresses([text])
    if not pairs:
        return None
    items = []
    for raw_name, address in pairs:
        if not address or not address.isascii() or address.count("@") != 1 or " " in address:
            return None
        display = raw_name
        if "=?" in display:  # already encoded (the host's formataddr does so)
            try:
                display = str(make_header(decode_header(display)))
            except (ValueError, LookupError, UnicodeDecodeError):
                return None
        items.append(f"{_phrase(display)} <{address}>" if display else address)
    value = ", ".join(items)
    return _fold(name, value, ENCODED_FOLD_AT if "=?" in value else FOLD_AT)


def _unstructured_field(name: str, text: str) -> str | None:
    if text.isascii():
        folded = _fold(name, text)
        if folded is not None:
            return folded
    first = ENCODED_FOLD_AT - len(name) - 2
    return _fold(name, _mixed_words(text, _PRINTABLE, first if first >= 20 else 0),
                 ENCODED_FOLD_AT)


def _stdlib_field(name: str, text: str) -> bytes:
    """What the host's email policy makes of a field this module does not write itself."""
    policy = email.policy.SMTP
    return policy.fold_binary(*policy.header_store_parse(name, text))


@functools.lru_cache(maxsize=_HEADER_CACHE_SIZE)
def encode_header(name: str, value: str) -> bytes:
    """One header field, folded, as the bytes of its lines (each ending with CRLF).

    ASCII values are folded at spaces near 78 characters; other text becomes
    RFC 2047 encoded-words (UTF-8), in address fields only the display names.
    Identification fields (Message-Id, References) are never folded, as the
    host does. Line breaks in a value become spaces: no header injection.
    No line exceeds 998 octets.
    """
    text = _NEWLINES.sub(" ", value)
    lowered = name.lower()
    if lowered in ADDRESS_HEADERS:
        folded = _address_field(name, text)
    elif lowered in UNFOLDED_HEADERS and text.isascii() and len(name) + 2 + len(text) <= MAX_LINE:
        folded = f"{name}: {text}"
    else:
        folded = _unstructured_field(name, text)
    if folded is None:
        return _stdlib_field(name, text)
    return (folded + CRLF).encode("ascii")


def _base64_body(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _encode_text(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, CRLF-terminated encoded body) of a text part.

    As the host: 7bit when ASCII with lines of at most 78 characters, else
    quoted-printable or base64, whichever is shorter.
    """
    raw = _NEWLINES.sub("\n", text).encode("utf-8")
    if not raw.endswith(b"\n"):
        raw += b"\n"
    if raw.isascii() and max(map(len, raw.split(b"\n"))) <= FOLD_AT:
        return "7bit", raw.replace(b"\n", b"\r\n")
    quoted = binascii.b2a_qp(raw, istext=True)
    if len(quoted) <= (len(raw) + 2) // 3 * 4 * 77 // 76:
        return "quoted-printable", quoted.replace(b"\n", b"\r\n")
    return "base64", _base64_body(raw)


def text_part(content: str, subtype: str) -> bytes:
    """A ``text/<subtype>`` part in UTF-8: its headers, a blank line, its encoded body."""
    cte, body = _encode_text(content or "")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: {cte}{CRLF}{CRLF}"
    ).encode("ascii") + body


def _disposition(filename: str) -> str:
    """``Content-Disposition`` of an attachment, its file name per RFC 2231 when needed."""
    filename = _NEWLINES.sub(" ", filename or "")
    if filename.isascii() and filename.isprintable() and len(filename) <= 200:
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'Content-Disposition: attachment;{CRLF} filename="{escaped}"'
    encoded = [chr(byte) if byte in _RFC2231_SAFE else f"%{byte:02X}"
               for byte in filename.encode("utf-8")]
    segments, segment = [], ""
    for piece in encoded:
        if len(segment) + len(piece) > 60:
            segments.append(segment)
            segment = ""
        segment += piece
    segments.append(segment)
    if len(segments) == 1:
        return f"Content-Disposition: attachment;{CRLF} filename*=utf-8''{segments[0]}"
    parts = [f"filename*0*=utf-8''{segments[0]}"]
    parts += [f"filename*{index}*={value}" for index, value in enumerate(segments[1:], 1)]
    return f"Content-Disposition: attachment;{CRLF} " + f";{CRLF} ".join(parts)


def attachment_part(filename: str, content: bytes, mimetype: str | None = None) -> bytes:
    """One attachment as a MIME part, as the host attaches files: base64, named.

    A ``message/rfc822`` attachment is kept as it is (RFC 2046 allows it no
    other encoding), with CRLF line ends. Build it once per mailing.
    """
    maintype, _, subtype = (mimetype or "").partition("/")
    if not (_MIME_TOKEN.fullmatch(maintype or "") and _MIME_TOKEN.fullmatch(subtype or "")):
        maintype, subtype = "application", "octet-stream"
    content = content or b""
    if (maintype.lower(), subtype.lower()) == ("message", "rfc822"):
        body = re.sub(rb"\r\n|\r|\n", b"\r\n", content)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        long_lines = max(map(len, body.split(b"\r\n"))) > MAX_LINE
        cte = "binary" if long_lines else "7bit" if body.isascii() else "8bit"
    else:
        cte, body = "base64", _base64_body(content)
    head = (f"Content-Type: {maintype}/{subtype}{CRLF}"
            f"Content-Transfer-Encoding: {cte}{CRLF}"
            f"{_disposition(filename)}{CRLF}{CRLF}")
    return head.encode("ascii") + body


_ENCODED = (b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Transfer-Encoding: quoted-printable\r\n")


def _boundary(*parts: bytes) -> str:
    """A boundary none of ``parts`` contains.

    "=_" never occurs in base64 or quoted-printable text (RFC 2045, 6.7):
    only the parts kept as they are need looking into.
    """
    plain = [part for part in parts
             if not any(cte in part[:part.find(b"\r\n\r\n")] for cte in _ENCODED)]
    while True:
        boundary = f"=_{secrets.token_hex(16)}"
        marker = boundary.encode("ascii")
        if not any(marker in part for part in plain):
            return boundary


def _multipart(subtype: str, parts: list[bytes]) -> tuple[bytes, bytes]:
    """(Content-Type field, body) of a multipart made of already-encoded ``parts``."""
    boundary = _boundary(*parts)
    delimiter = f"--{boundary}{CRLF}".encode("ascii")
    body = delimiter + (CRLF.encode("ascii") + delimiter).join(parts)
    body += f"{CRLF}--{boundary}--{CRLF}".encode("ascii")
    field = f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}'
    return field.encode("ascii"), body


def assemble(headers: Iterable[tuple[str, object]], text: str, html: str,
             attachments: Iterable[bytes] = ()) -> bytes:
    """The bytes of one message, as the host would send it.

    ``headers`` in order (Bcc dropped), then ``MIME-Version`` and a
    multipart/alternative of ``text`` and ``html``, inside a multipart/mixed
    with the ``attachments`` (parts from :func:`attachment_part`) when there
    are any. CRLF line ends; no line exceeds 998 octets.
    """
    lines = [
        encode_header(name, value if isinstance(value, str) else str(value))
        for name, value in headers
        if value is not None and value is not False and name.lower() not in DROPPED_HEADERS
    ]
    lines.append(b"MIME-Version: 1.0\r\n")
    field, body = _multipart("alternative", [text_part(text, "plain"), text_part(html, "html")])
    attachments = list(attachments)
    if attachments:
        field, body = _multipart("mixed", [field + b"\r\n" + body, *attachments])
    lines += [field, b"\r\n", body]
    return b"".join(lines)


def message_date(when: float | None = None) -> str:
    """The Date field's value the host writes (UTC, ``-0000``)."""
    return email.utils.formatdate(when)


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


_PROVIDER_ID = re.compile(
    r"(?i)\b(?:queued as|id=)\s*<?([\w.@+=-]{1,200})|\bok:?\s+(?!queued)<?([\w.@+=-]{6,200})")


def provider_message_id(reply: str) -> str:
    """The message id a provider's reply to DATA gives ("250 Ok: queued as 1a2b…",
    Amazon SES's "250 Ok 0100018c…"), else ""."""
    found = _PROVIDER_ID.search(reply or "")
    return (found.group(1) or found.group(2)) if found else ""


#: CiviCRM's token for the opt-out address in a mailing's body, ``{action.optOut}``.
#: In a link it may be stored escaped: the HTML serializer percent-encodes braces in an href.
OPT_OUT_PLACEHOLDER = re.compile(r"\{action\.optOut\}|%7Baction\.optOut%7D", re.IGNORECASE)


def fill_opt_out(text, address: str):
    """``text`` with each opt-out token replaced by the recipient's signed ``address``
    (of the same type: a safe HTML string stays one)."""
    if not text or not OPT_OUT_PLACEHOLDER.search(text):
        return text
    return type(text)(OPT_OUT_PLACEHOLDER.sub(address, text))


def list_unsubscribe(url: str, mailto: str = "") -> str:
    """RFC 2369 List-Unsubscribe value: the one-click URL first, then the mailto."""
    parts = [f"<{url}>"] if url else []
    if mailto:
        parts.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return ", ".join(parts)
