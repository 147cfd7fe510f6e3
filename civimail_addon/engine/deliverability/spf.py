"""SPF (RFC 7208): evaluate a domain's policy for one sending IP.

``evaluate(domain, ip, resolver)`` follows check_host(): the record is parsed
whole first (a syntax error anywhere is a permerror), mechanisms are tried in
order, include/redirect recurse, at most 10 DNS-querying terms and 2 void
lookups are allowed.  ``ptr`` is evaluated (permitted, though discouraged) and
``exp=`` is ignored: the explanation returned is our own sentence.  Macros:
s l o d i ip h v p (``%{p}`` expands to "unknown", as RFC 7208 allows).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from . import dnsquery
from .dnsquery import DnsTempError
from .results import ERROR, OK, UNKNOWN, WARNING, _lt, build

MAX_LOOKUPS = 10  # RFC 7208 4.6.4: include a mx ptr exists redirect
MAX_VOID_LOOKUPS = 2
MAX_NAMES = 10  # MX or PTR names looked at per mechanism
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_COUNTED = {"include", "a", "mx", "ptr", "exists", "redirect"}

_VERSION = re.compile(r"^v=spf1(\s|$)", re.IGNORECASE)
_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_MECHANISM = re.compile(r"^([+\-~?]?)([A-Za-z0-9]+)(?::(.*?))?((?:/\d+)?(?://\d+)?)$")
_DUAL_CIDR = re.compile(r"^(?:/(\d+))?(?://(\d+))?$")
_MACRO = re.compile(r"%(?:\{([A-Za-z])(\d*)(r?)([.\-+,/_=]*)\}|(.))", re.IGNORECASE)
_TOPLABEL = re.compile(r"\.(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9-]+\.?$")


class SpfError(Exception):
    """Ends evaluation with ``result`` (permerror or temperror)."""

    def __init__(self, result, explanation, mechanism=""):
        super().__init__(explanation)
        self.result = result
        self.explanation = explanation
        self.mechanism = mechanism


@dataclass(frozen=True)
class SpfResult:
    result: str  # pass fail softfail neutral none permerror temperror
    mechanism: str  # the term that decided, "include:x > ip4:..." through includes
    explanation: str
    lookups: int  # DNS-querying terms used (the limit is 10)
    record: str = ""  # the top-level SPF record, "" if none was found


@dataclass
class _Term:
    text: str
    qualifier: str = ""
    name: str = ""
    value: str | None = None
    cidr4: int | None = None
    cidr6: int | None = None


class _State:
    """What one evaluation shares across include and redirect."""

    def __init__(self, resolver, ip, sender, helo):
        self.resolver = resolver
        self.ip = ip
        self.sender = sender
        self.helo = helo
        self.lookups = 0
        self.voids = 0

    def count(self, term):
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise SpfError(
                "permerror",
                f"The record needs more than {MAX_LOOKUPS} DNS lookups, the limit set by "
                "RFC 7208.",
                term.text,
            )

    def lookup(self, name, rdtype, term):
        """Records, counting void answers; DNS failure -> temperror."""
        try:
            records = dnsquery.lookup(self.resolver, name, rdtype)
        except DnsTempError as error:
            raise SpfError(
                "temperror", f"The DNS lookup of {name} failed ({error}).", term.text
            ) from error
        if not records:
            self.voids += 1
            if self.voids > MAX_VOID_LOOKUPS:
                raise SpfError(
                    "permerror",
                    f"More than {MAX_VOID_LOOKUPS} DNS lookups found nothing (void lookups), "
                    "the limit set by RFC 7208.",
                    term.text,
                )
        return records

    def addresses(self, name, term):
        rdtype = "A" if self.ip.version == 4 else "AAAA"
        return [ipaddress.ip_address(r.address) for r in self.lookup(name, rdtype, term)]


def evaluate(domain, ip, resolver, sender=None, helo=None) -> SpfResult:
    """SPF result of ``domain`` for mail from ``ip`` (RFC 7208 check_host()).

    ``sender`` defaults to ``postmaster@<domain>`` and ``helo`` to the domain;
    they only matter to macros.  Never raises for DNS trouble (temperror).
    """
    domain = dnsquery.normalize_domain(domain)
    parsed_ip = dnsquery.parse_ip(ip)
    if not domain or parsed_ip is None:
        return SpfResult("none", "", "No valid domain or IP address was given.", 0)
    sender = sender or f"postmaster@{domain}"
    if "@" not in sender:
        sender = f"postmaster@{sender}"
    elif sender.startswith("@"):
        sender = "postmaster" + sender
    state = _State(resolver, parsed_ip, sender, helo or domain)
    record = ""
    try:
        record = _fetch(state, domain)
        if record is None:
            return SpfResult("none", "", f"{domain} publishes no SPF record.", 0)
        result, path, explanation = _check(state, domain, record)
    except SpfError as error:
        return SpfResult(error.result, error.mechanism, error.explanation, state.lookups,
                         record or "")
    return SpfResult(result, path, explanation, state.lookups, record)


def _fetch(state, domain):
    """The one SPF record of ``domain``, None if it has none."""
    try:
        records = dnsquery.txt_strings(state.resolver, domain)
    except DnsTempError as error:
        raise SpfError(
            "temperror", f"The SPF record of {domain} could not be fetched ({error})."
        ) from error
    spf = [text for text in records if _VERSION.match(text)]
    if len(spf) > 1:
        raise SpfError("permerror", f"{domain} publishes {len(spf)} SPF records instead of one.")
    return spf[0] if spf else None


def _parse(record, domain):
    """Terms and modifiers of a record; SpfError(permerror) on any syntax error."""
    terms, modifiers = [], {}
    for text in record.split()[1:]:
        modifier = _MODIFIER.match(text)
        if modifier and modifier.group(1).lower() not in MECHANISMS:
            name = modifier.group(1).lower()
            if name in modifiers and name in ("redirect", "exp"):
                raise SpfError("permerror", f"The SPF record of {domain} repeats {name}=.", text)
            _check_macros(modifier.group(2), text, domain)
            modifiers.setdefault(name, modifier.group(2))
            continue
        terms.append(_parse_mechanism(text, domain))
    return terms, modifiers


def _parse_mechanism(text, domain):
    found = _MECHANISM.match(text)
    name = found.group(2).lower() if found else ""
    if not found or name not in MECHANISMS:
        raise SpfError("permerror", f"The SPF record of {domain} has an unknown term.", text)
    term = _Term(text=text, qualifier=QUALIFIERS[found.group(1) or "+"], name=name,
                 value=found.group(3))
    cidr = _DUAL_CIDR.match(found.group(4))
    term.cidr4 = int(cidr.group(1)) if cidr.group(1) else None
    term.cidr6 = int(cidr.group(2)) if cidr.group(2) else None
    needs_value = name in ("include", "exists", "ip4", "ip6")
    malformed = (
        term.value == ""
        or (needs_value and term.value is None)
        or (name == "all" and term.value is not None)
        or (name not in ("a", "mx", "ip4", "ip6") and found.group(4))
        or (name != "ip6" and (term.cidr4 or 0) > 32)
        or (term.cidr6 or 0) > 128
    )
    if malformed:
        raise SpfError("permerror", f"The SPF record of {domain} has a malformed term.", text)
    if name in ("ip4", "ip6"):
        term.value = _network(term, text, domain)
    elif term.value is not None:
        _check_macros(term.value, text, domain)
    return term


def _network(term, text, domain):
    """ip4:/ip6: value as a network; a single /N is the prefix of either family."""
    try:
        address = ipaddress.ip_address(term.value)
        if address.version != int(term.name[-1]) or term.cidr6 is not None:
            raise ValueError(term.value)
        bits = address.max_prefixlen if term.cidr4 is None else term.cidr4
        return ipaddress.ip_network(f"{address}/{bits}", strict=False)
    except ValueError as error:
        raise SpfError(
            "permerror", f"The SPF record of {domain} has a malformed address.", text
        ) from error


def _check_macros(value, text, domain):
    for macro in _MACRO.finditer(value):
        letter, literal = macro.group(1), macro.group(5)
        if literal is not None and literal not in "%_-":
            raise SpfError("permerror", f"The SPF record of {domain} has a bad macro.", text)
        if letter is not None and letter.lower() not in "sloditpvhcrt":
            raise SpfError("permerror", f"The SPF record of {domain} has a bad macro.", text)
    stripped = _MACRO.sub("x", value)
    if "%" in stripped:
        raise SpfError("permerror", f"The SPF record of {domain} has a bad macro.", text)


def _check(state, domain, record):
    """(result, deciding mechanism path, explanation) of one record."""
    terms, modifiers = _parse(record, domain)
    for term in terms:
        if term.name in _COUNTED:
            state.count(term)
        matched, inner = _matches(state, domain, term)
        if matched:
            path = f"{term.text} > {inner}" if inner else term.text
            return term.qualifier, path, _explain(term.qualifier, state.ip, domain, path)
    target = modifiers.get("redirect")
    if target is not None and not any(term.name == "all" for term in terms):
        redirect = _Term(text=f"redirect={target}", name="redirect")
        state.count(redirect)
        target_domain = _expand(state, target, domain, redirect)
        record = _fetch_included(state, target_domain, redirect)
        try:
            result, path, explanation = _check(state, target_domain, record)
        except SpfError as error:
            error.mechanism = f"{redirect.text} > {error.mechanism or target_domain}"
            raise
        return result, f"{redirect.text} > {path}" if path else redirect.text, explanation
    return "neutral", "", (
        f"No mechanism of the SPF record of {domain} matches {state.ip}, so the result is "
        "neutral."
    )


def _fetch_included(state, domain, term):
    """The record an include/redirect points at; none there is a permerror."""
    try:
        record = _fetch(state, domain)
    except SpfError as error:
        error.mechanism = error.mechanism or term.text
        raise
    if record is None:
        raise SpfError("permerror", f"{term.text} points at {domain}, which has no SPF record.",
                       term.text)
    return record


def _matches(state, domain, term):  # noqa: PLR0911 - one exit per mechanism
    """(matched, inner path) of one mechanism."""
    ip = state.ip
    name = term.name
    if name == "all":
        return True, ""
    if name in ("ip4", "ip6"):
        return ip.version == term.value.version and ip in term.value, ""
    target = _expand(state, term.value, domain, term) if term.value else domain
    if name == "include":
        record = _fetch_included(state, target, term)
        try:
            result, path, _explanation = _check(state, target, record)
        except SpfError as error:  # an error inside an include is the include's error
            if error.mechanism != term.text:
                error.mechanism = f"{term.text} > {error.mechanism or target}"
            raise
        return result == "pass", path
    if name == "exists":
        return bool(state.lookup(target, "A", term)), ""
    if name == "a":
        return _in_any(ip, state.addresses(target, term), term), ""
    if name == "mx":
        exchanges = state.lookup(target, "MX", term)
        if len(exchanges) > MAX_NAMES:
            raise SpfError("permerror", f"{target} has more than {MAX_NAMES} MX records.",
                           term.text)
        for exchange in exchanges:
            if _in_any(ip, _quiet_addresses(state, exchange.exchange.to_text(), term), term):
                return True, ""
        return False, ""
    return _ptr_matches(state, target, term), ""  # ptr


def _quiet_addresses(state, name, term):
    """Addresses of an MX or PTR name; these lookups are not counted as void."""
    rdtype = "A" if state.ip.version == 4 else "AAAA"
    try:
        records = dnsquery.lookup(state.resolver, name, rdtype)
    except DnsTempError as error:
        raise SpfError("temperror", f"The DNS lookup of {name} failed ({error}).",
                       term.text) from error
    return [ipaddress.ip_address(record.address) for record in records]


def _ptr_matches(state, target, term):
    names = state.lookup(dnsquery.reverse_name(state.ip), "PTR", term)[:MAX_NAMES]
    target = target.rstrip(".").lower()
    for record in names:
        host = record.target.to_text().rstrip(".").lower()
        if (host == target or host.endswith("." + target)) and state.ip in _quiet_addresses(
            state, host + ".", term
        ):
            return True
    return False


def _in_any(ip, addresses, term):
    bits = term.cidr4 if ip.version == 4 else term.cidr6
    if bits is None:
        return ip in addresses
    network = ipaddress.ip_network(f"{ip}/{bits}", strict=False)
    return any(address in network for address in addresses)


def _expand(state, spec, domain, term):
    """Expand macros in a domain-spec; the result is a name to look up."""
    local, _at, sender_domain = state.sender.rpartition("@")
    ip = state.ip
    if ip.version == 4:
        ip_text, version = str(ip), "in-addr"
    else:
        ip_text, version = ".".join(ip.exploded.replace(":", "")), "ip6"
    values = {"s": state.sender, "l": local or "postmaster", "o": sender_domain, "d": domain,
              "i": ip_text, "p": "unknown", "v": version, "h": state.helo,
              "c": str(ip), "r": "unknown", "t": "0"}

    def replace(macro):
        literal = macro.group(5)
        if literal is not None:
            return {"%": "%", "_": " ", "-": "%20"}[literal]
        letter, digits, reverse, delimiters = macro.group(1, 2, 3, 4)
        parts = re.split("[" + re.escape(delimiters or ".") + "]", values[letter.lower()])
        if reverse:
            parts.reverse()
        if digits:
            if int(digits) == 0:
                raise SpfError("permerror", f"The SPF record of {domain} has a bad macro.",
                               term.text)
            parts = parts[-int(digits):]
        text = ".".join(parts)
        if letter.isupper():
            text = re.sub(r"[^A-Za-z0-9\-._~]", lambda c: f"%{ord(c.group()):02X}", text)
        return text

    name = _MACRO.sub(replace, spec).rstrip(".")
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]  # RFC 7208 7.3: drop labels from the left
    if not _TOPLABEL.search(name):
        raise SpfError("permerror", f"{term.text} does not lead to a valid domain name.",
                       term.text)
    return name + "."


def _explain(result, ip, domain, path):
    sentences = {
        "pass": f"The SPF record of {domain} allows {ip} to send its mail ({path}).",
        "fail": f"The SPF record of {domain} forbids {ip} to send its mail ({path}).",
        "softfail": f"The SPF record of {domain} says {ip} is probably not allowed ({path}).",
        "neutral": f"The SPF record of {domain} makes no statement about {ip} ({path}).",
    }
    return sentences[result]


#: (message, fix) per SPF result; {subject} is the domain, {ip} the sending IP,
#: {ip_term} the mechanism that would authorize it (ip4:... or ip6:...).
MESSAGES = {
    "pass": (_lt("The SPF record of {subject} authorizes {ip} ({mechanism})."), ""),
    "neutral": (
        _lt("The SPF record of {subject} neither authorizes nor forbids {ip}, so receivers treat "
            "the mail as unauthenticated by SPF."),
        _lt("Add {ip_term} (or an include: of your mail provider) before the final all of the SPF "
            "record of {subject}."),
    ),
    "softfail": (
        _lt("The SPF record of {subject} does not list {ip} and asks receivers to treat its mail "
            "as suspicious."),
        _lt("Add {ip_term} (or an include: of your mail provider) before ~all in the SPF record of "
            "{subject}."),
    ),
    "fail": (
        _lt("The SPF record of {subject} does not authorize {ip}, so receivers may reject its "
            "mail."),
        _lt("Add {ip_term} (or an include: of your mail provider) before -all in the SPF record of "
            "{subject}."),
    ),
    "none": (
        _lt("{subject} publishes no SPF record, and large providers refuse mail that is neither "
            "SPF- nor DKIM-authenticated."),
        _lt('Publish a TXT record at {subject} such as "v=spf1 mx {ip_term} -all".'),
    ),
    "permerror": (
        _lt("The SPF record of {subject} is broken and receivers ignore it: {explanation}"),
        _lt("Correct the SPF record of {subject} so it is a single valid record needing at most 10 "
            "DNS lookups."),
    ),
    "temperror": (
        _lt("The SPF record of {subject} could not be checked: {explanation}"),
        _lt("Check again later; if this persists, make sure the DNS servers of {subject} answer."),
    ),
    "invalid": (
        _lt("{subject} or {ip} is not a valid domain or IP address."),
        _lt("Enter the envelope sender domain and the public IP address the server sends from."),
    ),
}
_STATUS = {"pass": OK, "neutral": WARNING, "softfail": WARNING, "fail": ERROR, "none": ERROR,
           "permerror": ERROR, "temperror": UNKNOWN}


def check_spf(resolver, domain, ip):
    """CheckResult of SPF for mail with envelope sender domain ``domain`` from ``ip``."""
    parsed = dnsquery.parse_ip(ip)
    name = dnsquery.normalize_domain(domain)
    if parsed is None or not name:
        return build("spf", name or str(domain), ERROR, "", "invalid", messages=MESSAGES, ip=ip)
    spf = evaluate(name, parsed, resolver)
    explanation = spf.explanation if spf.explanation.endswith(".") else spf.explanation + "."
    return build(
        "spf", name, _STATUS[spf.result],
        f"{spf.result}: {spf.record}" if spf.record else spf.result,
        spf.result, messages=MESSAGES, ip=str(parsed), ip_term=f"ip{parsed.version}:{parsed}",
        mechanism=spf.mechanism, explanation=explanation,
    )
