"""Pytest plugin: real servers as fixtures (``pytest_plugins = ["harness.fixtures"]``).

Servers start once per session (each well under a second) and are reset
before every test, so tests stay independent without paying startups:

* ``tls_files``: CA + localhost certificate (session).
* ``dovecot_server`` (session) / ``dovecot`` (per test: running, main user
  only, empty mailbox).
* ``smtp_sink_server`` (session) / ``smtp_sink`` (per test: running, no
  messages, no rules).
* ``nsd_server`` (session) / ``dns_server`` (per test: running, no zones).

A missing program FAILS the test with the Debian package to install: a
skipped protocol test would hide exactly the bugs these suites exist for.
"""

import tempfile

import pytest

from harness import HarnessError, remove_tree, require_program
from harness.dns_server import DnsServer
from harness.dovecot import Dovecot
from harness.smtp_sink import SmtpSink
from harness.tls import make_tls_files


def _require(*programs):
    try:
        for program in programs:
            require_program(program)
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


def _started(server):
    try:
        return server.start()
    except HarnessError as exc:
        server.close()
        pytest.fail(f"{server.__class__.__name__} did not start: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def tls_files():
    """TlsFiles(ca_file, cert_file, key_file) for this session."""
    folder = tempfile.mkdtemp(prefix="civimail-tls-")
    yield make_tls_files(folder)
    remove_tree(folder)


@pytest.fixture(scope="session")
def dovecot_server(tls_files):
    _require("dovecot", "doveadm")
    server = _started(Dovecot(tls=tls_files))
    yield server
    server.close()


@pytest.fixture
def dovecot(dovecot_server):
    """The session Dovecot, restarted if a test stopped it, mailbox emptied."""
    dovecot_server.reset()
    return dovecot_server


@pytest.fixture(scope="session")
def smtp_sink_server(tls_files):
    sink = _started(SmtpSink(tls=tls_files))
    yield sink
    sink.close()


@pytest.fixture
def smtp_sink(smtp_sink_server):
    """The session SMTP sink, running, with no messages and no rules."""
    if not smtp_sink_server.is_running():
        smtp_sink_server.start()
    smtp_sink_server.clear_rules()
    smtp_sink_server.clear()
    return smtp_sink_server


@pytest.fixture(scope="session")
def nsd_server():
    _require("nsd", "nsd-checkzone")
    server = _started(DnsServer())
    yield server
    server.close()


@pytest.fixture
def dns_server(nsd_server):
    """The session NSD, running and serving no zone (set them with set_zones)."""
    if nsd_server.current_zones() or not nsd_server.is_running():
        nsd_server.set_zones({})
    return nsd_server

