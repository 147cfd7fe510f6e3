"""Reverse DNS of a sending IP, confirmed forward (FCrDNS)."""

from __future__ import annotations

from . import dnsquery
from .dnsquery import DnsTempError
from .results import ERROR, OK, UNKNOWN, _lt, build

MAX_NAMES = 10

#: (message, fix) per outcome; {subject} is the IP address.
MESSAGES = {
    "ok": (_lt("{subject} has the reverse DNS name {value}, which resolves back to it."), ""),
    "missing": (
        _lt("{subject} has no reverse DNS (PTR) record, and many receivers refuse mail from such "
            "addresses."),
        _lt("Ask whoever provides {subject} (hosting or ISP) to set its PTR record to your mail "
            "server's host name."),
    ),
    "mismatch": (
        _lt("The reverse DNS name of {subject} ({value}) does not resolve back to {subject}, so "
            "receivers treat it as unverified."),
        _lt("Give {value} an A or AAAA record pointing to {subject}, or change the PTR record to "
            "a name that does."),
    ),
    "invalid": (
        _lt("{subject} is not a valid IP address."),
        _lt("Enter the public IP address the mail server sends from."),
    ),
    "dns": (
        _lt("The reverse DNS of {subject} could not be checked ({problem})."),
        _lt("Check again later; if this persists, make sure the reverse DNS servers for {subject} "
            "answer."),
    ),
}


def check_reverse_dns(resolver, ip):
    """CheckResult of the PTR of ``ip`` and the forward confirmation of its names."""
    address = dnsquery.parse_ip(ip)
    if address is None:
        return build("reverse_dns", str(ip), ERROR, "", "invalid", messages=MESSAGES)
    subject = str(address)

    def result(status, key, value="", **fields):
        return build("reverse_dns", subject, status, value, key, messages=MESSAGES, **fields)

    try:
        names = [r.target.to_text() for r in
                 dnsquery.lookup(resolver, dnsquery.reverse_name(address), "PTR")][:MAX_NAMES]
        if not names:
            return result(ERROR, "missing")
        for name in names:
            if address in dnsquery.addresses(resolver, name, address.version):
                return result(OK, "ok", name.rstrip("."))
    except DnsTempError as error:
        return result(UNKNOWN, "dns", problem=str(error))
    return result(ERROR, "mismatch", ", ".join(name.rstrip(".") for name in names))
