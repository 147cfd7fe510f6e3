"""Deliverability engine against a real NSD on loopback (never the internet).

Blocklist and reverse zones are served under their real names
(``zen.spamhaus.org``, ``2.0.192.in-addr.arpa``): the resolver only ever asks
the local NSD.  Timeouts come from a UDP socket that never answers.
"""

from __future__ import annotations

import base64
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import dns.resolver
import dns.reversename
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from civimail_addon.engine.deliverability import (
    ERROR,
    OK,
    STATUSES,
    UNKNOWN,
    WARNING,
    Checker,
    analyze_headers,
    evaluate,
)
from civimail_addon.engine.deliverability.dkim import rsa_key_bits
from civimail_addon.engine.deliverability.dmarc import organizational_domain
from civimail_addon.engine.deliverability.headers import RESULTS

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"


def txt(text):
    """A TXT rdata in zone syntax, split into 255-byte strings as DNS requires."""
    chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"' + chunk.replace('"', '\\"') + '"' for chunk in chunks)


@pytest.fixture
def silent_port():
    """A loopback UDP port that receives queries and never answers them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def silent_checker(silent_port):
    return Checker(nameservers=[f"127.0.0.1:{silent_port}"], timeout=0.3)


# -- SPF ---------------------------------------------------------------------------

SPF_ORG = f"""\
@            TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
ip4          TXT "v=spf1 ip4:192.0.2.10 -all"
ip4cidr      TXT "v=spf1 ip4:192.0.2.0/28 ~all"
ip6          TXT "v=spf1 ip6:2001:db8:1::/48 -all"
a            TXT "v=spf1 a -all"
a            A    192.0.2.20
a            AAAA 2001:db8::20
acidr        TXT "v=spf1 a:host.example.org/24 -all"
host         A    198.51.100.7
mx           TXT "v=spf1 mx -all"
mx           MX   10 mail.example.org.
mail         A    192.0.2.30
ptr          TXT "v=spf1 ptr -all"
mta.ptr      A    192.0.2.40
include      TXT "v=spf1 include:_spf.example.net -all"
redirect     TXT "v=spf1 redirect=_spf.example.net"
redirectall  TXT "v=spf1 ?all redirect=_spf.example.net"
exists       TXT "v=spf1 exists:%{{i}}._ip.example.org -all"
192.0.2.3._ip A   127.0.0.2
macro        TXT "v=spf1 exists:%{{ir}}.%{{l}}.%{{o}}._m.%{{d2}} -all"
4.2.0.192.alice.example.org._m A 127.0.0.2
helo         TXT "v=spf1 exists:%{{h}}._h.example.org -all"
mta.example.com._h A 127.0.0.2
v6macro      TXT "v=spf1 exists:%{{ir}}._v6.example.org -all"
{dns.reversename.from_address("2001:db8::1").to_text().split(".ip6.arpa")[0]}._v6 A 127.0.0.2
softfail     TXT "v=spf1 ~all"
neutral      TXT "v=spf1 ?all"
passall      TXT "v=spf1 +all"
nomatch      TXT "v=spf1 ip4:203.0.113.1"
ten          TXT "v=spf1 {" ".join(f"a:h{n}.example.org" for n in range(1, 11))} -all"
eleven       TXT "v=spf1 {" ".join(f"a:h{n}.example.org" for n in range(1, 12))} -all"
{"".join(f"h{n} A 203.0.113.1{chr(10)}" for n in range(1, 12))}
void2        TXT "v=spf1 a:v1.example.org a:v2.example.org -all"
void3        TXT "v=spf1 a:v1.example.org a:v2.example.org a:v3.example.org -all"
two          TXT "v=spf1 -all"
two          TXT "v=spf1 +all"
nospf        TXT "google-site-verification=abc"
incnone      TXT "v=spf1 include:nospf.example.org -all"
inctemp      TXT "v=spf1 include:elsewhere.test -all"
badip        TXT "v=spf1 ip4:300.1.1.1 -all"
unknown      TXT "v=spf1 foo:bar -all"
lateerror    TXT "v=spf1 +all ip4:192.0.2.1/33"
"""
SPF_NET = '_spf TXT "v=spf1 ip4:198.51.100.0/24 -all"\n'
SPF_REVERSE = "40 PTR mta.ptr.example.org.\n41 PTR elsewhere.example.com.\n"


@pytest.fixture
def spf_zones(dns_server):
    dns_server.set_zones(
        {"example.org": SPF_ORG, "example.net": SPF_NET, "2.0.192.in-addr.arpa": SPF_REVERSE}
    )
    return dns_server.resolver()


@pytest.mark.parametrize(
    ("domain", "ip", "result", "mechanism"),
    [
        ("example.org", "192.0.2.77", "pass", "ip4:192.0.2.0/24"),
        ("example.org", "2001:db8::5", "pass", "ip6:2001:db8::/32"),
        ("example.org", "203.0.113.5", "fail", "-all"),
        ("ip4.example.org", "192.0.2.10", "pass", "ip4:192.0.2.10"),
        ("ip4.example.org", "192.0.2.11", "fail", "-all"),
        ("ip4.example.org", "::ffff:192.0.2.10", "pass", "ip4:192.0.2.10"),
        ("ip4cidr.example.org", "192.0.2.15", "pass", "ip4:192.0.2.0/28"),
        ("ip4cidr.example.org", "192.0.2.16", "softfail", "~all"),
        ("ip6.example.org", "2001:db8:1:ffff::1", "pass", "ip6:2001:db8:1::/48"),
        ("ip6.example.org", "2001:db8:2::1", "fail", "-all"),
        ("ip6.example.org", "192.0.2.1", "fail", "-all"),
        ("a.example.org", "192.0.2.20", "pass", "a"),
        ("a.example.org", "2001:db8::20", "pass", "a"),
        ("a.example.org", "192.0.2.21", "fail", "-all"),
        ("acidr.example.org", "198.51.100.200", "pass", "a:host.example.org/24"),
        ("acidr.example.org", "198.51.101.7", "fail", "-all"),
        ("mx.example.org", "192.0.2.30", "pass", "mx"),
        ("mx.example.org", "192.0.2.31", "fail", "-all"),
        ("ptr.example.org", "192.0.2.40", "pass", "ptr"),
        ("ptr.example.org", "192.0.2.41", "fail", "-all"),
        ("include.example.org", "198.51.100.5", "pass",
         "include:_spf.example.net > ip4:198.51.100.0/24"),
        ("include.example.org", "203.0.113.9", "fail", "-all"),
        ("redirect.example.org", "198.51.100.5", "pass",
         "redirect=_spf.example.net > ip4:198.51.100.0/24"),
        ("redirect.example.org", "203.0.113.9", "fail", "redirect=_spf.example.net > -all"),
        ("redirectall.example.org", "198.51.100.5", "neutral", "?all"),
        ("exists.example.org", "192.0.2.3", "pass", "exists:%{i}._ip.example.org"),
        ("exists.example.org", "192.0.2.4", "fail", "-all"),
        ("softfail.example.org", "192.0.2.1", "softfail", "~all"),
        ("neutral.example.org", "192.0.2.1", "neutral", "?all"),
        ("passall.example.org", "192.0.2.1", "pass", "+all"),
        ("nomatch.example.org", "192.0.2.1", "neutral", ""),
        ("ten.example.org", "192.0.2.1", "fail", "-all"),
        ("eleven.example.org", "192.0.2.1", "permerror", ""),
        ("void2.example.org", "192.0.2.1", "fail", "-all"),
        ("void3.example.org", "192.0.2.1", "permerror", ""),
        ("two.example.org", "192.0.2.1", "permerror", ""),
        ("nospf.example.org", "192.0.2.1", "none", ""),
        ("missing.example.org", "192.0.2.1", "none", ""),
        ("incnone.example.org", "192.0.2.1", "permerror", "include:nospf.example.org"),
        ("inctemp.example.org", "192.0.2.1", "temperror", ""),
        ("badip.example.org", "192.0.2.1", "permerror", "ip4:300.1.1.1"),
        ("unknown.example.org", "192.0.2.1", "permerror", "foo:bar"),
        ("lateerror.example.org", "192.0.2.1", "permerror", "ip4:192.0.2.1/33"),
    ],
)
def test_spf_mechanisms_and_qualifiers(spf_zones, domain, ip, result, mechanism):
    spf = evaluate(domain, ip, spf_zones)
    assert (spf.result, spf.mechanism) == (result, mechanism), spf.explanation
    assert spf.explanation


def test_spf_counts_lookups(spf_zones):
    assert evaluate("example.org", "192.0.2.1", spf_zones).lookups == 0
    assert evaluate("include.example.org", "198.51.100.5", spf_zones).lookups == 1
    assert evaluate("ten.example.org", "192.0.2.1", spf_zones).lookups == 10
    eleven = evaluate("eleven.example.org", "192.0.2.1", spf_zones)
    assert eleven.lookups == 11
    assert "Too many DNS lookups: more than 10" in eleven.explanation
    assert "Void lookup limit of 2" in evaluate("void3.example.org", "192.0.2.1",
                                                spf_zones).explanation
    assert "elsewhere.test" in evaluate("inctemp.example.org", "192.0.2.1",
                                        spf_zones).explanation


def test_spf_macros(spf_zones):
    macro = evaluate("macro.example.org", "192.0.2.4", spf_zones, sender="alice@example.org")
    assert macro.result == "pass"
    other = evaluate("macro.example.org", "192.0.2.4", spf_zones, sender="bob@example.org")
    assert other.result == "fail"
    # Default sender postmaster@<domain>: no record for it either.
    assert evaluate("macro.example.org", "192.0.2.4", spf_zones).result == "fail"
    helo = evaluate("helo.example.org", "192.0.2.1", spf_zones, helo="mta.example.com")
    assert helo.result == "pass"
    assert evaluate("helo.example.org", "192.0.2.1", spf_zones).result == "fail"
    assert evaluate("v6macro.example.org", "2001:db8::1", spf_zones).result == "pass"
    assert evaluate("v6macro.example.org", "2001:db8::2", spf_zones).result == "fail"


def test_spf_asks_the_resolver_of_each_evaluation(spf_zones, silent_port):
    """pyspf's DNS hook follows the evaluation under way, also in concurrent threads."""
    silent = dns.resolver.Resolver(configure=False)
    silent.nameservers = ["127.0.0.1"]
    silent.port = silent_port
    silent.lifetime = silent.timeout = 1.0
    with ThreadPoolExecutor(2) as pool:
        unanswered = pool.submit(evaluate, "example.org", "192.0.2.77", silent)
        answered = pool.submit(evaluate, "example.org", "192.0.2.77", spf_zones)
        assert answered.result().result == "pass"
        assert unanswered.result().result == "temperror"


