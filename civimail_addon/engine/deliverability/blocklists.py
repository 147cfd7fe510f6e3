"""DNS blocklists: is the sending IP or the From domain listed?

An IP is looked up as its reversed octets (nibbles for IPv6) under the list's
zone, a domain as ``<domain>.<zone>``.  Return codes are read as each list
documents them; a code meaning "query refused" (Spamhaus 127.255.255.x, a
public resolver or too many queries) or an address outside 127/8 is "could
not check", never "listed".  Lists not known here: any 127.x answer outside 127.255/16 is a listing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from . import dnsquery
from .dnsquery import DnsTempError
from .results import ERROR, OK, UNKNOWN, _lt, build

DEFAULT_IP_BLOCKLISTS = ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org",
                         "psbl.surriel.com")
DEFAULT_DOMAIN_BLOCKLISTS = ("dbl.spamhaus.org",)

_SPAMHAUS_REFUSED = {
    "127.255.255.252": _lt("the query was sent to a mistyped list name"),
    "127.255.255.254": _lt("Spamhaus refuses queries through public DNS resolvers"),
    "127.255.255.255": _lt("Spamhaus refuses the query: too many queries from this resolver"),
}
_DBL_CODES = {
    "127.0.1.2": "spam domain",
    "127.0.1.4": "phishing domain",
    "127.0.1.5": "malware domain",
    "127.0.1.6": "botnet command and control domain",
    "127.0.1.102": "abused legitimate spam domain",
    "127.0.1.103": "abused legitimate spammed redirector domain",
    "127.0.1.104": "abused legitimate phishing domain",
    "127.0.1.105": "abused legitimate malware domain",
    "127.0.1.106": "abused legitimate botnet command and control domain",
}


@dataclass(frozen=True)
class ListSpec:
    """How one list answers: listing codes with meanings, refusal codes."""

    listed: dict = field(default_factory=dict)  # code -> meaning
    refused: dict = field(default_factory=dict)  # code -> why the query was refused
    ipv6: bool = False  # does the list take IPv6 queries?


SPAMHAUS_ZEN = ListSpec(
    listed={
        "127.0.0.2": "SBL, Spamhaus spam sources",
        "127.0.0.3": "SBL CSS, snowshoe spam sources",
        "127.0.0.4": "XBL, exploited or infected host",
        "127.0.0.5": "XBL, exploited or infected host",
        "127.0.0.6": "XBL, exploited or infected host",
        "127.0.0.7": "XBL, exploited or infected host",
        "127.0.0.9": "SBL DROP, hijacked network",
        "127.0.0.10": "PBL, end-user address that should not send mail directly (ISP)",
        "127.0.0.11": "PBL, end-user address that should not send mail directly (Spamhaus)",
    },
    refused=_SPAMHAUS_REFUSED,
    ipv6=True,
)
SPAMHAUS_DBL = ListSpec(
    listed=_DBL_CODES,
    refused={**_SPAMHAUS_REFUSED, "127.0.1.255": _lt("the list takes domain names, not IPs")},
)
SPAMCOP = ListSpec(listed={"127.0.0.2": "reported as a spam source by SpamCop users"})
BARRACUDA = ListSpec(listed={"127.0.0.2": "poor reputation at Barracuda"})
PSBL = ListSpec(listed={"127.0.0.2": "mail seen at PSBL spam traps"})

#: Known lists by zone; Spamhaus DQS zones (``<key>.zen.dq.spamhaus.net``) match by suffix.
KNOWN_LISTS = {
    "zen.spamhaus.org": SPAMHAUS_ZEN,
    "zen.dq.spamhaus.net": SPAMHAUS_ZEN,
    "dbl.spamhaus.org": SPAMHAUS_DBL,
    "dbl.dq.spamhaus.net": SPAMHAUS_DBL,
    "bl.spamcop.net": SPAMCOP,
    "b.barracudacentral.org": BARRACUDA,
    "psbl.surriel.com": PSBL,
}

#: (message, fix) per outcome; {subject} is the IP or domain, {zone} the list.
MESSAGES = {
    "clean": (_lt("{subject} is not listed on {zone}."), ""),
    "listed": (
        _lt("{subject} is listed on {zone} ({meaning}), so receivers using that list refuse "
            "its mail."),
        _lt("Find and stop the cause, then request removal through the web site of {zone}."),
    ),
    "refused": (
        _lt("{zone} could not be checked for {subject}: {meaning}."),
        _lt("Use a DNS resolver of your own (not a public one) for these checks, or a registered "
            "access key for {zone}."),
    ),
    "unexpected": (
        _lt("{zone} could not be checked for {subject}: it gave the unexpected answer {value}."),
        _lt("Check that {zone} is still in service and spelled correctly, or remove it from the "
            "list of blocklists."),
    ),
    "no_ipv6": (
        _lt("{zone} does not list IPv6 addresses, so {subject} was not checked on it."),
        "",
    ),
    "invalid": (
        _lt("{subject} is not a valid IP address or domain."),
        _lt("Enter the public IP address or the domain to check."),
    ),
    "dns": (
        _lt("{zone} could not be checked for {subject} ({problem})."),
        _lt("Check again later; if this persists, check that your DNS resolver can reach {zone}."),
    ),
}


def spec_for(zone):
    """The ListSpec of ``zone``: a known list, else one read generically."""
    zone = zone.strip().rstrip(".").lower()
    for name, spec in KNOWN_LISTS.items():
        if zone == name or zone.endswith("." + name):
            return spec
    return ListSpec(ipv6=True)


def check_ip_blocklists(resolver, ip, zones=DEFAULT_IP_BLOCKLISTS):
    """One CheckResult per list for the sending IP."""
    address = dnsquery.parse_ip(ip)
    if address is None:
        return [build("ip_blocklist", str(ip), ERROR, "", "invalid", messages=MESSAGES)]
    reversed_ip = dnsquery.reverse_name(address).rsplit(".", 3)[0]  # drop in-addr.arpa.
    results = []
    for zone in _zones(zones):
        spec = spec_for(zone)
        if address.version == 6 and not spec.ipv6:
            results.append(build("ip_blocklist", str(address), UNKNOWN, "",
                                 "no_ipv6", messages=MESSAGES, zone=zone))
            continue
        results.append(_query(resolver, "ip_blocklist", str(address),
                              qname=f"{reversed_ip}.{zone}.", zone=zone, spec=spec))
    return results


def check_domain_blocklists(resolver, domain, zones=DEFAULT_DOMAIN_BLOCKLISTS):
    """One CheckResult per list for the From domain."""
    name = dnsquery.normalize_domain(domain)
    if not name:
        return [build("domain_blocklist", str(domain), ERROR, "", "invalid", messages=MESSAGES)]
    return [_query(resolver, "domain_blocklist", name, qname=f"{name}.{zone}.", zone=zone,
                   spec=spec_for(zone))
            for zone in _zones(zones)]


def _zones(zones):
    return list(dict.fromkeys(z.strip().rstrip(".").lower() for z in zones or () if z.strip()))


def _query(resolver, check, subject, *, qname, zone, spec):
    def result(status, key, value="", **fields):
        return build(check, subject, status, value, key, messages=MESSAGES, zone=zone, **fields)

    try:
        codes = sorted({record.address for record in dnsquery.lookup(resolver, qname, "A")},
                       key=ipaddress.ip_address)
    except DnsTempError as error:
        return result(UNKNOWN, "dns", problem=str(error))
    if not codes:
        return result(OK, "clean")
    value = ", ".join(codes)
    refused = [spec.refused[code] for code in codes if code in spec.refused]
    if refused:
        return result(UNKNOWN, "refused", value, meaning=refused[0])
    meanings = [_meaning(spec, code) for code in codes]
    if None in meanings:
        return result(UNKNOWN, "unexpected", value)
    reason = _reason(resolver, qname)
    meaning = "; ".join(dict.fromkeys(meanings)) + (f": {reason}" if reason else "")
    return result(ERROR, "listed", value, meaning=meaning)


def _meaning(spec, code):
    """What a return code means for this list; None if it is no listing code."""
    if code in spec.listed:
        return spec.listed[code]
    if not spec.listed and code.startswith("127.") and not code.startswith("127.255."):
        return f"return code {code}"  # generic list: any 127.x answer is a listing
    return None


def _reason(resolver, qname):
    """The list's TXT explanation (often a removal URL); "" if it gives none."""
    try:
        return " ".join(dnsquery.txt_strings(resolver, qname))[:200]
    except DnsTempError:
        return ""
