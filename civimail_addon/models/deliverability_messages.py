"""The deliverability engine's sentences, translatable at the Odoo boundary.

The engine never imports Odoo: each check module builds a result's English
``message`` and ``fix`` from the ``(message, fix)`` format templates of its
``MESSAGES`` dict.  Here each template has a translatable copy (``_lt``, so
Odoo exports it with its ``{placeholders}``).  Each engine result carries
the template that made it and the values of its placeholders; ``parse()``
gives the template's key and those values, a check stores them, and
``render()`` fills the template translated in the reader's language.
``test_engine_templates_have_translatable_copies`` keeps these copies equal
to the engine's, and a result of no known template stays in English rather
than being lost.
"""

from odoo.tools import LazyTranslate

from ..engine.deliverability import blocklists, dkim, dmarc, mx, rdns, spf

_lt = LazyTranslate(__name__)

#: Engine module of each check.  "sending_ip" is this module's own check.
ENGINE_MODULES = {
    "spf": spf,
    "dkim": dkim,
    "dmarc": dmarc,
    "mx": mx,
    "reverse_dns": rdns,
    "ip_blocklist": blocklists,
    "domain_blocklist": blocklists,
}
TEMPLATE_GROUP = {
    "spf": "spf",
    "dkim": "dkim",
    "dmarc": "dmarc",
    "mx": "mx",
    "reverse_dns": "rdns",
    "ip_blocklist": "blocklists",
    "domain_blocklist": "blocklists",
    "sending_ip": "sending_ip",
}