def test_spf_invalid_input_is_none(spf_zones):
    assert evaluate("example.org", "not an ip", spf_zones).result == "none"
    assert evaluate("", "192.0.2.1", spf_zones).result == "none"


def test_check_spf_statuses(spf_zones):
    checker = Checker(resolver=spf_zones)
    passed = checker.check_spf("example.org", "192.0.2.77")
    assert (passed.check, passed.subject, passed.status) == ("spf", "example.org", OK)
    assert passed.value == "pass: v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
    assert "ip4:192.0.2.0/24" in passed.message
    assert passed.fix == ""
    failed = checker.check_spf("example.org", "203.0.113.5")
    assert failed.status == ERROR
    assert "203.0.113.5" in failed.message
    assert "ip4:203.0.113.5" in failed.fix
    assert checker.check_spf("softfail.example.org", "192.0.2.1").status == WARNING
    assert checker.check_spf("neutral.example.org", "192.0.2.1").status == WARNING
    none = checker.check_spf("nospf.example.org", "192.0.2.1")
    assert (none.status, none.value) == (ERROR, "none")
    assert "v=spf1" in none.fix
    permerror = checker.check_spf("two.example.org", "192.0.2.1")
    assert permerror.status == ERROR
    assert "Two or more type TXT spf records" in permerror.message
    assert checker.check_spf("inctemp.example.org", "192.0.2.1").status == UNKNOWN
    assert "ip6:2001:db8:2::1" in checker.check_spf("ip6.example.org", "2001:db8:2::1").fix
    invalid = checker.check_spf("example.org", "192.0.2.300")
    assert (invalid.status, invalid.value) == (ERROR, "")
    assert "not a valid" in invalid.message


