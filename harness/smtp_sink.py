"""An SMTP server that records every accepted message in a spool folder.

Odoo sends from another process, so the sink is a process of its own
(``python -m harness.smtp_sink --port P --spool DIR``) and everything goes
through files in the spool folder:

* ``messages/NNNNNNNNNNNN.msg``: one file per accepted message, written to
  ``tmp/`` then renamed, so readers never see half a message.  First line:
  JSON envelope (mail_from, rcpt_tos, ...); the rest: the raw data.
* ``rules.json``: behaviour switches (rejections, dropped connections, delay)
  re-read (when changed) at each transaction, so tests change them at runtime.
* ``ready.json``: pid and port, written once the port is listening.

Two other behaviours stand for remote servers that never take a message
(``--greeting "554 ..."``: refuse at connection time, RFC 5321 3.1;
``--silent``: accept the connection and never answer, for timeouts).

``SmtpSink`` starts and controls the process; ``SmtpSink.from_description()``
gives the same controller in another process.
"""

import argparse
import asyncio
import contextlib
import email
import email.policy
import fnmatch
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:  # only the sink process needs them; controllers (e.g. in Odoo) do not
    import uvloop
    from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, syntax
except ImportError:  # pragma: no cover
    uvloop = MISSING = AuthResult = LoginPassword = None
    SMTP = object

    def syntax(_text):
        return lambda method: method

from harness import HOST, HarnessError, log_tail, pid_alive, remove_tree, terminate_pid, wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES = ("mail", "rcpt", "data")


def _write_atomically(path, data):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _matches(pattern, address):
    """Exact or shell-style (``*@bad.example``) match, case-insensitive."""
    return fnmatch.fnmatchcase((address or "").lower(), pattern.lower())


# --------------------------------------------------------------------------
# Server side (runs in the sink process)
# --------------------------------------------------------------------------


class RecordingHandler:
    """aiosmtpd handler: applies rules.json and spools accepted messages."""

    def __init__(self, spool):
        self.spool = Path(spool)
        self.rules_file = self.spool / "rules.json"
        self.tmp_dir = self.spool / "tmp"
        self.messages_dir = self.spool / "messages"
        self._rules_key = None
        self.rules = {"rules": [], "delay": 0}
        existing = [
            int(name.split(".")[0])
            for name in os.listdir(self.messages_dir)
            if name.endswith(".msg")
        ]
        self.sequence = max(existing, default=0)

    def _load_rules(self):
        """Re-read rules.json only when it changed (it is replaced atomically)."""
        try:
            stat = os.stat(self.rules_file)
        except FileNotFoundError:
            self._rules_key, self.rules = None, {"rules": [], "delay": 0}
            return
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if key != self._rules_key:
            with open(self.rules_file, "rb") as handle:
                self.rules = json.load(handle)
            self._rules_key = key

    def _rule_for(self, stage, addresses):
        for rule in self.rules.get("rules", ()):
            if rule["stage"] == stage and any(_matches(rule["pattern"], a) for a in addresses):
                return rule
        return None

    @staticmethod
    def _apply(rule, server):
        if rule["action"] == "drop":
            server.transport.abort()  # abrupt close, no reply at all
            return "421 4.4.2 connection dropped by test rule"
        return reply_text(rule["code"], rule["message"])

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self._load_rules()
        rule = self._rule_for("mail", [address])
        if rule:
            return self._apply(rule, server)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rule = self._rule_for("rcpt", [address])
        if rule:
            return self._apply(rule, server)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        delay = float(self.rules.get("delay") or 0)
        if delay:
            await asyncio.sleep(delay)
        rule = self._rule_for("data", [envelope.mail_from, *envelope.rcpt_tos])
        if rule:
            return self._apply(rule, server)
        self.sequence += 1
        name = f"{self.sequence:012d}.msg"
        header = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "received_at": time.time(),
            "auth_login": _login_name(session),
            "peer": list(session.peer or ()),
        }
        data = envelope.original_content or b""
        tmp = self.tmp_dir / name
        with open(tmp, "wb") as handle:
            handle.write(json.dumps(header).encode() + b"\n")
            handle.write(data)
        os.rename(tmp, self.messages_dir / name)
        return f"250 2.0.0 OK queued as {self.sequence}"


