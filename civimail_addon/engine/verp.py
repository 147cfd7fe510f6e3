"""VERP addresses that carry a signed mailing trace id and an action.

``return+b.<trace id>.<digest>@example.org``: the digest is a truncated
HMAC-SHA256 over the trace id and the normalised recipient, so a bounce can be
tied to one sent message and a forged or garbled address is refused. Several
secrets may be accepted at once (the first signs; older ones are still checked
during a rotation grace period).

As CiviCRM gives each message several such addresses, the letter before the
first dot names the action: ``b`` bounce (the envelope sender), ``u``
unsubscribe (the ``mailto:`` of List-Unsubscribe), ``o`` opt-out (blocklist),
``r`` reply. The action letter is signed too (``b`` keeps the original data,
so addresses of mail already sent stay valid): a bounce address cannot be
turned into an unsubscribe request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

DIGEST_LENGTH = 16  # hex characters = 64 bits
BOUNCE = "b"
UNSUBSCRIBE = "u"
OPT_OUT = "o"
REPLY = "r"
ACTIONS = (BOUNCE, UNSUBSCRIBE, OPT_OUT, REPLY)
#: Requests sent *to* an action address (a bounce only comes back to ``b``).
REQUESTS = (UNSUBSCRIBE, OPT_OUT, REPLY)

#: Tokens read from one message: a bounce names one return address, a few at most.
MAX_TOKENS = 20
#: Characters of one header value that are searched for a token.
MAX_HEADER = 16 * 1024

#: Headers that may carry the VERP address of a bounce, most reliable first.
VERP_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To",
                "Return-Path")
#: Headers that name where a request was sent (not Return-Path: that is the sender's).
REQUEST_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")


@dataclass(frozen=True)
class VerpToken:
    trace_id: int
    digest: str
    action: str = BOUNCE


def normalize_recipient(recipient: str) -> str:
    return (recipient or "").strip().lower()


class VerpCodec:
    """Build, parse and verify VERP addresses for one return mailbox."""

    def __init__(self, local_part: str, domain: str, secrets: Sequence[str | bytes],
                 digest_length: int = DIGEST_LENGTH):
        if not local_part or "@" in local_part:
            raise ValueError("local_part must be a non-empty prefix without '@'")
        if not domain or "@" in domain:
            raise ValueError("domain must be a bare domain name")
        if not secrets:
            raise ValueError("at least one secret is required")
        if not 16 <= digest_length <= 64:
            raise ValueError("digest_length must be 16..64 hex characters (>= 64 bits)")
        self.local_part = local_part.lower()
        self.domain = domain.lower().strip().rstrip(".")
        self.secrets = [s.encode() if isinstance(s, str) else bytes(s) for s in secrets]
        self.digest_length = digest_length
        self._shape = re.compile(
            re.escape(self.local_part) + "([" + "".join(ACTIONS) + r"])\.(\d{1,19})\.([0-9a-f]{"
            + str(digest_length) + r"})@" + re.escape(self.domain) + r"\Z")
        # The same shape anywhere in a header value, between address delimiters:
        # found by one linear scan, with no address parsing (comments may nest
        # thousands deep in hostile headers).
        self._anywhere = re.compile(
            r"(?<![^\s<>\"'(),;:])" + self._shape.pattern[:-2] + r"(?![\w.-])", re.IGNORECASE)

    def _digest(self, secret: bytes, trace_id: int, recipient: str, action: str) -> str:
        data = f"{trace_id}\0{normalize_recipient(recipient)}"
        if action != BOUNCE:
            data = f"{action}\0{data}"
        return hmac.new(secret, data.encode(), hashlib.sha256).hexdigest()[: self.digest_length]

    def build(self, trace_id: int, recipient: str, action: str = BOUNCE) -> str:
        if not isinstance(trace_id, int) or isinstance(trace_id, bool) or trace_id < 0:
            raise ValueError("trace_id must be a non-negative integer")
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        digest = self._digest(self.secrets[0], trace_id, recipient, action)
        return f"{self.local_part}{action}.{trace_id}.{digest}@{self.domain}"

    def parse(self, address: str) -> VerpToken | None:
        """Extract the token of an address of this codec's shape, else None."""
        try:
            for _name, addr in getaddresses([str(address)]):
                found = self._shape.match(addr.strip().lower())
                if found:
                    return VerpToken(int(found.group(2)), found.group(3), found.group(1))
        except Exception:  # noqa: BLE001 - garbled input must never raise
            return None
        return None

    def verify(self, token: VerpToken | None, recipient: str) -> bool:
        """True when the token was signed for this recipient by an accepted secret."""
        if token is None or not isinstance(token.digest, str):
            return False
        if token.action not in ACTIONS:
            return False
        ok = False
        for secret in self.secrets:
            # Check every secret so timing does not reveal which one matched.
            expected = self._digest(secret, token.trace_id, recipient, token.action)
            ok |= hmac.compare_digest(expected, token.digest.lower())
        return ok

    def find_tokens(self, msg: Message, actions: Sequence[str] = (BOUNCE,),
                    headers: Sequence[str] = VERP_HEADERS) -> list[VerpToken]:
        """Distinct tokens of ``actions`` in ``headers`` of ``msg``, in preference order
        (at most :data:`MAX_TOKENS`).

        By default the bounce tokens of the headers a bounce may carry its
        VERP address in; ``find_requests`` looks for the requests.
        """
        found: list[VerpToken] = []
        for header in headers:
            try:
                values = msg.get_all(header) or []
            except Exception:  # noqa: BLE001, S112 - a broken header is skipped
                continue
            for value in values:
                for match in self._anywhere.finditer(str(value)[:MAX_HEADER]):
                    token = VerpToken(int(match.group(2)), match.group(3).lower(),
                                      match.group(1).lower())
                    if token.action in actions and token not in found:
                        found.append(token)
                        if len(found) >= MAX_TOKENS:
                            return found
        return found

    def find_requests(self, msg: Message) -> list[VerpToken]:
        """Tokens of the unsubscribe, opt-out and reply addresses ``msg`` was sent to."""
        return self.find_tokens(msg, REQUESTS, REQUEST_HEADERS)
