"""Deliverability checks: can the mailings' domains and servers deliver mail?

Pure Python over dnspython, pyspf, dkimpy and publicsuffixlist; no Odoo.  Public API::

    checker = Checker(resolver=None, nameservers=None, timeout=5.0,
                      ip_blocklists=DEFAULT_IP_BLOCKLISTS,
                      domain_blocklists=DEFAULT_DOMAIN_BLOCKLISTS)
    checker.check_spf(domain, ip)            -> CheckResult
    checker.check_dkim(domain, selectors)    -> [CheckResult]  (one per selector)
    checker.check_dmarc(domain)              -> CheckResult
    checker.check_mx(domain)                 -> CheckResult
    checker.check_reverse_dns(ip)            -> CheckResult
    checker.check_ip_blocklists(ip)          -> [CheckResult]  (one per list)
    checker.check_domain_blocklists(domain)  -> [CheckResult]  (one per list)
    checker.run_all(from_domains, sending_ips, bounce_domain, dkim_selectors)
                                             -> [CheckResult]
    spf.evaluate(domain, ip, resolver, sender=None, helo=None) -> SpfResult
    sending_ips(resolver, smtp_host, server_name) -> ([ip], CheckResult | None)
    analyze_headers(raw_text_or_bytes)       -> HeaderReport (hops, verdicts)

A CheckResult has check, subject, status (ok, warning, error, unknown), value,
message and fix; "unknown" means the DNS did not answer (timeout, SERVFAIL,
refused), never that something failed.  Messages are English sentences built
from the ``MESSAGES`` templates of each check module (``MESSAGES`` below maps
a result's ``check`` to them); a result's ``key`` and ``params`` let a caller
render its template again in another language (see ``results``).
"""

from . import blocklists, dkim, dmarc, mx, rdns, sending_ip, spf
from .blocklists import DEFAULT_DOMAIN_BLOCKLISTS, DEFAULT_IP_BLOCKLISTS
from .checker import Checker
from .headers import HeaderReport, Hop, Verdict, analyze_headers
from .results import ERROR, OK, PHRASE_PARAMS, STATUSES, UNKNOWN, WARNING, CheckResult
from .sending_ip import no_server, sending_ips
from .spf import SpfResult, evaluate

#: The (message, fix) templates of each check, by ``CheckResult.check``.
MESSAGES = {
    "spf": spf.MESSAGES,
    "dkim": dkim.MESSAGES,
    "dmarc": dmarc.MESSAGES,
    "mx": mx.MESSAGES,
    "reverse_dns": rdns.MESSAGES,
    "ip_blocklist": blocklists.MESSAGES,
    "domain_blocklist": blocklists.MESSAGES,
    "sending_ip": sending_ip.MESSAGES,
}

__all__ = [
    "DEFAULT_DOMAIN_BLOCKLISTS",
    "DEFAULT_IP_BLOCKLISTS",
    "ERROR",
    "MESSAGES",
    "OK",
    "PHRASE_PARAMS",
    "STATUSES",
    "UNKNOWN",
    "WARNING",
    "CheckResult",
    "Checker",
    "HeaderReport",
    "Hop",
    "SpfResult",
    "Verdict",
    "analyze_headers",
    "evaluate",
    "no_server",
    "sending_ips",
    "spf",
]