# -- DKIM --------------------------------------------------------------------------


def rsa_public_key(bits):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def ed25519_public_key():
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def dkim_zone():
    rsa2048 = rsa_public_key(2048)
    records = {
        "s2048": f"v=DKIM1; k=rsa; p={rsa2048}",
        "nov": f"p={rsa2048}",
        "s1024": f"v=DKIM1; k=rsa; p={rsa_public_key(1024)}",
        "s512": f"v=DKIM1; k=rsa; p={rsa_public_key(512)}",
        "ed": f"v=DKIM1; k=ed25519; p={ed25519_public_key()}",
        "revoked": "v=DKIM1; k=rsa; p=",
        "badb64": "v=DKIM1; k=rsa; p=not*base64!",
        "dsa": f"v=DKIM1; k=dsa; p={rsa2048}",
        "testing": f"v=DKIM1; t=y; p={rsa2048}",
        "notkey": "v=spf1 -all",
        "twice": f"v=DKIM1; p={rsa2048}; p={rsa2048}",
    }
    return "".join(f"{name}._domainkey TXT {txt(text)}\n" for name, text in records.items())


@pytest.mark.parametrize(
    ("selector", "status", "fragment"),
    [
        ("s2048", OK, "rsa, 2048 bits"),
        ("nov", OK, "rsa, 2048 bits"),
        ("ed", OK, "ed25519"),
        ("s1024", WARNING, "only 1024 bits"),
        ("s512", ERROR, "only 512 bits"),
        ("revoked", ERROR, "revoked"),
        ("badb64", ERROR, "not valid base64"),
        ("dsa", ERROR, "unknown key type k=dsa"),
        ("testing", WARNING, "t=y"),
        ("notkey", ERROR, "no p= tag"),
        ("twice", ERROR, "a tag appears twice"),
        ("absent", ERROR, "No DKIM key is published"),
    ],
)
def test_dkim_selectors(dns_server, dkim_zone, selector, status, fragment):
    dns_server.set_zones({"example.org": dkim_zone})
    [result] = Checker(resolver=dns_server.resolver()).check_dkim("example.org", [selector])
    assert (result.check, result.subject, result.status) == ("dkim", "example.org", status)
    assert fragment in result.message
    assert bool(result.fix) == (status != OK)