class BlockReadingSMTP(SMTP):
    """aiosmtpd's server, reading a message's DATA by blocks rather than by lines.

    aiosmtpd awaits each line of DATA: for messages of a few hundred lines that
    made the sink, not the sender measured, the bottleneck of the sending
    benchmarks (mail servers read the stream in blocks too). Everything else,
    replies and handler hooks included, is aiosmtpd's.
    """

    @syntax("DATA")
    async def smtp_DATA(self, arg):
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        data = bytearray()
        while True:
            searched_from = max(len(data) - 4, 0)
            # read() empties the reader's buffer, so what follows the end of
            # DATA can be handed back in order below.
            block = await self._reader.read(1 << 30)
            if not block:  # connection closed within DATA: nothing accepted
                return
            data += block
            if data.startswith(b".\r\n"):
                end = 0
                break
            end = data.find(b"\r\n.\r\n", searched_from)
            if end != -1:
                end += 2
                break
        if len(data) > end + 3:
            self._reader.feed_data(bytes(data[end + 3:]))
        # RFC 5321, 4.5.2: a dot starting a line was doubled by the client.
        content = bytes(data[:end]).replace(b"\r\n.", b"\r\n")
        if content.startswith(b"."):
            content = content[1:]
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)


def reply_text(code, message):
    """An SMTP reply; a message of several lines becomes a multi-line reply."""
    *head, last = message.split("\n")
    return "\r\n".join([*(f"{code}-{line}" for line in head), f"{code} {last}"])


async def _refuse_at_greeting(greeting, reader, writer):
    """RFC 5321 3.1: a server refusing service greets with 554 (or another
    code) and then answers 503 to everything but QUIT."""
    writer.write(greeting.encode() + b"\r\n")
    with contextlib.suppress(ConnectionError):
        while line := await reader.readline():
            if line.strip().upper() == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                break
            writer.write(b"503 5.5.1 Bad sequence of commands\r\n")
            await writer.drain()
        await writer.drain()
    writer.close()


