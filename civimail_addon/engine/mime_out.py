"""Mailing messages written straight to bytes, as the host's ``build_email`` would.

Pure Python (no Odoo). :func:`assemble` writes the parts the host rendered
(headers, text and html bodies, attachments encoded once per mailing with
:func:`attachment_part`) to the bytes of a MIME message; :class:`Headers` is
the header list the host's envelope preparation (``_prepare_email_message``)
runs on unchanged.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import email.utils
import functools
import re
import secrets
from collections.abc import Iterable
from email.header import decode_header, make_header
from email.utils import getaddresses

__all__ = [
    "Headers",
    "assemble",
    "attachment_part",
    "encode_header",
    "fill_opt_out",
    "list_unsubscribe",
    "message_date",
    "text_part",
]

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