def test_dkim_several_selectors_and_none(dns_server, dkim_zone):
    dns_server.set_zones({"example.org": dkim_zone})
    checker = Checker(resolver=dns_server.resolver())
    results = checker.check_dkim("example.org", ["s2048", "absent", "s2048"])
    assert [r.status for r in results] == [OK, ERROR]
    assert "absent._domainkey.example.org" in results[1].fix
    [unconfigured] = checker.check_dkim("example.org", [])
    assert unconfigured.status == UNKNOWN


def test_rsa_key_bits_reads_both_der_forms():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert rsa_key_bits(spki) == rsa_key_bits(pkcs1) == 2048
    assert rsa_key_bits(b"\x30\x05junk") is None
    assert rsa_key_bits(b"") is None


# -- DMARC -------------------------------------------------------------------------

DMARC_ORG = """\
_dmarc        TXT "v=DMARC1; p=reject; sp=quarantine; adkim=s; rua=mailto:dmarc@example.org"
_dmarc.none   TXT "v=DMARC1; p=none; rua=mailto:dmarc@example.org"
_dmarc.pct    TXT "v=DMARC1; p=quarantine; pct=50"
_dmarc.bad    TXT "v=DMARC1; p=block"
_dmarc.two    TXT "v=DMARC1; p=none"
_dmarc.two    TXT "v=DMARC1; p=reject"
_dmarc.other  TXT "not a dmarc record"
"""


@pytest.mark.parametrize(
    ("domain", "status", "fragment"),
    [
        ("example.org", OK, "p=reject, sp=quarantine, pct=100, adkim=s, aspf=r, "
         "rua=mailto:dmarc@example.org"),
        ("news.example.org", OK, "p=quarantine, sp=quarantine, pct=100, adkim=s, aspf=r, "
         "rua=mailto:dmarc@example.org, inherited from the organizational domain"),
        ("none.example.org", WARNING, "p=none"),
        ("pct.example.org", WARNING, "only 50%"),
        ("bad.example.org", ERROR, "p=block"),
        ("two.example.org", ERROR, "several DMARC records"),
        ("example.com", ERROR, "no DMARC record"),
    ],
)
def test_dmarc(dns_server, domain, status, fragment):
    dns_server.set_zones({"example.org": DMARC_ORG, "example.com": "www A 192.0.2.1\n"})
    result = Checker(resolver=dns_server.resolver()).check_dmarc(domain)
    assert (result.check, result.subject, result.status) == ("dmarc", domain, status)
    assert fragment in result.message


def test_dmarc_subdomain_record_wins_and_missing_fix(dns_server):
    dns_server.set_zones({"example.org": DMARC_ORG, "example.com": "www A 192.0.2.1\n"})
    checker = Checker(resolver=dns_server.resolver())
    # _dmarc.other holds no DMARC record, so the organizational domain's applies.
    other = checker.check_dmarc("other.example.org")
    assert other.value.startswith("v=DMARC1; p=reject")
    missing = checker.check_dmarc("www.example.com")
    assert "_dmarc.example.com" in missing.fix


def test_organizational_domain_from_the_public_suffix_list():
    assert organizational_domain("mail.news.example.org") == "example.org"
    assert organizational_domain("example.org") == "example.org"
    assert organizational_domain("lists.example.co.uk") == "example.co.uk"
    assert organizational_domain("www.example.de") == "example.de"
    assert organizational_domain("mail.example.pvt.k12.ma.us") == "example.pvt.k12.ma.us"
    assert organizational_domain("co.uk") == "co.uk"


# -- MX ----------------------------------------------------------------------------

MX_ORG = """\
@             MX  10 mail.example.org.
mail          A   192.0.2.25
nullmx        MX  0 .
implicit      A   192.0.2.26
nomail        TXT "no mail here"
broken        MX  10 nowhere.example.org.
"""


@pytest.mark.parametrize(
    ("domain", "status", "value"),
    [
        ("example.org", OK, "10 mail.example.org."),
        ("nullmx.example.org", ERROR, "0 ."),
        ("implicit.example.org", WARNING, "192.0.2.26"),
        ("nomail.example.org", ERROR, ""),
        ("missing.example.org", ERROR, ""),
        ("broken.example.org", ERROR, "10 nowhere.example.org."),
    ],
)
def test_mx(dns_server, domain, status, value):
    dns_server.set_zones({"example.org": MX_ORG})
    result = Checker(resolver=dns_server.resolver()).check_mx(domain)
    assert (result.check, result.subject, result.status, result.value) == (
        "mx", domain, status, value)
    assert result.message.endswith(".")