async def _never_answer(reader, writer):
    """Hold the connection without a word until the client gives up."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(1 << 16):
            pass
    writer.close()


def _login_name(session):
    login = getattr(session, "auth_data", None)
    if isinstance(login, bytes):
        return login.decode(errors="replace")
    return login


def _accept_any_login(server, session, envelope, mechanism, auth_data):
    """Any AUTH succeeds: the sink tests what is sent, not credentials."""
    login = auth_data.login if isinstance(auth_data, LoginPassword) else None
    return AuthResult(success=True, auth_data=login)


async def serve(host, port, spool, tls_cert=None, tls_key=None, *, greeting=None, silent=False):
    """Listen until SIGTERM/SIGINT; announce readiness through ready.json.

    ``host`` may list several addresses, comma-separated (one port for all).
    """
    spool = Path(spool)
    host = host.split(",") if "," in host else host
    for name in ("tmp", "messages"):
        (spool / name).mkdir(parents=True, exist_ok=True)
    handler = RecordingHandler(spool)
    tls_context = None
    if tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(tls_cert, tls_key)

    def make_protocol(starttls_context):
        return BlockReadingSMTP(
            handler,
            hostname="localhost",
            ident="civimail test sink",
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=None,
            tls_context=starttls_context,
            auth_require_tls=False,
            authenticator=_accept_any_login,
        )

    loop = asyncio.get_running_loop()
    if greeting:
        servers = [await asyncio.start_server(
            lambda reader, writer: _refuse_at_greeting(greeting, reader, writer),
            host, port, reuse_address=True)]
    elif silent:
        servers = [await asyncio.start_server(_never_answer, host, port, reuse_address=True)]
    else:
        servers = [await loop.create_server(
            lambda: make_protocol(tls_context), host, port, reuse_address=True)]
    ready = {"pid": os.getpid(), "port": servers[0].sockets[0].getsockname()[1]}
    if tls_context is not None and not (greeting or silent):
        # With a certificate, also SMTP over implicit TLS (SMTPS, port 465's way).
        servers.append(await loop.create_server(
            lambda: make_protocol(None), host, 0, ssl=tls_context, reuse_address=True))
        ready["ssl_port"] = servers[1].sockets[0].getsockname()[1]
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    _write_atomically(spool / "ready.json", json.dumps(ready).encode())
    await stopping.wait()
    for server in servers:
        server.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=HOST, help="address(es), comma-separated")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--spool", required=True)
    parser.add_argument(
        "--tls-cert",
        help="offer STARTTLS with this certificate, and SMTP over TLS on a second port")
    parser.add_argument("--tls-key")
    parser.add_argument("--greeting", help="refuse every connection with this reply")
    parser.add_argument("--silent", action="store_true", help="accept connections, never answer")
    args = parser.parse_args(argv)
    if uvloop is None:
        parser.error("the SMTP sink needs aiosmtpd and uvloop: pip install -r requirements-dev.txt")
    # On asyncio's own loop the sink took about 40 % more CPU per message.
    uvloop.run(serve(args.host, args.port, args.spool, args.tls_cert, args.tls_key,
                     greeting=args.greeting, silent=args.silent))


# --------------------------------------------------------------------------
# Client side (tests, launcher, Odoo test process)
# --------------------------------------------------------------------------


@dataclass
class SinkMessage:
    """One accepted message: envelope and raw bytes exactly as received."""

    mail_from: str
    rcpt_tos: list
    data: bytes
    sequence: int = 0
    received_at: float = 0.0
    auth_login: str | None = None
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def message(self):
        """The data parsed as an ``email.message.EmailMessage``."""
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def __getitem__(self, key):  # dict-style access: message["mail_from"]
        return getattr(self, key)


class SmtpSink:
    """Controller of one sink process: ``with SmtpSink() as sink: ...``."""

    def __init__(self, spool_dir=None, port=0, tls=None, host=HOST, ssl_port=None, *,
                 greeting=None, silent=False):
        self.host = host
        self.port = port
        self.ssl_port = ssl_port  # SMTP over implicit TLS, when started with ``tls``
        self.tls = tls
        self.greeting = greeting
        self.silent = silent
        self._own_spool = spool_dir is None
        # In memory when the system has it: the sink's disk is not what tests
        # and benchmarks measure, and a file per message costs it a lot on disk.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.spool_dir = Path(spool_dir or tempfile.mkdtemp(prefix="civimail-smtp-", dir=shm))
        self._process = None

    messages_dir = property(lambda self: self.spool_dir / "messages")
    rules_file = property(lambda self: self.spool_dir / "rules.json")
    ready_file = property(lambda self: self.spool_dir / "ready.json")
    log_file = property(lambda self: self.spool_dir / "sink.log")

    def _ready_info(self):
        try:
            return json.loads(self.ready_file.read_text())
        except (OSError, ValueError):
            return None

    @property
    def pid(self):
        """The sink process's pid, None when not started."""
        return (self._ready_info() or {}).get("pid")

    def is_running(self):
        info = self._ready_info()
        return bool(info) and pid_alive(info["pid"])

    def start(self, timeout=10.0):
        """Start the sink process and return once its port listens."""
        if self.is_running():
            return self
        for name in ("tmp", "messages"):
            (self.spool_dir / name).mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "harness.smtp_sink",
            "--host",
            self.host,
            "--port",
            str(self.port or 0),
            "--spool",
            str(self.spool_dir),
        ]
        if self.tls is not None:
            command += ["--tls-cert", self.tls.cert_file, "--tls-key", self.tls.key_file]
        if self.greeting:
            command += ["--greeting", self.greeting]
        if self.silent:
            command.append("--silent")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )

        def ready():
            if self._process.poll() is not None:
                raise HarnessError(
                    f"SMTP sink exited with status {self._process.returncode}"
                    + log_tail(self.log_file)
                )
            info = self._ready_info()
            return bool(info) and info["pid"] == self._process.pid

        wait_until(ready, timeout, "the SMTP sink to listen", log_file=self.log_file)
        info = self._ready_info()
        self.port, self.ssl_port = info["port"], info.get("ssl_port")
        return self

    def stop(self):
        info = self._ready_info()
        if info:
            terminate_pid(info["pid"], what="SMTP sink")
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            self._process = None
        self.ready_file.unlink(missing_ok=True)

    def close(self):
        self.stop()
        if self._own_spool:
            remove_tree(self.spool_dir)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    # -- recorded messages ---------------------------------------------------------

    def _message_files(self):
        try:
            names = os.listdir(self.messages_dir)
        except FileNotFoundError:
            return []
        return sorted(name for name in names if name.endswith(".msg"))

    def count(self):
        return len(self._message_files())

    def messages(self):
        """Every accepted message, in arrival order."""
        result = []
        for name in self._message_files():
            try:
                raw = (self.messages_dir / name).read_bytes()
            except FileNotFoundError:  # cleared meanwhile
                continue
            header_line, _, data = raw.partition(b"\n")
            header = json.loads(header_line)
            result.append(
                SinkMessage(
                    mail_from=header.pop("mail_from"),
                    rcpt_tos=header.pop("rcpt_tos"),
                    data=data,
                    sequence=int(name.split(".")[0]),
                    received_at=header.pop("received_at", 0.0),
                    auth_login=header.pop("auth_login", None),
                    extra=header,
                )
            )
        return result

    def clear(self):
        """Forget recorded messages (the rules stay; see clear_rules())."""
        for name in self._message_files():
            (self.messages_dir / name).unlink(missing_ok=True)

    def wait_for(self, count, timeout=10.0):
        """Wait until at least ``count`` messages arrived; return all messages."""
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"SMTP sink: expected {count} message(s) within {timeout}s, got {self.count()}"
                )
            time.sleep(0.01)
        return self.messages()

    # -- behaviour rules ---------------------------------------------------------------

    def _read_rules(self):
        try:
            return json.loads(self.rules_file.read_text())
        except (OSError, ValueError):
            return {"rules": [], "delay": 0}

    def _write_rules(self, rules):
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.rules_file, json.dumps(rules, indent=1).encode())

    def _add_rule(self, rule):
        if rule["stage"] not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {rule['stage']!r}")
        rules = self._read_rules()
        rules.setdefault("rules", []).append(rule)
        self._write_rules(rules)

    def reject(self, address_or_pattern, code=550, message="5.1.1 User unknown", stage="rcpt"):
        """Answer ``code message`` for a matching address (a message of several
        lines, separated by "\\n", is sent as a multi-line reply).

        ``stage``: "mail" (sender), "rcpt" (that recipient only, others are
        accepted) or "data" (whole message, if sender or any recipient matches).
        Patterns are exact addresses or globs like ``*@bad.example``.
        """
        self._add_rule(
            {
                "action": "reject",
                "pattern": address_or_pattern,
                "code": int(code),
                "message": message,
                "stage": stage,
            }
        )

    def drop_connection_on(self, address_or_pattern, stage="rcpt"):
        """Close the socket abruptly (no reply) when the address shows up."""
        self._add_rule({"action": "drop", "pattern": address_or_pattern, "stage": stage})

    def allow(self, address_or_pattern):
        """Forget the rules made for ``address_or_pattern`` (it is accepted again)."""
        rules = self._read_rules()
        rules["rules"] = [rule for rule in rules.get("rules", ())
                          if rule["pattern"].lower() != address_or_pattern.lower()]
        self._write_rules(rules)

    def set_delay(self, seconds):
        """Wait ``seconds`` after each DATA before recording and replying."""
        rules = self._read_rules()
        rules["delay"] = float(seconds)
        self._write_rules(rules)

    def clear_rules(self):
        self._write_rules({"rules": [], "delay": 0})

    # -- cross-process description ------------------------------------------------------

    def describe(self):
        return {
            "host": self.host,
            "port": self.port,
            "ssl_port": self.ssl_port,
            "spool_dir": str(self.spool_dir),
            "starttls": self.tls is not None,
        }

    @classmethod
    def from_description(cls, description):
        """Controller for a sink started elsewhere: messages, rules, stop/start."""
        sink = cls(
            spool_dir=description["spool_dir"], port=description["port"], host=description["host"],
            ssl_port=description.get("ssl_port"),
        )
        sink._own_spool = False
        return sink

    def __repr__(self):
        return f"<SmtpSink {self.host}:{self.port} spool={self.spool_dir}>"


if __name__ == "__main__":
    main()
