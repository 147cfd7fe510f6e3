"""The NSD fixture answers real DNS queries for zones a test writes."""

import time

import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from harness import HarnessError
from harness.dns_server import DnsServer

EXAMPLE_ZONE = """\
$ORIGIN example.org.
$TTL 300
@       IN SOA ns1 hostmaster 2024010101 3600 600 86400 300
@       IN NS  ns1
ns1     IN A   127.0.0.1
@       IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mail    IN A   192.0.2.25
@       IN MX  10 mail
"""


def test_txt_and_a_records_through_dnspython(dns_server):
    dns_server.set_zones({"example.org": EXAMPLE_ZONE})
    resolver = dns_server.resolver()
    txt = resolver.resolve("example.org", "TXT")
    assert [b"".join(record.strings) for record in txt] == [b"v=spf1 ip4:192.0.2.0/24 -all"]
    assert [record.address for record in resolver.resolve("mail.example.org", "A")] == [
        "192.0.2.25"
    ]
    assert str(resolver.resolve("example.org", "MX")[0].exchange) == "mail.example.org."


def test_tcp_answers_too(dns_server):
    dns_server.set_zones({"example.org": EXAMPLE_ZONE})
    query = dns.message.make_query("mail.example.org", "A")
    response = dns.query.tcp(query, dns_server.host, port=dns_server.port, timeout=2)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer[0][0].address == "192.0.2.25"


def test_set_zones_changes_the_answer(dns_server):
    dns_server.set_zones({"example.org": "mail A 192.0.2.1\n"})
    resolver = dns_server.resolver()
    assert resolver.resolve("mail.example.org", "A")[0].address == "192.0.2.1"
    dns_server.set_zones({"example.org": "mail A 192.0.2.2\n"})
    assert resolver.resolve("mail.example.org", "A")[0].address == "192.0.2.2"


def test_names_outside_the_zones_fail_fast(dns_server):
    dns_server.set_zones({"example.org": EXAMPLE_ZONE})
    resolver = dns_server.resolver(timeout=2.0)
    started = time.monotonic()
    with pytest.raises(dns.resolver.NoNameservers, match="REFUSED"):
        resolver.resolve("elsewhere.test", "A")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("missing.example.org", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("mail.example.org", "TXT")
    assert time.monotonic() - started < 1.0


def test_reverse_and_blocklist_zones(dns_server):
    dns_server.set_zones(
        {
            "2.0.192.in-addr.arpa": "25 PTR mail.example.org.\n",
            "zen.spamhaus.org": '2.0.0.127 A 127.0.0.2\n2.0.0.127 TXT "listed for testing"\n',
        }
    )
    resolver = dns_server.resolver()
    assert str(resolver.resolve_address("192.0.2.25")[0]) == "mail.example.org."
    assert resolver.resolve("2.0.0.127.zen.spamhaus.org", "A")[0].address == "127.0.0.2"
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("1.0.0.127.zen.spamhaus.org", "A")


def test_fixture_starts_each_test_with_no_zone(dns_server):
    assert dns_server.current_zones() == {}
    with pytest.raises(dns.resolver.NoNameservers):
        dns_server.resolver().resolve("example.org", "TXT")


def test_invalid_zone_raises_and_keeps_the_old_data(dns_server):
    dns_server.set_zones({"example.org": "mail A 192.0.2.1\n"})
    with pytest.raises(HarnessError, match="invalid IPv4"):
        dns_server.set_zones({"example.org": "mail A not-an-address\n"})
    assert dns_server.resolver().resolve("mail.example.org", "A")[0].address == "192.0.2.1"


def test_controller_from_description_changes_zones(dns_server):
    controller = DnsServer.from_description(dns_server.describe())
    controller.set_zones({"example.com": 'info TXT "set elsewhere"\n'})
    answer = dns_server.resolver().resolve("info.example.com", "TXT")
    assert answer[0].strings == (b"set elsewhere",)
    assert dns_server.current_zones() == {"example.com": 'info TXT "set elsewhere"\n'}
