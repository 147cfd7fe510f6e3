"""Fetch Bounces end to end against the host's own mail gateway, on the same bounces.

Usage: ``.venv/bin/python bench/bench_bounces.py [-n 10000] [--host-n N] [--keep-db]``

One run, one throw-away database (with civimail_addon), one Dovecot over IMAPS:

(a) our job: N bounce DSNs, each returned to the VERP address of a sent
    mailing trace, read over IMAPS, analysed, recorded, traces marked bounced,
    messages moved to ``INBOX.processed``, committed per batch;
(b) the host: the same DSNs through Odoo's own ``fetchmail.server`` on the same
    mailbox (IMAP, ``message_process`` per message, its bounce routing marks the
    traces from the returned Message-ID), committed per message as it does.

Prints both rates, the ratio, and the peak Python memory (tracemalloc) of each
run; ours is also measured at N/10 to show memory does not grow with N.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.odoo_driver import Odoo, unique_dbname  # noqa: E402

# Runs inside `odoo-bin shell`: `env` is the superuser environment.
PROGRAM = r'''
import json, os, tempfile, time, tracemalloc
from harness.dovecot import Dovecot
from harness.tls import make_tls_files

N, HOST_N = {n}, {host_n}
work = tempfile.mkdtemp(prefix="civimail-bench-", dir="/tmp")
os.chmod(work, 0o755)
tls = make_tls_files(work + "/tls")
os.environ["SSL_CERT_FILE"] = tls.ca_file
dovecot = Dovecot(tls=tls, workdir=work + "/dovecot")
dovecot.start()

def setup(count, tag):
    partners = env["res.partner"].create([
        {{"name": f"Recipient {{i}}", "email": f"{{tag}}{{i}}@bench.example.com"}}
        for i in range(count)])
    mailing = env["mailing.mailing"].create({{
        "subject": f"Bench {{tag}}", "body_html": "<p>Hi</p>",
        "mailing_model_id": env["ir.model"]._get_id("res.partner")}})
    traces = env["mailing.trace"].create([{{
        "mass_mailing_id": mailing.id, "model": "res.partner", "res_id": p.id,
        "email": p.email_normalized, "trace_status": "sent",
        "message_id": f"<{{tag}}-{{p.id}}@bench.example.org>"}} for p in partners])
    env.cr.commit()
    return traces

account = env["civimail.mail.account"].create({{
    "name": "Bench bounces", "usage": "bounce", "protocol": "imap",
    "host": dovecot.host, "port": dovecot.imaps_port, "security": "ssl",
    "username": dovecot.user, "password": dovecot.password,
    "local_part": "return+", "email_domain": "bench.example.org",
    "batch_size": 100, "max_per_run": 10 ** 7}})
codec = account._verp_codec()

def dsn(trace):
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {{codec.build(trace.id, trace.email)}}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{{trace.id}}@mx.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {{trace.email}}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{{trace.email}}>: User unknown\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {{trace.message_id}}\r\nFrom: news@bench.example.org\r\n"
        f"To: {{trace.email}}\r\nSubject: Bench\r\n"
        "--b--\r\n").encode()

def measure(run):
    tracemalloc.start()
    started = time.perf_counter()
    run()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak

def ours(count, tag):
    traces = setup(count, tag)
    dovecot.reset_mailbox()
    for trace in traces:
        dovecot.deliver(dsn(trace))
    log = env["civimail.job.log"]
    elapsed, peak = measure(lambda: log._run_job("fetch_bounces", records=account))
    env.invalidate_all()
    bounced = env["mailing.trace"].search_count(
        [("id", "in", traces.ids), ("trace_status", "=", "bounce")])
    return {{"n": count, "seconds": elapsed, "rate": count / elapsed, "peak": peak,
             "bounced": bounced, "left": len(os.listdir(dovecot.folder_path() / "new"))
             + len(os.listdir(dovecot.folder_path() / "cur"))}}

def host(count, tag):
    traces = setup(count, tag)
    dovecot.reset_mailbox()
    for trace in traces:
        dovecot.deliver(dsn(trace))
    server = env["fetchmail.server"].create({{
        "name": "Bench host", "server_type": "imap", "server": dovecot.host,
        "port": dovecot.imaps_port, "is_ssl": True, "user": dovecot.user,
        "password": dovecot.password}})
    server.button_confirm_login()
    env.cr.commit()
    def run():
        # The host fetches at most a batch per call, as its cron does each minute.
        while True:
            before = env["mailing.trace"].search_count(
                [("id", "in", traces.ids), ("trace_status", "=", "bounce")])
            server.fetch_mail()
            env.invalidate_all()
            after = env["mailing.trace"].search_count(
                [("id", "in", traces.ids), ("trace_status", "=", "bounce")])
            if after >= count or after == before:
                break
    elapsed, peak = measure(run)
    bounced = env["mailing.trace"].search_count(
        [("id", "in", traces.ids), ("trace_status", "=", "bounce")])
    return {{"n": count, "seconds": elapsed, "rate": count / elapsed, "peak": peak,
             "bounced": bounced}}

try:
    results = {{"ours_small": ours(max(N // 10, 1), "s"), "ours": ours(N, "o"),
               "host": host(HOST_N, "h")}}
finally:
    dovecot.close()
print("BENCH-RESULT " + json.dumps(results))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="bounces for our job")
    parser.add_argument("--host-n", type=int, default=None,
                        help="bounces for the host's gateway (default: same as -n)")
    parser.add_argument("--keep-db", action="store_true")
    options = parser.parse_args()
    host_n = options.host_n or options.n
    odoo = Odoo()
    dbname = unique_dbname("civimail_bench")
    try:
        odoo.install(dbname)
        result = odoo.run("shell", "-d", dbname, "--no-http", "--log-level=warn",
                          input_text=PROGRAM.format(n=options.n, host_n=host_n),
                          timeout=7200)
        line = next((ln for ln in result.stdout.splitlines()
                     if ln.startswith("BENCH-RESULT ")), None)
        if line is None:
            print(result.stdout[-3000:], result.stderr[-6000:], sep="\n", file=sys.stderr)
            return 1
        data = json.loads(line.removeprefix("BENCH-RESULT "))
    finally:
        if not options.keep_db:
            odoo.drop_database(dbname)
    ours, small, host = data["ours"], data["ours_small"], data["host"]
    print(f"CiviMail Fetch Bounces, IMAPS, {ours['n']} bounces: {ours['rate']:.0f} msg/s "
          f"({ours['seconds']:.1f} s), peak {ours['peak'] / 2**20:.1f} MiB, "
          f"{ours['bounced']} traces bounced, {ours['left']} left in INBOX")
    print(f"CiviMail Fetch Bounces, IMAPS, {small['n']} bounces: {small['rate']:.0f} msg/s, "
          f"peak {small['peak'] / 2**20:.1f} MiB")
    print(f"Host fetchmail + mail gateway, {host['n']} bounces: {host['rate']:.0f} msg/s "
          f"({host['seconds']:.1f} s), peak {host['peak'] / 2**20:.1f} MiB, "
          f"{host['bounced']} traces bounced")
    print(f"ratio ours / host: {ours['rate'] / host['rate']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
