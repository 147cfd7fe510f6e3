"""DMARC (RFC 7489): the policy published at ``_dmarc.<domain>``.

Without a record there, the organizational domain's record applies: the
domain one label below its public suffix (RFC 7489 3.2), found with the
Public Suffix List as the ``publicsuffixlist`` package ships it.

The record itself is read here.  checkdmarc, the maintained library that
checks DMARC records, requires cryptography>=50 (its 5.x and 6.x releases)
where Odoo 18 pins cryptography 3.4.8 on Python 3.11, so it cannot be
installed beside Odoo; reading ``p``, ``sp``, ``pct`` and the alignment tags
takes a few lines.
"""

from __future__ import annotations

import functools
import re

from publicsuffixlist import PublicSuffixList

from . import dnsquery
from .dnsquery import DnsTempError
from .results import ERROR, OK, UNKNOWN, WARNING, _lt, build

_VERSION = re.compile(r"^\s*v\s*=\s*DMARC1\s*(;|$)", re.IGNORECASE)
POLICIES = ("none", "quarantine", "reject")

#: (message, fix) per outcome; {subject} is the domain checked.
MESSAGES = {
    "enforced": (
        _lt("{subject} has a DMARC policy ({summary}), so receivers {action}."),
        "",
    ),
    "monitor": (
        _lt("{subject} has a monitoring-only DMARC policy ({summary}): receivers report failing "
            "mail but deliver it anyway."),
        _lt("Once the reports show your mailings pass DMARC, raise the policy to p=quarantine."),
    ),
    "partial": (
        _lt("{subject} applies its DMARC policy ({summary}) to only {pct}% of failing mail."),
        _lt("Set pct=100 (or remove pct) once the reports show your mailings pass DMARC."),
    ),
    "missing": (
        _lt("{subject} publishes no DMARC record, which large providers require of bulk senders."),
        _lt('Publish a TXT record at _dmarc.{org} such as "v=DMARC1; p=none; rua=mailto:'
            'dmarc-reports@{org}".'),
    ),
    "multiple": (
        _lt("{subject} publishes several DMARC records, so receivers apply none of them."),
        _lt("Keep a single v=DMARC1 TXT record at {name}."),
    ),
    "invalid": (
        _lt("The DMARC record of {subject} is invalid: {problem}."),
        _lt("Correct the record at {name}; it must start with v=DMARC1 and give p=none, "
            "quarantine or reject."),
    ),
    "dns": (
        _lt("The DMARC record of {subject} could not be checked ({problem})."),
        _lt("Check again later; if this persists, make sure the DNS servers of {subject} answer."),
    ),
}
_ACTIONS = {"quarantine": _lt("send mail that fails DMARC to the spam folder"),
            "reject": _lt("reject mail that fails DMARC")}


@functools.cache
def _public_suffix_list():
    return PublicSuffixList()  # reads the list the package ships, once


def organizational_domain(domain):
    """``mail.example.co.uk`` -> ``example.co.uk``; a public suffix is its own."""
    name = domain.rstrip(".").lower()
    return _public_suffix_list().privatesuffix(name) or name


def parse_record(text):
    """``{tag: value}`` of a DMARC record (tags lower case, values stripped)."""
    tags = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def _records(resolver, domain):
    return [text for text in dnsquery.txt_strings(resolver, f"_dmarc.{domain}.")
            if _VERSION.match(text)]


def check_dmarc(resolver, domain):
    """CheckResult of the DMARC policy that applies to mail from ``domain``."""
    domain = dnsquery.normalize_domain(domain) or str(domain)
    org = organizational_domain(domain)
    name = f"_dmarc.{domain}"

    def result(status, key, value="", **fields):
        return build("dmarc", domain, status, value, key, messages=MESSAGES, org=org, name=name,
                     **fields)

    try:
        records = _records(resolver, domain)
        if not records and org != domain:
            records, name = _records(resolver, org), f"_dmarc.{org}"
    except DnsTempError as error:
        return result(UNKNOWN, "dns", problem=str(error))
    if not records:
        return result(ERROR, "missing")
    if len(records) > 1:
        return result(ERROR, "multiple", " | ".join(records))
    return _judge(result, records[0], name != f"_dmarc.{domain}")


def _judge(result, record, inherited):
    tags = parse_record(record)
    policy = tags.get("p", "").lower()
    if inherited and tags.get("sp"):
        policy = tags["sp"].lower()  # sp= applies to subdomains of the organizational domain
    if policy not in POLICIES:
        if "p" not in tags and tags.get("rua"):
            policy = "none"  # RFC 7489 6.6.3: a record with rua= but no p= means p=none
        else:
            return result(ERROR, "invalid", record,
                          problem=f"the policy p={tags.get('p', '')} is not none, quarantine "
                          "or reject")
    try:
        pct = int(tags.get("pct", "100"))
    except ValueError:
        pct = -1
    if not 0 <= pct <= 100:
        return result(ERROR, "invalid", record, problem=_lt("pct= is not a number from 0 to 100"))
    summary = (
        f"p={policy}, sp={tags.get('sp', policy).lower()}, pct={pct}, "
        f"adkim={tags.get('adkim', 'r').lower()}, aspf={tags.get('aspf', 'r').lower()}, "
        f"rua={tags.get('rua') or 'none'}"
        + (", inherited from the organizational domain" if inherited else "")
    )
    if policy == "none":
        return result(WARNING, "monitor", record, summary=summary)
    if pct < 100:
        return result(WARNING, "partial", record, summary=summary, pct=pct)
    return result(OK, "enforced", record, summary=summary, action=_ACTIONS[policy])
