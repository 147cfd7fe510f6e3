"""SPF (RFC 7208): evaluate a domain's policy for one sending IP.

``evaluate(domain, ip, resolver)`` runs pyspf (module ``spf``), the reference
implementation of RFC 7208 check_host(), against our resolver.  pyspf asks DNS
through its module function ``spf.DNSLookup``, its one hook for another DNS
library; this module sets it once, at import, to ``_lookup``, which uses the
resolver of the evaluation under way (a context variable, so concurrent
checks and other pyspf users are unaffected; without one it is pyspf's own
lookup).  Kept here: the path of the deciding term through include and
redirect ("include:_spf.example.net > ip4:198.51.100.0/24"), which pyspf does
not report, RFC 7208 5.5's skipping of PTR names whose addresses cannot be
looked up, and the check's messages.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

import spf as pyspf

from . import dnsquery
from .dnsquery import DnsTempError
from .results import ERROR, OK, UNKNOWN, WARNING, _lt, build

#: RFC 7208 4.6.4: the time one evaluation may take, all lookups together.
TOTAL_SECONDS = 20
_RESOLVER = contextvars.ContextVar("civimail_spf_resolver", default=None)
_PYSPF_LOOKUP = pyspf.DNSLookup
_ERROR_PREFIXES = ("SPF Permanent Error: ", "SPF Temporary Error: ")


@dataclass(frozen=True)
class SpfResult:
    result: str  # pass fail softfail neutral none permerror temperror
    mechanism: str  # the term that decided, "include:x > ip4:..." through includes
    explanation: str
    lookups: int  # DNS-querying terms used (the limit is 10)
    record: str = ""  # the top-level SPF record, "" if none was found


def _lookup(name, qtype, strict=True, timeout=TOTAL_SECONDS):
    """pyspf's DNS hook: ``[((name, qtype), value)]`` from the evaluation's resolver."""
    resolver = _RESOLVER.get()
    if resolver is None:
        return _PYSPF_LOOKUP(name, qtype, strict, timeout)
    try:
        records = dnsquery.lookup(resolver, name, qtype, lifetime=min(timeout, resolver.lifetime))
    except DnsTempError as error:
        raise pyspf.TempError(f"The DNS lookup of {name} ({qtype}) failed ({error})") from error
    key = (name, qtype)
    if qtype in ("A", "AAAA"):
        return [(key, record.address) for record in records]
    if qtype == "MX":
        return [(key, (record.preference, record.exchange.to_text(omit_final_dot=True)))
                for record in records]
    if qtype == "PTR":
        return [(key, record.target.to_text(omit_final_dot=True)) for record in records]
    return [(key, record.strings) for record in records]  # TXT


pyspf.DNSLookup = _lookup


class _Query(pyspf.query):
    """pyspf's query, noting which domains the top-level record redirected to and included.

    pyspf evaluates a record with ``check1(record, domain, recursion)``: an
    include one level deeper, a redirect at the same level.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.redirects = []  # domains the top-level record was redirected to, in order
        self.includes = []  # domains included by the top-level (or redirected-to) record
        self._levels = []

    def check1(self, spf, domain, recursion):
        if recursion == 0 and self._levels:
            self.redirects.append(domain)
        elif recursion == 1 and self._levels[-1] == 0:
            self.includes.append(domain)
        self._levels.append(recursion)
        try:
            return super().check1(spf, domain, recursion)
        finally:
            self._levels.pop()

    def validated_ptrs(self):
        """PTR names of the IP that resolve back to it (``ptr`` mechanism, ``%{p}`` macro).

        RFC 7208 5.5: a DNS error while looking up the addresses of one name
        skips that name; pyspf would end the evaluation with temperror.
        """
        valid = []
        for name in self.dns_ptr(self.i)[:pyspf.MAX_PTR]:
            try:
                if self.cidrmatch(self.dns_a(name, self.A), self.cidrmax):
                    valid.append(name)
            except pyspf.TempError:
                continue
        return valid


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
    token = _RESOLVER.set(resolver)
    try:
        return _evaluate(domain, str(parsed_ip), sender, helo or domain)
    finally:
        _RESOLVER.reset(token)


def _evaluate(domain, ip, sender, helo):
    query = _Query(i=ip, s=sender, h=helo, querytime=TOTAL_SECONDS)
    query.d = domain
    try:
        record = query.dns_spf(domain)
    except pyspf.TempError as error:
        return SpfResult("temperror", "", str(error), 0)
    except pyspf.PermError as error:
        return SpfResult("permerror", "", str(error), 0)
    if record is None:
        return SpfResult("none", "", f"{domain} publishes no SPF record.", 0)
    result, _code, explanation = query.check(spf=record)
    if result in ("permerror", "temperror"):
        for prefix in _ERROR_PREFIXES:
            explanation = explanation.removeprefix(prefix)
        if query.lookups > pyspf.MAX_LOOKUP:
            explanation += f": more than {pyspf.MAX_LOOKUP}, the limit set by RFC 7208"
        return SpfResult(result, query.mech[-1] if query.mech else "", explanation,
                         query.lookups, record)
    deciding = query.mechanism or ""
    if result == "pass" and deciding.lstrip("+").startswith("include:") and query.includes:
        inner = _evaluate(query.includes[-1], ip, sender, helo).mechanism
        deciding = f"{deciding} > {inner}" if inner else deciding
    path = " > ".join(filter(None, [*(f"redirect={d}" for d in query.redirects), deciding]))
    return SpfResult(result, path, explanation, query.lookups, record)


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
