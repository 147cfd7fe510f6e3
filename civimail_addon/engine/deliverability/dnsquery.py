"""The one place that talks to dnspython: answers or "could not check".

``lookup`` returns the records (``[]`` when the name has none of that type,
with ``.nxdomain`` set when the name does not exist) and raises ``DnsTempError``
for a timeout, SERVFAIL, REFUSED or no usable server, so no caller can mistake
an unanswered question for a negative answer.
"""

from __future__ import annotations

import ipaddress
import re

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
import dns.reversename

from .results import _lt

_BAD_NAME = (dns.name.EmptyLabel, dns.name.LabelTooLong, dns.name.NameTooLong,
             dns.name.BadEscape, dns.exception.SyntaxError, UnicodeError)


class DnsTempError(Exception):
    """The question got no usable answer; the check could not be made."""


class Records(list):
    """Records of one type; ``nxdomain`` tells a missing name from a missing type."""

    nxdomain = False


def make_resolver(nameservers=None, timeout=5.0):
    """A resolver with a short overall deadline: the system one or ``nameservers``.

    A nameserver is an IP address, optionally with a port: ``192.0.2.1:5353``,
    ``[2001:db8::1]:5353``.
    """
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(text) for text in nameservers]
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            resolver = dns.resolver.Resolver(configure=False)  # every lookup: unknown
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = dns.resolver.Cache()  # run_all asks the same names repeatedly
    return resolver


def _nameserver(text):
    text = str(text).strip()
    found = re.match(r"^\[?([0-9A-Fa-f:.]+?)\]?(?::(\d+))?$", text) if text.count(":") <= 1 \
        or text.startswith("[") else None
    if found and found.group(2):
        return dns.nameserver.Do53Nameserver(found.group(1), int(found.group(2)))
    return text.strip("[]")


def lookup(resolver, name, rdtype, lifetime=None) -> Records:
    """Records of ``rdtype`` at ``name`` (absolute); DnsTempError if unanswered.

    ``lifetime`` shortens the resolver's own deadline for this lookup.
    """
    found = Records()
    try:
        qname = dns.name.from_text(name) if isinstance(name, str) else name
        answer = resolver.resolve(qname, rdtype, search=False, lifetime=lifetime)
    except _BAD_NAME:
        found.nxdomain = True  # a malformed name cannot exist
        return found
    except dns.resolver.NXDOMAIN:
        found.nxdomain = True
        return found
    except dns.resolver.NoAnswer:
        return found
    except dns.exception.DNSException as error:  # timeout, NoNameservers (SERVFAIL, REFUSED)
        raise DnsTempError(describe(error)) from error
    found.extend(answer)
    return found


def txt_strings(resolver, name) -> Records:
    """TXT records at ``name``, each one's strings joined as RFC 7208/6376 say."""
    found = Records()
    records = lookup(resolver, name, "TXT")
    found.nxdomain = records.nxdomain
    found.extend(b"".join(record.strings).decode("utf-8", "replace") for record in records)
    return found


def addresses(resolver, name, version=None) -> Records:
    """A and/or AAAA addresses of ``name`` as ipaddress objects."""
    found = Records()
    types = {4: ("A",), 6: ("AAAA",)}.get(version, ("A", "AAAA"))
    missing = True
    for rdtype in types:
        records = lookup(resolver, name, rdtype)
        missing = missing and records.nxdomain
        found.extend(ipaddress.ip_address(record.address) for record in records)
    found.nxdomain = missing
    return found


def reverse_name(ip) -> str:
    """``192.0.2.1`` -> ``1.2.0.192.in-addr.arpa.`` (nibbles under ip6.arpa for IPv6)."""
    return dns.reversename.from_address(str(ip)).to_text()


def describe(error) -> str:
    """A short reason for a DNS failure, for the result's value."""
    if isinstance(error, dns.exception.Timeout):
        return _lt("timeout")
    if isinstance(error, dns.resolver.NoNameservers):
        text = str(error)
        for code in ("SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"):
            if code in text:
                return code
        return _lt("no server answered")
    if isinstance(error, dns.resolver.NoResolverConfiguration):
        return _lt("no DNS server configured")
    return error.__class__.__name__


def parse_ip(text):
    """An ipaddress object, IPv4-mapped IPv6 turned into IPv4; None if invalid."""
    try:
        ip = ipaddress.ip_address(str(text).strip().strip("[]"))
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def normalize_domain(text) -> str:
    """Lower case, no trailing dot, IDN as A-labels; "" if it is not a domain."""
    domain = str(text or "").strip().rstrip(".").lower()
    if "@" in domain:
        domain = domain.rsplit("@", 1)[1]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not all(0 < len(label) <= 63 for label in labels):
        return ""
    return domain