#: Translatable copies of the engine's MESSAGES templates, by engine module.
TEMPLATES = {
    "spf": {
        "pass": (
            _lt("The SPF record of {subject} authorizes {ip} ({mechanism})."),
            None,
        ),
        "neutral": (
            _lt("The SPF record of {subject} neither authorizes nor forbids {ip}, so "
                "receivers treat the mail as unauthenticated by SPF."),
            _lt("Add {ip_term} (or an include: of your mail provider) before the final all of"
                " the SPF record of {subject}."),
        ),
        "softfail": (
            _lt("The SPF record of {subject} does not list {ip} and asks receivers to treat "
                "its mail as suspicious."),
            _lt("Add {ip_term} (or an include: of your mail provider) before ~all in the SPF "
                "record of {subject}."),
        ),
        "fail": (
            _lt("The SPF record of {subject} does not authorize {ip}, so receivers may reject"
                " its mail."),
            _lt("Add {ip_term} (or an include: of your mail provider) before -all in the SPF "
                "record of {subject}."),
        ),
        "none": (
            _lt("{subject} publishes no SPF record, and large providers refuse mail that is "
                "neither SPF- nor DKIM-authenticated."),
            _lt("Publish a TXT record at {subject} such as \"v=spf1 mx {ip_term} -all\"."),
        ),
        "permerror": (
            _lt("The SPF record of {subject} is broken and receivers ignore it: {explanation}"),
            _lt("Correct the SPF record of {subject} so it is a single valid record needing "
                "at most 10 DNS lookups."),
        ),
        "temperror": (
            _lt("The SPF record of {subject} could not be checked: {explanation}"),
            _lt("Check again later; if this persists, make sure the DNS servers of {subject} "
                "answer."),
        ),
        "invalid": (
            _lt("{subject} or {ip} is not a valid domain or IP address."),
            _lt("Enter the envelope sender domain and the public IP address the server sends "
                "from."),
        ),
    },
    "dkim": {
        "ok": (
            _lt("The DKIM key of selector {selector} for {subject} is published ({details})."),
            None,
        ),
        "weak": (
            _lt("The DKIM key of selector {selector} for {subject} has only {bits} bits, "
                "which some receivers consider weak."),
            _lt("Generate a 2048-bit RSA key, publish it under a new selector and sign with "
                "it."),
        ),
        "too_weak": (
            _lt("The DKIM key of selector {selector} for {subject} has only {bits} bits, so "
                "receivers ignore its signatures."),
            _lt("Generate a 2048-bit RSA key, publish it under a new selector and sign with "
                "it."),
        ),
        "testing": (
            _lt("The DKIM key of selector {selector} for {subject} is flagged as testing "
                "(t=y), so receivers may treat signed mail as unsigned."),
            _lt("Remove t=y from the key record once signing works."),
        ),
        "missing": (
            _lt("No DKIM key is published for selector {selector} of {subject}, so receivers "
                "cannot verify its signatures."),
            _lt("Publish the public key as a TXT record at {name}, as given by your mail "
                "server or provider."),
        ),
        "revoked": (
            _lt("The DKIM key of selector {selector} for {subject} is revoked (empty p=), so "
                "its signatures fail."),
            _lt("Sign with a current key and publish its public key at {name}."),
        ),
        "invalid": (
            _lt("The DKIM key record of selector {selector} for {subject} is invalid: "
                "{problem}."),
            _lt("Publish the record again at {name} exactly as your mail server or provider "
                "gives it."),
        ),
        "dns": (
            _lt("The DKIM key of selector {selector} for {subject} could not be checked "
                "({problem})."),
            _lt("Check again later; if this persists, make sure the DNS servers of {subject} "
                "answer."),
        ),
        "no_selector": (
            _lt("No DKIM selector is configured for {subject}, so its DKIM keys were not "
                "checked."),
            _lt("Enter the DKIM selector your mail server or provider signs with for "
                "{subject}."),
        ),
    },
    "dmarc": {
        "enforced": (
            _lt("{subject} has a DMARC policy ({summary}), so receivers {action}."),
            None,
        ),
        "monitor": (
            _lt("{subject} has a monitoring-only DMARC policy ({summary}): receivers report "
                "failing mail but deliver it anyway."),
            _lt("Once the reports show your mailings pass DMARC, raise the policy to "
                "p=quarantine."),
        ),
        "partial": (
            _lt("{subject} applies its DMARC policy ({summary}) to only {pct}% of failing "
                "mail."),
            _lt("Set pct=100 (or remove pct) once the reports show your mailings pass DMARC."),
        ),
        "missing": (
            _lt("{subject} publishes no DMARC record, which large providers require of bulk "
                "senders."),
            _lt("Publish a TXT record at _dmarc.{org} such as \"v=DMARC1; p=none; "
                "rua=mailto:dmarc-reports@{org}\"."),
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
            _lt("Check again later; if this persists, make sure the DNS servers of {subject} "
                "answer."),
        ),
    },
    "mx": {
        "ok": (
            _lt("{subject} receives mail through {value}."),
            None,
        ),
        "implicit": (
            _lt("{subject} has no MX record, so senders deliver bounces to its A/AAAA address"
                " ({value}) as an implicit MX."),
            _lt("Publish an MX record for {subject} naming the server that holds the bounce "
                "mailbox."),
        ),
        "null": (
            _lt("{subject} publishes a null MX (RFC 7505), so it accepts no mail and bounces "
                "are lost."),
            _lt("Replace the null MX of {subject} with an MX naming the server that holds the"
                " bounce mailbox, or use another bounce domain."),
        ),
        "unresolvable": (
            _lt("None of the mail servers of {subject} ({value}) has an address, so bounces "
                "cannot be delivered."),
            _lt("Give the MX host names of {subject} A or AAAA records, or point the MX at a "
                "working server."),
        ),
        "no_mail": (
            _lt("{subject} has neither MX nor address records, so bounces cannot be "
                "delivered."),
            _lt("Publish an MX record for {subject} naming the server that holds the bounce "
                "mailbox."),
        ),
        "nxdomain": (
            _lt("The domain {subject} does not exist, so bounces cannot be delivered."),
            _lt("Use a bounce address at a domain you own and that receives mail."),
        ),
        "dns": (
            _lt("The mail servers of {subject} could not be checked ({problem})."),
            _lt("Check again later; if this persists, make sure the DNS servers of {subject} "
                "answer."),
        ),
    },
    "rdns": {
        "ok": (
            _lt("{subject} has the reverse DNS name {value}, which resolves back to it."),
            None,
        ),
        "missing": (
            _lt("{subject} has no reverse DNS (PTR) record, and many receivers refuse mail "
                "from such addresses."),
            _lt("Ask whoever provides {subject} (hosting or ISP) to set its PTR record to "
                "your mail server's host name."),
        ),
        "mismatch": (
            _lt("The reverse DNS name of {subject} ({value}) does not resolve back to "
                "{subject}, so receivers treat it as unverified."),
            _lt("Give {value} an A or AAAA record pointing to {subject}, or change the PTR "
                "record to a name that does."),
        ),
        "invalid": (
            _lt("{subject} is not a valid IP address."),
            _lt("Enter the public IP address the mail server sends from."),
        ),
        "dns": (
            _lt("The reverse DNS of {subject} could not be checked ({problem})."),
            _lt("Check again later; if this persists, make sure the reverse DNS servers for "
                "{subject} answer."),
        ),
    },
    "blocklists": {
        "clean": (
            _lt("{subject} is not listed on {zone}."),
            None,
        ),
        "listed": (
            _lt("{subject} is listed on {zone} ({meaning}), so receivers using that list "
                "refuse its mail."),
            _lt("Find and stop the cause, then request removal through the web site of "
                "{zone}."),
        ),
        "refused": (
            _lt("{zone} could not be checked for {subject}: {meaning}."),
            _lt("Use a DNS resolver of your own (not a public one) for these checks, or a "
                "registered access key for {zone}."),
        ),
        "unexpected": (
            _lt("{zone} could not be checked for {subject}: it gave the unexpected answer "
                "{value}."),
            _lt("Check that {zone} is still in service and spelled correctly, or remove it "
                "from the list of blocklists."),
        ),
        "no_ipv6": (
            _lt("{zone} does not list IPv6 addresses, so {subject} was not checked on it."),
            None,
        ),
        "invalid": (
            _lt("{subject} is not a valid IP address or domain."),
            _lt("Enter the public IP address or the domain to check."),
        ),
        "dns": (
            _lt("{zone} could not be checked for {subject} ({problem})."),
            _lt("Check again later; if this persists, check that your DNS resolver can reach "
                "{zone}."),
        ),
    },
    "sending_ip": {
        "unresolved": (
            _lt("The sending IP of the outgoing server {server} is unknown: its host {subject} "
                "could not be resolved ({problem})."),
            _lt("Enter the public IP address the server sends from in the Sending IP field of "
                "the outgoing server {server}."),
        ),
        "private": (
            _lt("The outgoing server {server} connects to {subject} at {value}, a local or "
                "private address, so the public IP its mail leaves from is unknown."),
            _lt("Enter the public IP address the server sends from in the Sending IP field of "
                "the outgoing server {server}."),
        ),
        "no_server": (
            _lt("No outgoing mail server is configured, so the SPF, reverse DNS and blocklist "
                "checks of the sending IP were not run."),
            _lt("Add the outgoing server your mail leaves through (Settings > Technical > "
                "Outgoing Mail Servers) and give its Sending IP."),
        ),
    },
}

