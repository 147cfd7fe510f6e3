"""MX of the bounce domain: bounces must be able to reach the bounce mailbox.

A few lookups, kept here: checkdmarc's MX check cannot be installed beside
Odoo 18 (see ``dmarc``).
"""

from __future__ import annotations

from . import dnsquery
from .dnsquery import DnsTempError
from .results import ERROR, OK, UNKNOWN, WARNING, _lt, build

#: (message, fix) per outcome; {subject} is the bounce domain.
MESSAGES = {
    "ok": (_lt("{subject} receives mail through {value}."), ""),
    "implicit": (
        _lt("{subject} has no MX record, so senders deliver bounces to its A/AAAA address "
            "({value}) as an implicit MX."),
        _lt("Publish an MX record for {subject} naming the server that holds the bounce mailbox."),
    ),
    "null": (
        _lt("{subject} publishes a null MX (RFC 7505), so it accepts no mail and bounces are "
            "lost."),
        _lt("Replace the null MX of {subject} with an MX naming the server that holds the bounce "
            "mailbox, or use another bounce domain."),
    ),
    "unresolvable": (
        _lt("None of the mail servers of {subject} ({value}) has an address, so bounces cannot "
            "be delivered."),
        _lt("Give the MX host names of {subject} A or AAAA records, or point the MX at a working "
            "server."),
    ),
    "no_mail": (
        _lt("{subject} has neither MX nor address records, so bounces cannot be delivered."),
        _lt("Publish an MX record for {subject} naming the server that holds the bounce mailbox."),
    ),
    "nxdomain": (
        _lt("The domain {subject} does not exist, so bounces cannot be delivered."),
        _lt("Use a bounce address at a domain you own and that receives mail."),
    ),
    "dns": (
        _lt("The mail servers of {subject} could not be checked ({problem})."),
        _lt("Check again later; if this persists, make sure the DNS servers of {subject} answer."),
    ),
}


def check_mx(resolver, domain):  # noqa: PLR0911 - one exit per outcome
    """CheckResult of the mail routing of ``domain`` (RFC 5321 5.1, RFC 7505)."""
    domain = dnsquery.normalize_domain(domain) or str(domain)

    def result(status, key, value="", **fields):
        return build("mx", domain, status, value, key, messages=MESSAGES, **fields)

    try:
        records = dnsquery.lookup(resolver, domain + ".", "MX")
        if records.nxdomain:
            return result(ERROR, "nxdomain")
        if not records:
            addresses = dnsquery.addresses(resolver, domain + ".")
            if not addresses:
                return result(ERROR, "no_mail")
            return result(WARNING, "implicit", ", ".join(map(str, addresses)))
        exchanges = sorted(records, key=lambda record: record.preference)
        value = ", ".join(f"{r.preference} {r.exchange.to_text()}" for r in exchanges)
        if any(r.exchange.to_text() == "." for r in exchanges):
            return result(ERROR, "null", value)
        for record in exchanges:
            if dnsquery.addresses(resolver, record.exchange):
                return result(OK, "ok", value)
        return result(ERROR, "unresolvable", value)
    except DnsTempError as error:
        return result(UNKNOWN, "dns", problem=str(error))
