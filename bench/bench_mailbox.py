"""Measure the mailbox reader over IMAPS against Odoo's own fetchmail loop.

Usage: ``.venv/bin/python bench/bench_mailbox.py [--counts 1000 10000] [--batch-size 100]``

Starts a private Dovecot (harness, with its own TLS CA), drops N small bounce
messages straight into the Maildir, and for each N:

* ours: ``open_mailbox`` + ``batches()`` + ``mark(PROCESSED)`` (moves every
  message to INBOX.processed), timed; then the same again on fresh messages
  under tracemalloc for the peak memory of the read loop;
* host: the loop of Odoo 18 ``mail/models/fetchmail.py`` (``fetch_mail``)
  reproduced with imaplib on the same data: SELECT, SEARCH (UNSEEN), then
  per message FETCH (RFC822), STORE -FLAGS \\Seen, STORE +FLAGS \\Seen.

Each measurement runs in a forked child so ru_maxrss is that run's own peak.
The host loop runs once, under tracemalloc (its time is the server's).
Dovecot indexes freshly delivered files on the first SELECT; a warm-up
EXAMINE before each timed run keeps that server cost out of both figures.
"""

from __future__ import annotations

import argparse
import imaplib
import multiprocessing
import resource
import ssl
import sys
import time
import tracemalloc
from pathlib import Path

import imapclient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import conftest  # noqa: E402, F401 - registers civimail_addon without Odoo

from civimail_addon.engine.mailbox import PROCESSED, MailboxSettings, open_mailbox  # noqa: E402
from harness.dovecot import Dovecot  # noqa: E402

TARGET_RATE = 1000.0  # messages/s the issue asks for

BOUNCE = (
    "From: MAILER-DAEMON@mx.example.net\r\n"
    "To: bounces+b.{n}.0123456789abcdef@example.org\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "Message-ID: <bench-{n}@mx.example.net>\r\n"
    "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
    "\r\n"
    "This is the mail system at host mx.example.net.\r\n"
    "<jane{n}@example.com>: host mx.example.com said: 550 5.1.1 User unknown\r\n"
)


def deliver(server: Dovecot, count: int) -> None:
    server.reset_mailbox()
    for number in range(count):
        server.deliver(BOUNCE.format(n=number))
    # Let Dovecot index the new files now, outside the timed loops.
    with _imapclient(server) as client:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == count


def _context(server: Dovecot) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_file)


def _imapclient(server: Dovecot) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(
        server.host, server.imaps_port, ssl_context=_context(server), timeout=30
    )
    client.login(server.user, server.password)
    return client


def ours(server: Dovecot, batch_size: int, trace: bool) -> dict:
    settings = MailboxSettings(
        "imap", host="localhost", port=server.imaps_port, username=server.user,
        password=server.password, cafile=server.ca_file, batch_size=batch_size,
    )
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    read = 0
    with open_mailbox(settings) as box:
        for batch in box.batches():
            read += sum(1 for message in batch if message.raw)
            box.mark([message.uid for message in batch], PROCESSED)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    with _imapclient(server) as client:
        left = client.select_folder("INBOX", readonly=True)[b"EXISTS"]
        moved = client.select_folder("INBOX.processed", readonly=True)[b"EXISTS"]
    return {"read": read, "seconds": elapsed, "peak": peak, "left": left, "moved": moved}


def host_loop(server: Dovecot, trace: bool) -> dict:
    """Odoo 18 fetchmail.fetch_mail(), IMAP branch, minus message_process()."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    read = 0
    imap_server = imaplib.IMAP4_SSL(server.host, server.imaps_port, ssl_context=_context(server))
    imap_server.login(server.user, server.password)
    imap_server.select()
    _result, data = imap_server.search(None, "(UNSEEN)")
    for num in data[0].split():
        _result, data = imap_server.fetch(num, "(RFC822)")
        imap_server.store(num, "-FLAGS", "\\Seen")
        read += bool(data[0][1])  # message_process(..., data[0][1], ...) would run here
        imap_server.store(num, "+FLAGS", "\\Seen")
    imap_server.close()
    imap_server.logout()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    return {"read": read, "seconds": elapsed, "peak": peak, "left": None, "moved": None}


def _child(connection, function, args) -> None:
    result = function(*args)
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    connection.send(result)
    connection.close()


def in_child(function, *args) -> dict:
    """Run one measurement in a forked process: its own ru_maxrss, no leftovers."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, args))
    process.start()
    sender.close()
    result = receiver.recv()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"measurement {function.__name__} failed ({process.exitcode})")
    return result


def measure(server: Dovecot, count: int, batch_size: int) -> dict:
    deliver(server, count)
    timed = in_child(ours, server, batch_size, False)
    deliver(server, count)
    traced = in_child(ours, server, batch_size, True)
    for run in (timed, traced):
        if (run["read"], run["left"], run["moved"]) != (count, 0, count):
            raise RuntimeError(f"ours read {run['read']} of {count}, left {run['left']} in "
                               f"INBOX, moved {run['moved']}")
    # The host loop waits on the server (three round trips per message), so
    # tracemalloc hardly changes its time: one run gives both figures.
    deliver(server, count)
    host = in_child(host_loop, server, True)
    if host["read"] != count:
        raise RuntimeError(f"host loop read {host['read']} of {count}")
    return {
        "ours": {"rate": count / timed["seconds"], "peak": traced["peak"],
                 "maxrss_kb": max(timed["maxrss_kb"], traced["maxrss_kb"])},
        "host": {"rate": count / host["seconds"], "peak": host["peak"],
                 "maxrss_kb": host["maxrss_kb"]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()

    rows = []
    with Dovecot() as server:
        for count in args.counts:
            print(f"N={count}: delivering and reading...", flush=True)
            rows.append((count, measure(server, count, args.batch_size)))

    print()
    print(f"IMAPS on loopback, Dovecot, batch size {args.batch_size}; "
          "'ours' also MOVEs every message to INBOX.processed, the host loop only flags \\Seen.")
    header = (f"{'N':>7} | {'ours msg/s':>10} {'peak KiB':>9} {'maxrss MiB':>10} | "
              f"{'host msg/s':>10} {'peak KiB':>9} {'maxrss MiB':>10} | {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for count, result in rows:
        mine, host = result["ours"], result["host"]
        print(f"{count:>7} | {mine['rate']:>10.0f} {mine['peak'] / 1024:>9.0f} "
              f"{mine['maxrss_kb'] / 1024:>10.1f} | {host['rate']:>10.0f} "
              f"{host['peak'] / 1024:>9.0f} {host['maxrss_kb'] / 1024:>10.1f} | "
              f"{mine['rate'] / host['rate']:>5.1f}x")
    print()
    slowest = min(result["ours"]["rate"] for _count, result in rows)
    verdict = "met" if slowest >= TARGET_RATE else "NOT met"
    print(f"target >= {TARGET_RATE:.0f} msg/s: {verdict} (slowest run {slowest:.0f} msg/s)")
    if len(rows) > 1:
        (small_n, small), (big_n, big) = rows[0], rows[-1]
        growth = big["ours"]["peak"] / max(small["ours"]["peak"], 1)
        print(f"memory: tracemalloc peak x{growth:.2f} from N={small_n} to N={big_n} "
              f"(messages x{big_n / small_n:.0f}); flat means close to x1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