MEANINGS = {
    ("spf", "pass"): _lt(
        "The receiver confirmed that the sending IP is allowed by the SPF record of the "
        "envelope sender's domain."
    ),
    ("spf", "neutral"): _lt(
        "The SPF record of the envelope sender's domain makes no statement about the sending "
        "IP, so SPF neither helps nor hurts."
    ),
    ("spf", "softfail"): _lt(
        "The SPF record of the envelope sender's domain does not list the sending IP, so the "
        "message counts as suspicious."
    ),
    ("spf", "fail"): _lt(
        "The SPF record of the envelope sender's domain forbids the sending IP, so receivers "
        "may reject such mail."
    ),
    ("spf", "none"): _lt(
        "The envelope sender's domain publishes no SPF record, so the message is not "
        "SPF-authenticated."
    ),
    ("spf", "*"): _lt(
        "The receiver could not evaluate SPF ({result}), so the message is not "
        "SPF-authenticated."
    ),
    ("dkim", "pass"): _lt(
        "The message carries a valid DKIM signature, so its signing domain is authenticated."
    ),
    ("dkim", "none"): _lt(
        "The message was not DKIM-signed, so it relies on SPF alone."
    ),
    ("dkim", "*"): _lt(
        "The DKIM signature did not verify ({result}), so the message counts as unsigned."
    ),
    ("dmarc", "pass"): _lt(
        "The From domain is authenticated by an aligned SPF or DKIM result, as DMARC "
        "requires."
    ),
    ("dmarc", "bestguesspass"): _lt(
        "The message would pass DMARC, but the From domain publishes no DMARC policy."
    ),
    ("dmarc", "fail"): _lt(
        "Neither SPF nor DKIM authenticated the From domain, so the domain's DMARC policy "
        "applies (reporting, spam folder or rejection)."
    ),
    ("dmarc", "none"): _lt(
        "The From domain publishes no DMARC policy."
    ),
    ("dmarc", "*"): _lt(
        "The receiver could not evaluate DMARC ({result})."
    ),
}

