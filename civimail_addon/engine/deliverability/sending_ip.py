"""The public IP address an outgoing server's mail leaves from.

The SPF, reverse DNS and blocklist checks need it.  When an admin has not
entered it, it is read from the SMTP host: a name is resolved, and local or
private addresses (a relay on the same machine or network) are set aside
since they say nothing about the public address the mail leaves from.
"""

from __future__ import annotations

from . import dnsquery
from .dnsquery import DnsTempError
from .results import UNKNOWN, WARNING, _lt, build

#: (message, fix) per outcome; {subject} is the SMTP host, {server} the server's name.
MESSAGES = {
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
}


def no_server():
    """The "sending_ip" CheckResult of a database with no outgoing server to check."""
    return build("sending_ip", "-", UNKNOWN, "", "no_server", messages=MESSAGES, server="")


def sending_ips(resolver, host, server):
    """(public IPs, problem) of the SMTP ``host`` of the server named ``server``.

    The problem is a "sending_ip" CheckResult, or None when every address is
    public.
    """
    host = str(host or "").strip()

    def result(status, key, value="", **fields):
        return build("sending_ip", host, status, value, key, messages=MESSAGES, server=server,
                     **fields)

    address = dnsquery.parse_ip(host)
    try:
        addresses = [address] if address else dnsquery.addresses(resolver, host + ".")
    except DnsTempError as error:
        return [], result(UNKNOWN, "unresolved", problem=str(error))
    if not addresses:
        return [], result(UNKNOWN, "unresolved", problem=_lt("no address found"))
    public = [str(ip) for ip in addresses if ip.is_global]
    if public:
        return public, None
    return [], result(WARNING, "private", ", ".join(map(str, addresses)))
