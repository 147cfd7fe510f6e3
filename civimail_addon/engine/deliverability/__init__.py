"""Deliverability checks: can the mailings' domains and servers deliver mail?

Pure Python over dnspython, no Odoo.  Public API::

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
    analyze_headers(raw_text_or_bytes)       -> HeaderReport (hops, verdicts)

A CheckResult has check, subject, status (ok, warning, error, unknown), value,
message and fix; "unknown" means the DNS did not answer (timeout, SERVFAIL,
refused), never that something failed.  Messages are English sentences built
from the ``MESSAGES`` templates of each check module, one dict per check.
"""

from . import spf
from .blocklists import DEFAULT_DOMAIN_BLOCKLISTS, DEFAULT_IP_BLOCKLISTS
from .checker import Checker
from .headers import HeaderReport, Hop, Verdict, analyze_headers
from .results import ERROR, OK, STATUSES, UNKNOWN, WARNING, CheckResult
from .spf import SpfResult, evaluate

__all__ = [
    "DEFAULT_DOMAIN_BLOCKLISTS",
    "DEFAULT_IP_BLOCKLISTS",
    "ERROR",
    "OK",
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
    "spf",
]
