"""Measure Email-to-Activity end to end against Odoo's own mail gateway.

Usage: ``.venv/bin/python bench/bench_inbound.py [--count 2000] [--host-count N]
[--batch-size 100]``

Creates a throw-away database with civimail_addon (dropped at the end) and a
private Dovecot (harness, with its own TLS CA), seeds contacts and a user,
then for each side delivers the same N emails and reads them over IMAPS.
Each email names three addresses (From, To, Cc; the filing address is not
one): half are sent by the user with the filing address in Bcc, half
received from outside people and dragged into the folder; half name an
unknown address (a contact to create), one in ten carries a 20 KB PDF.

* ours: the "Process Inbound Emails" job on an Email-to-activity account:
  read, file on the three contacts (creating the unknown ones), commit per
  batch, move to INBOX.processed;
* host: Odoo 18's fetchmail server (``fetch_mail``) routing the same
  messages to res.partner through ``mail.thread.message_process``, as an
  incoming mail server with "Create a new record" on Contacts does: one
  message on one record (a new contact) per email, commit per email, \\Seen.

Rates are messages read from the mailbox per second. The two sides carry
different Message-IDs (the host skips a Message-ID it already stored). Each
side runs in its own Odoo process, so its peak RSS (ru_maxrss) is its own;
"growth" is that peak minus the RSS once the registry is loaded, i.e. what
processing the N emails cost: run two sizes of N to see it stay flat.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.dovecot import Dovecot  # noqa: E402
from tools.odoo_driver import CONF, Odoo, unique_dbname  # noqa: E402

KNOWN = 200  # known individual contacts
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 80  # ~20 KB


def make_message(tag: str, number: int) -> bytes:
    """Email ``number``: three addresses, an unknown one in half of them."""
    message = EmailMessage()
    known = f"Known {number % KNOWN} <known{number % KNOWN}@example.com>"
    other = f"Known {(number + 7) % KNOWN} <known{(number + 7) % KNOWN}@example.com>"
    if number % 2:  # received from outside, dragged into the folder
        message["From"] = (f"Person {number} <person{number}@example.net>"
                           if number % 4 == 1 else other)
        message["To"] = "Sam Staff <staff@example.org>"
        message["Cc"] = known
    else:  # sent by the user, the filing address in Bcc
        message["From"] = "Sam Staff <staff@example.org>"
        message["To"] = known
        message["Cc"] = f"new{number}@example.net" if number % 4 == 0 else other
        message["Delivered-To"] = "civiemails@example.org"
    message["Subject"] = f"Follow-up {number}"
    message["Date"] = "Tue, 03 Sep 2024 10:00:00 +0200"
    message["Message-ID"] = f"<bench-{tag}-{number}@mail.example.org>"
    text = f"Hello,\n\nAbout our meeting number {number}: see the notes below.\n" * 5
    message.set_content(text)
    message.add_alternative(f"<p>{text.replace(chr(10), '<br>')}</p>", subtype="html")
    if number % 10 == 0:
        message.add_attachment(PDF, maintype="application", subtype="pdf",
                               filename=f"notes-{tag}-{number}.pdf")
    return message.as_bytes()


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------
# Inside Odoo (run as a child process by main())
# ----------------------------------------------------------------------------
def inside(mode: str, dbname: str, count: int, batch_size: int, dovecot: dict) -> dict:
    source = Path((ROOT / ".data" / "odoo-src").read_text().strip())
    sys.path.insert(0, str(source))
    import odoo  # noqa: PLC0415 - only in the Odoo child process
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(["-c", str(CONF), "-d", dbname, "--log-level=warn"],
                        setup_logging=True)
    registry = Registry(dbname)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        if mode == "setup":
            env["res.users"].create({"name": "Sam Staff", "login": "staff",
                                     "email": "staff@example.org"})
            env["res.partner"].create([{"name": f"Known {n}", "email": f"known{n}@example.com"}
                                       for n in range(KNOWN)])
            return {}
        baseline = maxrss_mb()
        if mode == "ours":
            account = env["civimail.mail.account"].create({
                "name": "Bench", "usage": "activity", "protocol": "imap",
                "host": dovecot["host"], "port": dovecot["port"], "security": "ssl",
                "username": dovecot["user"], "password": dovecot["password"],
                "local_part": "civiemails", "email_domain": "example.org",
                "batch_size": batch_size, "max_per_run": count,
            })
            cr.commit()
            started = time.perf_counter()
            log = env["civimail.job.log"]._run_job("process_inbound", records=account,
                                                   origin="cli")
            elapsed = time.perf_counter() - started
            if log.status != "ok":
                raise RuntimeError(f"the job ended {log.status}: {log.message}")
        else:
            server = env["fetchmail.server"].create({
                "name": "Bench", "server_type": "imap", "is_ssl": True,
                "server": dovecot["host"], "port": dovecot["port"],
                "user": dovecot["user"], "password": dovecot["password"],
                "object_id": env["ir.model"]._get_id("res.partner"), "attach": True,
            })
            server.button_confirm_login()
            cr.commit()
            started = time.perf_counter()
            server.fetch_mail()
            elapsed = time.perf_counter() - started
        env.invalidate_all()
        messages = env["mail.message"].search_count([
            ("model", "=", "res.partner"), ("message_id", "=like", f"<bench-{mode}-%")])
        attachments = env["ir.attachment"].search_count([("name", "=like", f"notes-{mode}-%")])
    return {"seconds": elapsed, "messages": messages, "attachments": attachments,
            "baseline_mb": baseline, "peak_mb": maxrss_mb()}


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------
def run_inside(odoo: Odoo, mode: str, dbname: str, *, count: int, batch_size: int,
               server: Dovecot) -> dict:
    dovecot = {"host": server.host, "port": server.imaps_port, "user": server.user,
               "password": server.password}
    result = subprocess.run(
        [odoo.python, __file__, "--inside", mode, "--db", dbname, "--count", str(count),
         "--batch-size", str(batch_size), "--dovecot", json.dumps(dovecot)],
        env=odoo.environ(SSL_CERT_FILE=server.ca_file), capture_output=True, text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"{mode} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="emails filed by ours")
    parser.add_argument("--host-count", type=int,
                        help="emails routed by the host (default: --count; it is slow)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--inside", choices=["setup", "ours", "host"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--dovecot", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        result = inside(args.inside, args.db, args.count, args.batch_size,
                        json.loads(args.dovecot or "{}"))
        print(json.dumps(result))
        return 0

    counts = {"ours": args.count, "host": args.host_count or args.count}
    odoo = Odoo()
    dbname = unique_dbname("civimail_bench")
    print(f"Installing civimail_addon in {dbname}...", flush=True)
    results = {}
    try:
        odoo.install(dbname)
        with Dovecot() as server:
            run_inside(odoo, "setup", dbname, count=0, batch_size=args.batch_size,
                       server=server)
            for mode, count in counts.items():
                server.reset_mailbox()
                for number in range(count):
                    server.deliver(make_message(mode, number))
                print(f"{mode}: filing {count} emails...", flush=True)
                results[mode] = run_inside(odoo, mode, dbname, count=count,
                                           batch_size=args.batch_size, server=server)
                if results[mode]["messages"] < count:
                    raise RuntimeError(f"{mode} filed {results[mode]['messages']} messages "
                                       f"for {count} emails")
    finally:
        odoo.drop_database(dbname)

    print()
    print(f"Emails of three addresses over IMAPS (Dovecot, loopback), batch size "
          f"{args.batch_size}")
    header = (f"{'':6} | {'emails':>6} {'msg/s':>7} {'seconds':>8} | {'chatter':>7} "
              f"{'PDFs':>5} | {'peak RSS MiB':>12} {'growth MiB':>10}")
    print(header)
    print("-" * len(header))
    rates = {}
    for mode, result in results.items():
        rates[mode] = counts[mode] / result["seconds"]
        print(f"{mode:6} | {counts[mode]:>6} {rates[mode]:>7.1f} {result['seconds']:>8.1f} | "
              f"{result['messages']:>7} {result['attachments']:>5} | "
              f"{result['peak_mb']:>12.0f} {result['peak_mb'] - result['baseline_mb']:>10.0f}")
    print()
    print(f"ratio ours/host: {rates['ours'] / rates['host']:.2f}x in messages per second "
          "(ours files each email on its three contacts, the host on one new record)")
    print("msg/s = emails read from the mailbox per second; chatter = chatter messages made; "
          "PDFs = stored attachment files (one email in ten carries one)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