def test_mx_messages_name_the_problem(dns_server):
    dns_server.set_zones({"example.org": MX_ORG})
    checker = Checker(resolver=dns_server.resolver())
    assert "RFC 7505" in checker.check_mx("nullmx.example.org").message
    assert "implicit MX" in checker.check_mx("implicit.example.org").message
    assert "does not exist" in checker.check_mx("missing.example.org").message


# -- reverse DNS -------------------------------------------------------------------

V6_REVERSE_ZONE = "8.b.d.0.1.0.0.2.ip6.arpa"


def v6_ptr(ip, target):
    name = dns.reversename.from_address(ip).to_text().removesuffix(f".{V6_REVERSE_ZONE}.")
    return f"{name} PTR {target}\n"


@pytest.fixture
def rdns_zones(dns_server):
    dns_server.set_zones({
        "example.org": "mail A 192.0.2.25\nother A 192.0.2.99\nmail6 AAAA 2001:db8::25\n",
        "2.0.192.in-addr.arpa": "25 PTR mail.example.org.\n26 PTR other.example.org.\n"
        "28 PTR gone.example.org.\n",
        V6_REVERSE_ZONE: v6_ptr("2001:db8::25", "mail6.example.org.")
        + v6_ptr("2001:db8::26", "mail.example.org."),
    })
    return Checker(resolver=dns_server.resolver())


@pytest.mark.parametrize(
    ("ip", "status", "value"),
    [
        ("192.0.2.25", OK, "mail.example.org"),
        ("192.0.2.26", ERROR, "other.example.org"),
        ("192.0.2.27", ERROR, ""),
        ("192.0.2.28", ERROR, "gone.example.org"),
        ("2001:db8::25", OK, "mail6.example.org"),
        ("2001:db8::26", ERROR, "mail.example.org"),
        ("not-an-ip", ERROR, ""),
    ],
)
def test_reverse_dns(rdns_zones, ip, status, value):
    result = rdns_zones.check_reverse_dns(ip)
    assert (result.check, result.subject, result.status, result.value) == (
        "reverse_dns", ip, status, value)


def test_reverse_dns_messages(rdns_zones):
    assert "does not resolve back" in rdns_zones.check_reverse_dns("192.0.2.26").message
    assert "no reverse DNS" in rdns_zones.check_reverse_dns("192.0.2.27").message


# -- blocklists --------------------------------------------------------------------


def listed(reversed_ip, *codes, reason=None):
    lines = "".join(f"{reversed_ip} A {code}\n" for code in codes)
    return lines + (f"{reversed_ip} TXT {txt(reason)}\n" if reason else "")


BLOCKLIST_ZONES = {
    "zen.spamhaus.org": listed("2.2.0.192", "127.0.0.2", reason="https://check.spamhaus.org/")
    + listed("4.2.0.192", "127.0.0.4", "127.0.0.10")
    + listed("252.2.0.192", "127.255.255.252")
    + listed("254.2.0.192", "127.255.255.254")
    + listed("255.2.0.192", "127.255.255.255")
    + listed(dns.reversename.from_address("2001:db8::2").to_text().split(".ip6.arpa")[0],
             "127.0.0.3"),
    "bl.spamcop.net": listed("2.2.0.192", "127.0.0.2"),
    "b.barracudacentral.org": listed("2.2.0.192", "127.0.0.2"),
    "psbl.surriel.com": listed("2.2.0.192", "127.0.0.2") + listed("3.2.0.192", "10.0.0.1"),
    "rbl.example.net": listed("2.2.0.192", "127.0.0.5"),
    "dbl.spamhaus.org": listed("spam.example.com", "127.0.1.2")
    + listed("phish.example.com", "127.0.1.4")
    + listed("refused.example.com", "127.255.255.254")
    + listed("ip.example.com", "127.0.1.255"),
}


@pytest.fixture
def blocklists(dns_server):
    dns_server.set_zones(BLOCKLIST_ZONES)
    return Checker(resolver=dns_server.resolver())


def by_zone(results):
    return {_zone_of(r): r for r in results}


def _zone_of(result):
    for zone in BLOCKLIST_ZONES:
        if zone in result.message:
            return zone
    raise AssertionError(result.message)


