"""Read the headers of a received test message: its route and its verdicts.

``analyze_headers(raw)`` takes pasted source (str or bytes: a whole message or
just its header block) and returns the Received chain in hop order (oldest
first) and the spf/dkim/dmarc verdicts of Authentication-Results (RFC 8601)
and Received-SPF (RFC 7208 9.1), each with a sentence for an admin.  Only the
top-level header block is read; lines that are not headers are skipped.

Authentication-Results is read here, not by authres: authres follows RFC
8601's grammar strictly and rejects 19 of the 62 Authentication-Results
headers in the bounce corpus (Microsoft 365's, which lack the authserv-id,
and Yahoo's older form), the very headers admins paste.  This reader takes
each spf/dkim/dmarc result with its properties and never fails on junk.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .results import _lt

METHODS = ("spf", "dkim", "dmarc")
#: Results a verdict can have (RFC 8601 registry); anything else becomes "unknown".
RESULTS = {
    "spf": ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"),
    "dkim": ("pass", "fail", "neutral", "none", "temperror", "permerror", "policy"),
    "dmarc": ("pass", "fail", "none", "temperror", "permerror", "bestguesspass"),
}
_ALIASES = {"hardfail": "fail", "tempfail": "temperror", "permfail": "permerror",
            "error": "temperror"}

#: One sentence per verdict for an admin; "*" is used when a result has none of its own.
MEANINGS = {
    ("spf", "pass"): _lt("The receiver confirmed that the sending IP is allowed by the SPF "
                         "record of the envelope sender's domain."),
    ("spf", "neutral"): _lt("The SPF record of the envelope sender's domain makes no statement "
                            "about the sending IP, so SPF neither helps nor hurts."),
    ("spf", "softfail"): _lt("The SPF record of the envelope sender's domain does not list the "
                             "sending IP, so the message counts as suspicious."),
    ("spf", "fail"): _lt("The SPF record of the envelope sender's domain forbids the sending IP, "
                         "so receivers may reject such mail."),
    ("spf", "none"): _lt("The envelope sender's domain publishes no SPF record, so the message "
                         "is not SPF-authenticated."),
    ("spf", "*"): _lt("The receiver could not evaluate SPF ({result}), so the message is not "
                      "SPF-authenticated."),
    ("dkim", "pass"): _lt("The message carries a valid DKIM signature, so its signing domain is "
                          "authenticated."),
    ("dkim", "none"): _lt("The message was not DKIM-signed, so it relies on SPF alone."),
    ("dkim", "*"): _lt("The DKIM signature did not verify ({result}), so the message counts as "
                       "unsigned."),
    ("dmarc", "pass"): _lt("The From domain is authenticated by an aligned SPF or DKIM result, "
                           "as DMARC requires."),
    ("dmarc", "bestguesspass"): _lt("The message would pass DMARC, but the From domain "
                                    "publishes no DMARC policy."),
    ("dmarc", "fail"): _lt("Neither SPF nor DKIM authenticated the From domain, so the "
                           "domain's DMARC policy applies (reporting, spam folder or rejection)."),
    ("dmarc", "none"): _lt("The From domain publishes no DMARC policy."),
    ("dmarc", "*"): _lt("The receiver could not evaluate DMARC ({result})."),
}

_HEADER = re.compile(r"^([!-9;-~]+)[ \t]*:[ \t]?(.*)$")
_IP_LITERAL = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")
_BARE_IP = re.compile(
    r"(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])"
)
_MARKER = re.compile(r"\s?\0\d+\0\s?")
_MARKER_NUMBER = re.compile(r"\0(\d+)\0")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+$")
_WORD = re.compile(r"\b(from|by|via|with|id|for)\b", re.IGNORECASE)
_METHOD_RESULT = re.compile(r"(?<![\w.-])(spf|dkim|dmarc)\s*=\s*([A-Za-z]+)", re.IGNORECASE)
_PROPERTY = re.compile(r"(?<![\w.-])([A-Za-z]+\.[A-Za-z-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)")
_KEY_VALUE = re.compile(r"(?<![\w.-])([A-Za-z][\w-]*)\s*=\s*(\"[^\"]*\"|[^\s;]+)")


@dataclass(frozen=True)
class Hop:
    """One Received header; hops are listed from the first server to the last."""

    from_host: str  # the name the sender gave (HELO), "" if none
    from_rdns: str  # the name the receiver found for the IP, "" if none
    ip: str  # the sender's IP address, "" if none
    by_host: str  # the receiving server, "" if none
    protocol: str  # the "with" word: ESMTP, ESMTPS, SMTP, LMTP, local ...
    timestamp: datetime | None  # aware (UTC if the header gave no zone), None if unreadable
    delay: float | None  # seconds since the previous dated hop (negative if clocks disagree)
    raw: str  # the header unfolded


@dataclass(frozen=True)
class Verdict:
    method: str  # spf, dkim or dmarc
    result: str  # one of RESULTS[method], or "unknown"
    source: str  # "Authentication-Results" or "Received-SPF"
    reporter: str  # the authserv-id or receiver that wrote it, "" if not given
    details: dict  # properties such as smtp.mailfrom, header.d, client-ip
    meaning: str  # one sentence for an admin


@dataclass(frozen=True)
class HeaderReport:
    hops: list = field(default_factory=list)  # Hop, oldest first
    verdicts: list = field(default_factory=list)  # Verdict, as they appear (newest first)

    def verdict(self, method):
        """The newest verdict for ``method`` (the last receiver's), None if there is none."""
        return next((v for v in self.verdicts if v.method == method), None)


def analyze_headers(raw) -> HeaderReport:
    """Hops and verdicts of a pasted message or header block (never raises on junk)."""
    headers = read_headers(raw)
    received = [value for name, value in headers if name == "received"]
    hops = _hops(reversed(received))
    verdicts = []
    for name, value in headers:
        if name == "authentication-results":
            verdicts.extend(parse_authentication_results(value))
        elif name == "received-spf":
            verdict = parse_received_spf(value)
            if verdict is not None:
                verdicts.append(verdict)
    return HeaderReport(hops=hops, verdicts=verdicts)


def read_headers(raw):
    """[(lower-case name, unfolded value)] of the first header block."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    lines = str(raw or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # pasted text often starts with blank lines
    if lines and lines[0].startswith("From "):
        lines.pop(0)  # mbox separator
    headers = []
    for line in lines:
        if not line.strip():
            break
        if line[:1] in " \t":
            if headers:
                headers[-1][1] += " " + line.strip()
            continue
        found = _HEADER.match(line)
        if found:
            headers.append([found.group(1).lower(), found.group(2).strip()])
        elif headers and headers[-1][1] == "":
            continue
        else:
            headers.append(["", line])  # junk: ends the previous header's folding
    return [(name, " ".join(value.split())) for name, value in headers if name]


def split_comments(text):
    """(text with comment N replaced by a marker, [comments]); nesting and escapes kept."""
    outside, comments, current, depth, escaped = [], [], [], 0, False
    for char in text:
        if depth:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if not depth:
                    outside.append(f" \0{len(comments)}\0 ")
                    comments.append("".join(current).strip())
                    current = []
                    continue
            current.append(char)
        elif char == "(":
            depth = 1
        else:
            outside.append(char)
    if depth:
        outside.append(f" \0{len(comments)}\0 ")
        comments.append("".join(current).strip())  # unclosed comment at the end
    return "".join(outside), comments


def without_comments(text):
    return _MARKER.sub(" ", split_comments(text)[0])


def parse_received(value):
    """(from_host, from_rdns, ip, by_host, protocol, timestamp) of one Received value."""
    marked, comments = split_comments(value)
    clauses, found, date = marked.rpartition(";")
    if not found:
        clauses, date = marked, ""
    words = _clauses(_MARKER.sub(" ", clauses))
    from_part = _clauses(clauses).get("from", "")  # markers kept: the from clause's comments
    from_host = words.get("from", "").split(" ")[0].strip("[]")
    used = [comments[int(n)] for n in _MARKER_NUMBER.findall(from_part)]
    from_host, from_rdns = _names(from_host, used)
    ip = _first_ip([from_part, *used]) or (str(_as_ip(from_host)) if _as_ip(from_host) else "")
    by_host = words.get("by", "").split(" ")[0]
    protocol = words.get("with", "").split(" ")[0]
    return from_host, from_rdns, ip, by_host, protocol, parse_date(_MARKER.sub(" ", date))


def _clauses(text):
    """{keyword: its words} of the top-level from/by/via/with/id/for clauses."""
    found = {}
    matches = list(_WORD.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        found.setdefault(match.group(1).lower(), " ".join(text[match.end():end].split()))
    return found


def _names(from_host, comments):
    """(claimed name, reverse name) from the from token and its comments.

    Sendmail/Postfix: ``from helo (rdns [ip])``; qmail: ``from ip (HELO helo)``;
    Exim: ``from rdns ([ip] helo=helo)``.
    """
    rdns = ""
    for comment in comments:
        words = comment.split()
        if not words:
            continue
        helo = re.search(r"(?:^|\s)(?:helo=|HELO |EHLO )([^\s\])]+)", comment, re.IGNORECASE)
        if helo:
            if from_host and not _as_ip(from_host):
                rdns = rdns or from_host  # Exim: the from token is the reverse name
            from_host = helo.group(1).strip("[]")
            continue
        first = words[0].rstrip(".")
        if not rdns and _HOSTNAME.match(first) and _as_ip(first) is None:
            rdns = first
    return from_host, rdns


def _first_ip(texts):
    for text in texts:
        for candidate in _IP_LITERAL.findall(text) + _BARE_IP.findall(text):
            address = _as_ip(candidate)
            if address is not None:
                return str(address)
    return ""


def _as_ip(text):
    try:
        return ipaddress.ip_address(text.strip("[]").removeprefix("IPv6:"))
    except ValueError:
        return None


def parse_date(text):
    """Aware datetime of an RFC 5322 date (UTC when no zone is given), None if unreadable."""
    text = without_comments(text or "")
    try:
        stamp = parsedate_to_datetime(" ".join(text.split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if stamp is None:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _hops(values):
    hops, previous = [], None
    for value in values:
        from_host, from_rdns, ip, by_host, protocol, stamp = parse_received(value)
        delay = (stamp - previous).total_seconds() if stamp and previous else None
        hops.append(Hop(from_host, from_rdns, ip, by_host, protocol, stamp, delay, value))
        previous = stamp or previous
    return hops


def _normalize(method, result):
    result = _ALIASES.get(result.lower(), result.lower())
    return result if result in RESULTS[method] else "unknown"


def meaning_template(method, result):
    """The ``MEANINGS`` template of a verdict; ``{result}`` is its placeholder."""
    return MEANINGS.get((method, result)) or MEANINGS[(method, "*")]


def _meaning(method, result):
    return meaning_template(method, result).format(result=result)


def parse_authentication_results(value):
    """Verdicts (spf, dkim, dmarc) of one Authentication-Results value."""
    parts = without_comments(value).split(";")
    first = parts[0].split()
    reporter = first[0] if first and "=" not in first[0] else ""
    verdicts = []
    for part in parts:
        for found in _METHOD_RESULT.finditer(part):
            method = found.group(1).lower()
            result = _normalize(method, found.group(2))
            rest = part[found.end():]
            details = {key.lower(): val.strip('"') for key, val in _PROPERTY.findall(rest)}
            verdicts.append(Verdict(method, result, "Authentication-Results", reporter,
                                    details, _meaning(method, result)))
    return verdicts


def parse_received_spf(value):
    """The SPF verdict of one Received-SPF value, None if it has no result word."""
    marked, comments = split_comments(value)
    text = _MARKER.sub(" ", marked)
    words = text.split()
    if not words or not words[0].isalpha():
        return None
    result = _normalize("spf", words[0])
    details = {key.lower(): val.strip('"') for key, val in _KEY_VALUE.findall(text)}
    reporter = details.get("receiver", "")
    if not reporter and comments and ":" in comments[0]:
        reporter = comments[0].split(":", 1)[0].strip()  # "(mx.google.com: domain of ...)"
    return Verdict("spf", result, "Received-SPF", reporter, details, _meaning("spf", result))
