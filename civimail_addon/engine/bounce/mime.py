"""Tolerant MIME reading: bounces are often malformed, sometimes huge.

Nothing here raises on bad input; every decoded part is cut to a bounded size
so a 30 MB attachment costs no more than a small one.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email import policy
from email.message import Message
from email.utils import parseaddr

# Bytes of a message parsed at all: the notice and the delivery-status report
# come first (RFC 3464 2.1), the returned message last; a bounce's first
# megabyte holds all the analyzer reads.
MAX_RAW = 1024 * 1024
MAX_PART = 256 * 1024  # characters of one decoded part that are scanned
MAX_PARTS = 200
_BLANK_RUN = re.compile(rb"\r?\n(?:[ \t]*\r?\n){3,}")
MAX_HEADER = 16 * 1024  # characters of one header value that are decoded


def parse(raw: bytes) -> Message | None:
    """Parse bytes into a compat32 message, or None when nothing usable is there."""
    if not isinstance(raw, (bytes, bytearray)) or not raw.strip():
        return None
    # Runs of blank lines (hostile, or padding) folded to two: the parser's cost
    # is per line, and two blank lines still end a paragraph for the detectors.
    raw = _BLANK_RUN.sub(b"\n\n\n", bytes(raw[:MAX_RAW]))
    try:
        msg = email.message_from_bytes(bytes(raw), policy=policy.compat32)
    except Exception:  # noqa: BLE001 - malformed input is "not a message"
        return None
    if not msg.keys() and not _looks_textual(raw):
        return None
    return msg


def _looks_textual(raw: bytes) -> bool:
    sample = raw[:2048]
    return sample.count(b"\0") == 0 and sum(b < 9 for b in sample) < len(sample) // 20


def header(msg: Message | None, name: str) -> str:
    """A header as a decoded one-line str ('' when absent or broken)."""
    if msg is None:
        return ""
    try:
        # The value as read (raw_items): get() turns unencoded 8-bit text into
        # replacement characters before we could read it as UTF-8.
        wanted = name.lower()
        value = next((v for k, v in msg.raw_items() if k.lower() == wanted), None)
        if value is None:
            return ""
        parts = email.header.decode_header(_eight_bit(str(value)[:MAX_HEADER]))
        text = "".join(
            p.decode(c or "ascii", "replace") if isinstance(p, bytes) else p for p, c in parts)
        return " ".join(text.split())
    except Exception:  # noqa: BLE001
        try:
            return " ".join(str(msg.get(name, ""))[:MAX_HEADER].split())
        except Exception:  # noqa: BLE001
            return ""


def address(value: str) -> str:
    """The lower-cased address of a header value such as From ('' when none)."""
    return parseaddr(value)[1].lower()


def _eight_bit(value: str) -> str:
    """A header sent unencoded in UTF-8 (or Latin-1) as text, not as escaped bytes."""
    if value.isascii():
        return value
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def walk(msg: Message) -> Iterator[Message]:
    """``msg.walk()`` bounded in part count, tolerant of broken structures."""
    try:
        for count, part in enumerate(msg.walk()):
            if count >= MAX_PARTS:
                return
            yield part
    except Exception:  # noqa: BLE001 - a broken tree ends the walk
        return


def text_of(part: Message, limit: int = MAX_PART) -> str:
    """Decoded text of a non-multipart part (transfer encoding and charset)."""
    try:
        payload = part.get_payload()
        if isinstance(payload, list):
            # message/* parts: compat32 parses the body into sub-messages.
            return "\n".join(_flatten(p) for p in payload)[:limit]
        data = part.get_payload(decode=True)
        if data is None:
            return str(payload)[:limit]
        data = data[: limit * 2]
        charset = part.get_content_charset() or "utf-8"
        try:
            return data.decode(charset, "replace")[:limit]
        except LookupError:
            return data.decode("utf-8", "replace")[:limit]
    except Exception:  # noqa: BLE001
        return ""


def _flatten(msg: Message) -> str:
    try:
        if not msg.get_payload():
            # A header block (a delivery-status report's per-recipient fields):
            # joined as read, without the generator's costly folding.
            return "\n".join(f"{k}: {v}" for k, v in msg.items()) + "\n"
        return msg.as_string()
    except Exception:  # noqa: BLE001
        try:
            return "\n".join(f"{k}: {v}" for k, v in msg.items())
        except Exception:  # noqa: BLE001
            return ""


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001
        return "text/plain"


def attached_message(msg: Message) -> Message | None:
    """The returned original (message/rfc822 or text/rfc822-headers), if any."""
    for part in walk(msg):
        ctype = content_type(part)
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        elif ctype == "text/rfc822-headers":
            try:
                return email.message_from_string(text_of(part), policy=policy.compat32)
            except Exception:  # noqa: BLE001, S112
                continue
    return None


def body_text(msg: Message) -> str:
    """The human-readable notice: text parts outside the returned message."""
    chunks: list[str] = []
    inside = _returned_parts(msg)
    for part in walk(msg):
        if sum(map(len, chunks)) >= MAX_PART:
            break
        if id(part) in inside or part.is_multipart():
            continue
        ctype = content_type(part)
        if ctype == "text/plain" or (ctype == "text/html" and not chunks):
            text = text_of(part)
            if ctype == "text/html":
                text = strip_html(text)
            chunks.append(text)
        elif not chunks and not ctype.startswith(("message/", "image/", "application/")):
            chunks.append(text_of(part))
    if not chunks and not msg.is_multipart():
        chunks.append(text_of(msg))
    return "\n".join(chunks)[:MAX_PART]


def attached_parts(msg: Message) -> set[int]:
    """ids of every part inside an attached message (message/rfc822), the part excluded."""
    inside: set[int] = set()
    for part in walk(msg):
        if content_type(part) == "message/rfc822" and id(part) not in inside:
            for sub in walk(part):
                if sub is not part:
                    inside.add(id(sub))
    return inside


def _returned_parts(msg: Message) -> set[int]:
    """ids of every part inside a message/* part (returned mail, DSN blocks)."""
    inside: set[int] = set()
    for part in walk(msg):
        if content_type(part).startswith("message/") and id(part) not in inside:
            for sub in walk(part):
                if sub is not part:
                    inside.add(id(sub))
    return inside


_HIDDEN_OPEN = re.compile(r"(?i)<(script|style)\b")
# One tag: bounded, and no "<" inside, so each "<" is looked at once.
_TAG = re.compile(r"<[^<>]{0,2000}>")
_BREAK = re.compile(r"(?i)<br\s{0,10}/?>|</p>|</div>|</tr>")


def strip_html(text: str) -> str:
    """Text of an HTML notice: tags out, line breaks kept; linear in the input."""
    text = _drop_hidden(text[:MAX_PART])
    text = _BREAK.sub("\n", text)
    text = _TAG.sub(" ", text)
    return text.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">")


def _drop_hidden(text: str) -> str:
    """``text`` without <script> and <style> elements (an unclosed one runs to the end)."""
    lower = text.lower()
    kept: list[str] = []
    position = 0
    while (opened := _HIDDEN_OPEN.search(text, position)) is not None:
        kept.append(text[position:opened.start()])
        end = lower.find("</" + opened.group(1).lower(), opened.end())
        close = lower.find(">", end) if end >= 0 else -1
        if close < 0:
            return " ".join(kept)
        kept.append(" ")
        position = close + 1
    kept.append(text[position:])
    return "".join(kept)