#: Fixed fragments the engine puts into placeholders ({action}, {problem},
#: {meaning}); other values (records, host names, DNS details) are data.
FRAGMENTS = {
    "send mail that fails DMARC to the spam folder": _lt(
        "send mail that fails DMARC to the spam folder"
    ),
    "reject mail that fails DMARC": _lt("reject mail that fails DMARC"),
    "timeout": _lt("timeout"),
    "no server answered": _lt("no server answered"),
    "no DNS server configured": _lt("no DNS server configured"),
    "no address found": _lt("no address found"),
    "it has no p= tag": _lt("it has no p= tag"),
    "several key records are published at the same name": _lt(
        "several key records are published at the same name"
    ),
    "p= is not valid base64": _lt("p= is not valid base64"),
    "an Ed25519 key must be 32 bytes": _lt("an Ed25519 key must be 32 bytes"),
    "p= is not an RSA public key": _lt("p= is not an RSA public key"),
    "pct= is not a number from 0 to 100": _lt("pct= is not a number from 0 to 100"),
    "the query was sent to a mistyped list name": _lt(
        "the query was sent to a mistyped list name"
    ),
    "Spamhaus refuses queries through public DNS resolvers": _lt(
        "Spamhaus refuses queries through public DNS resolvers"
    ),
    "Spamhaus refuses the query: too many queries from this resolver": _lt(
        "Spamhaus refuses the query: too many queries from this resolver"
    ),
    "the list takes domain names, not IPs": _lt("the list takes domain names, not IPs"),
}

class _Values(dict):
    """Placeholder values; a placeholder a translation misspells stays visible."""

    def __missing__(self, key):
        return "{" + key + "}"


def parse(result):
    """(template key, placeholder values) of an engine CheckResult; ("", {}) if unknown."""
    module = ENGINE_MODULES.get(result.check)
    if module is None:
        return "", {}
    for key, template in module.MESSAGES.items():
        if template == result.template:
            return key, dict(result.params)
    return "", {}


def render(env, check, key, values):
    """(message, fix) of a template in the language of ``env``; None if it is unknown."""
    templates = TEMPLATES.get(TEMPLATE_GROUP.get(check), {}).get(key)
    if templates is None:
        return None
    values = _Values({
        name: env._(FRAGMENTS[value]) if isinstance(value, str) and value in FRAGMENTS else value
        for name, value in (values or {}).items()
    })
    rendered = []
    for template in templates:
        if template is None:
            rendered.append("")
            continue
        text = env._(template)
        try:
            rendered.append(text.format_map(values))
        except (ValueError, IndexError, KeyError, AttributeError):
            # A translation with broken braces: the English template still works.
            english = env(context={**env.context, "lang": "en_US"})
            rendered.append(english._(template).format_map(values))
    return tuple(rendered)


def meaning(env, method, result):
    """The sentence for an admin about one header verdict, in the language of ``env``."""
    template = MEANINGS.get((method, result)) or MEANINGS.get((method, "*"))
    if template is None:
        return ""
    return env._(template).format_map(_Values(result=result))
