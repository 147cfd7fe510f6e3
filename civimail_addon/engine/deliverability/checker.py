"""``Checker``: every check with one resolver, timeout and set of blocklists."""

from __future__ import annotations

from collections.abc import Mapping

from . import blocklists, dkim, dmarc, dnsquery, mx, rdns, spf
from .blocklists import DEFAULT_DOMAIN_BLOCKLISTS, DEFAULT_IP_BLOCKLISTS


class Checker:
    """Runs the checks against one resolver.

    ``resolver`` (a dnspython Resolver) is used as given; otherwise one is
    made from ``nameservers`` (or the system configuration) with ``timeout``
    seconds per lookup.  DNS that does not answer gives "unknown" results.
    """

    def __init__(self, resolver=None, nameservers=None, timeout=5.0,
                 ip_blocklists=DEFAULT_IP_BLOCKLISTS,
                 domain_blocklists=DEFAULT_DOMAIN_BLOCKLISTS):
        self.resolver = resolver or dnsquery.make_resolver(nameservers, timeout)
        self.ip_blocklists = tuple(ip_blocklists or ())
        self.domain_blocklists = tuple(domain_blocklists or ())

    def check_spf(self, domain, ip):
        """CheckResult: may ``ip`` send mail with an envelope sender at ``domain``?"""
        return spf.check_spf(self.resolver, domain, ip)

    def check_dkim(self, domain, selectors):
        """[CheckResult] per selector: is its public key published and sound?"""
        return dkim.check_dkim(self.resolver, domain, selectors)

    def check_dmarc(self, domain):
        """CheckResult of the DMARC policy for mail from ``domain``."""
        return dmarc.check_dmarc(self.resolver, domain)

    def check_mx(self, domain):
        """CheckResult: can mail (bounces) be delivered to ``domain``?"""
        return mx.check_mx(self.resolver, domain)

    def check_reverse_dns(self, ip):
        """CheckResult of the PTR name of ``ip`` and its forward confirmation."""
        return rdns.check_reverse_dns(self.resolver, ip)

    def check_ip_blocklists(self, ip):
        """[CheckResult] per configured IP blocklist."""
        return blocklists.check_ip_blocklists(self.resolver, ip, self.ip_blocklists)

    def check_domain_blocklists(self, domain):
        """[CheckResult] per configured domain blocklist."""
        return blocklists.check_domain_blocklists(self.resolver, domain, self.domain_blocklists)

    def run_all(self, from_domains, sending_ips, bounce_domain=None, dkim_selectors=()):
        """Every check for the mailings' From domains, sending IPs and bounce domain.

        SPF is checked for each From domain and for the bounce domain too,
        since receivers check SPF on the envelope sender (the bounce address).
        ``dkim_selectors`` is a list used for every From domain, or a mapping
        ``{domain: [selectors]}``.
        """
        domains = _unique(dnsquery.normalize_domain(d) or str(d).strip() for d in from_domains)
        ips = _unique(str(ip).strip() for ip in sending_ips)
        bounce = dnsquery.normalize_domain(bounce_domain) or str(bounce_domain or "").strip()
        results = []
        for domain in _unique([*domains, bounce] if bounce else domains):
            results.extend(self.check_spf(domain, ip) for ip in ips)
        for domain in domains:
            results.extend(self.check_dkim(domain, _selectors_for(dkim_selectors, domain)))
            results.append(self.check_dmarc(domain))
            results.extend(self.check_domain_blocklists(domain))
        if bounce:
            results.append(self.check_mx(bounce))
        for ip in ips:
            results.append(self.check_reverse_dns(ip))
            results.extend(self.check_ip_blocklists(ip))
        return results


def _unique(items):
    return [item for item in dict.fromkeys(items) if item]


def _selectors_for(selectors, domain):
    if isinstance(selectors, Mapping):
        return selectors.get(domain, ())
    if isinstance(selectors, str):
        return [part for part in selectors.replace(",", " ").split() if part]
    return selectors or ()
