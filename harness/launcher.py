"""Start every test server for a suite running in another process (odoo-bin).

``with test_servers(workdir) as json_path:`` starts Dovecot, the SMTP sink
and NSD (no zones) and writes ``servers.json`` describing them.  The other
process reads it and gets controllers with ``attach()``::

    from harness.launcher import attach
    servers = attach()            # reads $CIVIMAIL_TEST_SERVERS
    servers.smtp.messages(); servers.dns.set_zones({...}); servers.dovecot.stop()

Command line: ``python -m harness.launcher [--workdir DIR] -- command ...``
runs the command with ``CIVIMAIL_TEST_SERVERS=<json path>`` while the
servers are up and exits with the command's exit code.
"""

import argparse
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import HarnessError, make_traversable, remove_tree, require_program
from harness.dns_server import DnsServer
from harness.dovecot import Dovecot
from harness.smtp_sink import SmtpSink
from harness.tls import TlsFiles, make_tls_files

ENV_VAR = "CIVIMAIL_TEST_SERVERS"
DESCRIPTION_NAME = "servers.json"


@dataclass
class Servers:
    """Controllers of running servers (same API as the classes themselves)."""

    dovecot: Dovecot
    smtp: SmtpSink
    dns: DnsServer
    tls: TlsFiles
    description: dict


def _check_traversable(folder):
    """Dovecot's unprivileged users must reach the folder: every parent needs o+x."""
    if os.geteuid() != 0:
        return
    for parent in Path(folder).resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise HarnessError(
                f"{parent} is not traversable by other users (mode "
                f"{oct(parent.stat().st_mode & 0o777)}); Dovecot's users could not reach "
                f"{folder}. Use a workdir under /tmp or chmod o+x {parent}."
            )


@contextlib.contextmanager
def test_servers(workdir=None):
    """Start all servers in ``workdir`` (a new temp folder if None); yield the JSON path.

    Everything is stopped on exit; a temp folder created here is deleted.
    """
    require_program("dovecot")
    require_program("nsd")
    own_workdir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="civimail-servers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    _check_traversable(workdir)
    make_traversable(workdir)
    started = []
    try:
        tls = make_tls_files(workdir / "tls")
        for server in (
            Dovecot(tls=tls, workdir=workdir / "dovecot"),
            SmtpSink(spool_dir=workdir / "smtp", tls=tls),
            DnsServer(workdir=workdir / "dns"),
        ):
            started.append(server)
            server.start()
        dovecot, smtp, dns_server = started
        description = {
            "dovecot": dovecot.describe(),
            "smtp": smtp.describe(),
            "dns": dns_server.describe(),
            "tls": tls.describe(),
        }
        json_path = workdir / DESCRIPTION_NAME
        json_path.write_text(json.dumps(description, indent=2))
        os.chmod(json_path, 0o644)
        yield str(json_path)
    finally:
        for server in reversed(started):
            with contextlib.suppress(Exception):
                server.stop()
        if own_workdir:
            remove_tree(workdir)


# Not a pytest test despite the name.
test_servers.__test__ = False


def from_description(description):
    """Controllers for every server of a description dict."""
    return Servers(
        dovecot=Dovecot.from_description(description["dovecot"]),
        smtp=SmtpSink.from_description(description["smtp"]),
        dns=DnsServer.from_description(description["dns"]),
        tls=TlsFiles.from_description(description["tls"]),
        description=description,
    )


def attach(json_path=None):
    """Controllers for the servers of ``json_path`` (default: $CIVIMAIL_TEST_SERVERS)."""
    json_path = json_path or os.environ.get(ENV_VAR)
    if not json_path:
        raise HarnessError(
            f"{ENV_VAR} is not set: run the suite under `python -m harness.launcher`"
        )
    with open(json_path) as handle:
        return from_description(json.load(handle))


def run(command, workdir=None):
    """Run ``command`` with the servers up; return its exit code."""
    with test_servers(workdir) as json_path:
        env = dict(os.environ, **{ENV_VAR: json_path})
        process = subprocess.Popen(command, env=env)

        def forward(signum, _frame):
            process.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return process.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if process.poll() is None:
                process.kill()
                process.wait()


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m harness.launcher", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--workdir", help="folder for the servers' files (default: temp)")
    if "--" in argv:
        split = argv.index("--")
        options, command = argv[:split], argv[split + 1 :]
    else:
        options, command = argv, []
    args = parser.parse_args(options)
    if not command:
        parser.error("missing command: python -m harness.launcher -- command ...")
    try:
        return run(command, args.workdir)
    except HarnessError as exc:
        sys.stderr.write(f"harness.launcher: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