def test_ip_on_every_default_list(blocklists):
    results = by_zone(blocklists.check_ip_blocklists("192.0.2.2"))
    assert sorted(results) == sorted(
        ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org", "psbl.surriel.com"])
    for result in results.values():
        assert (result.check, result.subject, result.status) == (
            "ip_blocklist", "192.0.2.2", ERROR)
        assert result.value == "127.0.0.2"
        assert "request removal" in result.fix
    assert "SBL" in results["zen.spamhaus.org"].message
    assert "https://check.spamhaus.org/" in results["zen.spamhaus.org"].message


def test_ip_not_listed(blocklists):
    results = blocklists.check_ip_blocklists("192.0.2.9")
    assert len(results) == 4
    assert {r.status for r in results} == {OK}
    assert {r.value for r in results} == {""}


def test_spamhaus_codes(blocklists):
    zen = Checker(resolver=blocklists.resolver, ip_blocklists=["zen.spamhaus.org"])
    [both] = zen.check_ip_blocklists("192.0.2.4")
    assert (both.status, both.value) == (ERROR, "127.0.0.4, 127.0.0.10")
    assert "XBL" in both.message
    assert "PBL" in both.message
    for last, why in ((252, "mistyped"), (254, "public DNS resolvers"), (255, "too many")):
        [refused] = zen.check_ip_blocklists(f"192.0.2.{last}")
        assert (refused.status, refused.value) == (UNKNOWN, f"127.255.255.{last}")
        assert why in refused.message
        assert "could not be checked" in refused.message
    [v6] = zen.check_ip_blocklists("2001:db8::2")
    assert (v6.status, v6.value) == (ERROR, "127.0.0.3")
    assert "CSS" in v6.message


def test_ipv6_on_ipv4_only_lists_is_not_checked(blocklists):
    results = by_zone(blocklists.check_ip_blocklists("2001:db8::2"))
    assert results["zen.spamhaus.org"].status == ERROR
    for zone in ("bl.spamcop.net", "b.barracudacentral.org", "psbl.surriel.com"):
        assert results[zone].status == UNKNOWN
        assert "does not list IPv6" in results[zone].message


def test_unexpected_answer_and_custom_list(blocklists):
    psbl = Checker(resolver=blocklists.resolver, ip_blocklists=["psbl.surriel.com"])
    [odd] = psbl.check_ip_blocklists("192.0.2.3")
    assert (odd.status, odd.value) == (UNKNOWN, "10.0.0.1")
    custom = Checker(resolver=blocklists.resolver, ip_blocklists=["rbl.example.net."])
    [hit] = custom.check_ip_blocklists("192.0.2.2")
    assert (hit.status, hit.value) == (ERROR, "127.0.0.5")
    [clean] = custom.check_ip_blocklists("192.0.2.3")
    assert clean.status == OK


def test_unserved_list_is_could_not_check(blocklists):
    refused = Checker(resolver=blocklists.resolver, ip_blocklists=["dnsbl.invalid.test"])
    [result] = refused.check_ip_blocklists("192.0.2.2")
    assert result.status == UNKNOWN
    assert "REFUSED" in result.message


@pytest.mark.parametrize(
    ("domain", "status", "fragment"),
    [
        ("spam.example.com", ERROR, "spam domain"),
        ("phish.example.com", ERROR, "phishing domain"),
        ("clean.example.com", OK, "not listed"),
        ("refused.example.com", UNKNOWN, "public DNS resolvers"),
        ("ip.example.com", UNKNOWN, "not IPs"),
    ],
)
def test_domain_blocklist(blocklists, domain, status, fragment):
    [result] = blocklists.check_domain_blocklists(domain)
    assert (result.check, result.subject, result.status) == ("domain_blocklist", domain, status)
    assert fragment in result.message


# -- DNS that does not answer ------------------------------------------------------


def test_timeouts_are_could_not_check(silent_checker, silent_port):
    results = [
        silent_checker.check_spf("example.org", "192.0.2.1"),
        *silent_checker.check_dkim("example.org", ["s1"]),
        silent_checker.check_dmarc("example.org"),
        silent_checker.check_mx("example.org"),
        silent_checker.check_reverse_dns("192.0.2.1"),
        *silent_checker.check_ip_blocklists("192.0.2.1"),
        *silent_checker.check_domain_blocklists("example.org"),
    ]
    assert len(results) == 10
    for result in results:
        assert result.status == UNKNOWN, result
        assert "timeout" in result.message or "timeout" in result.value, result
        assert result.fix
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = silent_port
    resolver.lifetime = resolver.timeout = 0.3
    spf = evaluate("example.org", "192.0.2.1", resolver)
    assert spf.result == "temperror"


def test_refused_is_could_not_check(dns_server):
    dns_server.set_zones({"example.org": MX_ORG})
    checker = Checker(resolver=dns_server.resolver())
    assert checker.check_mx("example.com").status == UNKNOWN
    assert checker.check_spf("example.com", "192.0.2.1").status == UNKNOWN
    assert checker.check_dmarc("example.com").status == UNKNOWN
    assert checker.check_reverse_dns("198.51.100.1").status == UNKNOWN


def test_run_all_with_silent_dns_reports_nothing_as_failed(silent_checker):
    results = silent_checker.run_all(["example.org"], ["192.0.2.1"], "bounce.example.org",
                                     ["s1"])
    assert results
    assert {r.status for r in results} == {UNKNOWN}


# -- run_all -----------------------------------------------------------------------


def test_run_all_covers_every_check(dns_server, dkim_zone):
    # SPF_ORG authorizes 192.0.2.0/24 at the apex and gives mail.example.org 192.0.2.30.
    zone = SPF_ORG + DMARC_ORG + dkim_zone + "bounce MX 10 mail.example.org.\n"
    zones = dict(BLOCKLIST_ZONES)
    zones.update({"example.org": zone, "example.net": SPF_NET,
                  "2.0.192.in-addr.arpa": "30 PTR mail.example.org.\n"})
    dns_server.set_zones(zones)
    checker = Checker(resolver=dns_server.resolver())
    results = checker.run_all(["Example.org.", "example.org"], ["192.0.2.30"],
                              "bounce.example.org", {"example.org": ["s2048"]})
    checks = [(r.check, r.subject) for r in results]
    assert checks == [
        ("spf", "example.org"),
        ("spf", "bounce.example.org"),
        ("dkim", "example.org"),
        ("dmarc", "example.org"),
        ("domain_blocklist", "example.org"),
        ("mx", "bounce.example.org"),
        ("reverse_dns", "192.0.2.30"),
        *[("ip_blocklist", "192.0.2.30")] * 4,
    ]
    status = {(r.check, r.subject): r.status for r in results}
    assert status[("spf", "example.org")] == OK
    assert status[("spf", "bounce.example.org")] == ERROR  # no SPF record there
    assert status[("dkim", "example.org")] == OK
    assert status[("dmarc", "example.org")] == OK
    assert status[("mx", "bounce.example.org")] == OK
    assert status[("reverse_dns", "192.0.2.30")] == OK
    for result in results:
        assert result.status in STATUSES
        assert result.message.endswith(".")
        assert "{" not in result.message + result.fix


# -- header analyzer ---------------------------------------------------------------

HEADERS = b"""\
Return-Path: <bounce+b.42.abc@bounce.example.org>
Delivered-To: someone@example.net
Received: from mx.example.net (mx.example.net [198.51.100.10])\r
\tby imap.example.net (Postfix) with LMTP id ABC123;\r
\tMon, 3 Jun 2024 10:00:07 +0200 (CEST)
Received-SPF: pass (mx.example.net: domain of bounce.example.org designates
 192.0.2.25 as permitted sender) client-ip=192.0.2.25;
 envelope-from="bounce+b.42.abc@bounce.example.org"; helo=mail.example.org;
Authentication-Results: mx.example.net;
\tdkim=pass (2048-bit key; unprotected) header.d=example.org header.s=s2048
\t header.b=AbCdEf;
\tspf=softfail (mx.example.net: 192.0.2.25 is neither permitted nor denied)
\t smtp.mailfrom=bounce.example.org;
\tdmarc=fail (p=QUARANTINE sp=NONE dis=QUARANTINE) header.from=example.org
Received: from mail.example.org (mail.example.org [192.0.2.25])
\tby mx.example.net (Postfix) with ESMTPS id 4Vt;
\tMon, 3 Jun 2024 08:00:05 +0000
Received: from odoo.example.org ([IPv6:2001:db8::7]) by mail.example.org
 (Postfix) with ESMTPSA id 77; Mon, 3 Jun 2024 09:59:58 +0200
Received: by odoo.example.org (sendmail) id 1; Garbage date here
Subject: test
this line is junk
From: Newsletter <news@example.org>

Body: not a header
Authentication-Results: nope; spf=fail
"""


def test_headers_hops_in_order_with_delays():
    report = analyze_headers(HEADERS)
    hops = [(h.from_host, h.from_rdns, h.ip, h.by_host, h.protocol) for h in report.hops]
    assert hops == [
        ("", "", "", "odoo.example.org", ""),
        ("odoo.example.org", "", "2001:db8::7", "mail.example.org", "ESMTPSA"),
        ("mail.example.org", "mail.example.org", "192.0.2.25", "mx.example.net", "ESMTPS"),
        ("mx.example.net", "mx.example.net", "198.51.100.10", "imap.example.net", "LMTP"),
    ]
    assert report.hops[0].timestamp is None
    assert report.hops[1].timestamp == datetime(2024, 6, 3, 7, 59, 58, tzinfo=timezone.utc)
    assert [h.delay for h in report.hops] == [None, None, 7.0, 2.0]
    assert "\n" not in report.hops[3].raw


def test_headers_verdicts():
    report = analyze_headers(HEADERS.decode())
    verdicts = [(v.method, v.result, v.source, v.reporter) for v in report.verdicts]
    assert verdicts == [
        ("spf", "pass", "Received-SPF", "mx.example.net"),
        ("dkim", "pass", "Authentication-Results", "mx.example.net"),
        ("spf", "softfail", "Authentication-Results", "mx.example.net"),
        ("dmarc", "fail", "Authentication-Results", "mx.example.net"),
    ]
    spf_header, dkim, spf_ar, dmarc = report.verdicts
    assert spf_header.details["client-ip"] == "192.0.2.25"
    assert spf_header.details["envelope-from"] == "bounce+b.42.abc@bounce.example.org"
    assert dkim.details == {"header.d": "example.org", "header.s": "s2048",
                            "header.b": "AbCdEf"}
    assert spf_ar.details == {"smtp.mailfrom": "bounce.example.org"}
    assert report.verdict("dmarc") is dmarc
    assert report.verdict("spf") is spf_header
    assert "DMARC policy applies" in dmarc.meaning
    for verdict in report.verdicts:
        assert verdict.meaning.endswith(".")


@pytest.mark.parametrize(
    ("raw", "hops", "verdicts"),
    [
        ("", 0, 0),
        (b"\xff\xfe garbage \x00", 0, 0),
        ("Received: from\nAuthentication-Results: ;;;=\nReceived-SPF: (only a comment)\n", 1, 0),
        ("\n\nFrom MAILER-DAEMON Mon Jun  3 10:00:00 2024\nReceived: from a (b [192.0.2.1"
         "\nAuthentication-Results: x; spf=wibble; dkim=hardfail\n", 1, 2),
    ],
)
def test_headers_never_raise_on_junk(raw, hops, verdicts):
    report = analyze_headers(raw)
    assert len(report.hops) == hops
    assert len(report.verdicts) == verdicts
    for verdict in report.verdicts:
        assert verdict.result in (*RESULTS[verdict.method], "unknown")


def test_headers_odd_received_forms():
    report = analyze_headers(
        "Received: from 182.22.90.19 (HELO nh601.example.jp) (182.22.90.19)\n"
        "  by mta776.example.jp with SMTP; Wed, 23 May 2018 17:44:41 +0900\n"
        "Received: from rdns.example.net ([192.0.2.225]:2222 helo=claimed.example.net)\n"
        "  by r202.example.com with esmtp (Exim 4.82) (envelope-from <a@b.example>)\n"
        "  id 2222ee for x@example.com; Thu, 17 Jul 2014 23:34:45 -0300\n"
        "Received: (qmail 44667 invoked by alias); 24 Jun 2024 09:04:01 -0000\n"
    )
    hops = [(h.from_host, h.from_rdns, h.ip, h.by_host, h.protocol) for h in report.hops]
    assert hops == [
        ("", "", "", "", ""),
        ("claimed.example.net", "rdns.example.net", "192.0.2.225", "r202.example.com", "esmtp"),
        ("nh601.example.jp", "", "182.22.90.19", "mta776.example.jp", "SMTP"),
    ]
    assert report.hops[0].timestamp == datetime(2024, 6, 24, 9, 4, 1, tzinfo=timezone.utc)


def _methods_mentioned(path):
    """spf/dkim/dmarc named in the top-level Authentication-Results, read with the stdlib."""
    message = BytesHeaderParser(policy=compat32).parsebytes(path.read_bytes())
    methods = set()
    for value in message.get_all("Authentication-Results") or []:
        text = str(value)
        while re.search(r"\([^()]*\)", text):
            text = re.sub(r"\([^()]*\)", " ", text)  # comments may name methods too
        methods.update(m.lower() for m in re.findall(r"(?<![\w.-])(spf|dkim|dmarc)\s*=", text,
                                                     re.IGNORECASE))
    return methods, len(message.get_all("Received") or [])


def test_headers_over_the_bounce_corpus():
    files = sorted(CORPUS.glob("*.eml"))
    assert files, f"no corpus at {CORPUS}"
    with_results = with_hops = 0
    for path in files:
        report = analyze_headers(path.read_bytes())
        methods, received = _methods_mentioned(path)
        assert len(report.hops) == received, path.name
        for hop in report.hops:
            for host in (hop.from_host, hop.by_host):
                assert host == host.strip() and " " not in host, (path.name, hop)
        if any(hop.by_host for hop in report.hops):
            with_hops += 1
        from_results = {v.method for v in report.verdicts if v.source != "Received-SPF"}
        assert from_results == methods, path.name
        if methods:
            with_results += 1
            for verdict in report.verdicts:
                assert verdict.result in RESULTS[verdict.method], (path.name, verdict)
                assert verdict.meaning.endswith(".")
            assert any(hop.by_host or hop.from_host for hop in report.hops), path.name
    assert with_results >= 5
    assert with_hops >= len(files) // 2
