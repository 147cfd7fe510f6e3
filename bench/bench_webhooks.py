"""Provider webhooks under a burst, against Fetch Bounces on the same bounces.

Usage: ``.venv/bin/python bench/bench_webhooks.py [-n 2000] [--workers 3] [--clients 16]``

One run, one throw-away database (with civimail_addon):

(a) a real ``odoo-bin`` with several HTTP workers (and no cron) receives N
    Mailgun events (HMAC-signed with the account's key, one bounce each, for N
    sent traces, matched by the Message-ID Mailgun echoes), posted by
    ``--clients`` concurrent keep-alive connections: events/s accepted, peak
    RSS of the Odoo processes; then the *Process Provider Events* job records
    them: time until all are processed, peak Python memory (tracemalloc);
    then 100 of the requests are posted again (all must be refused as
    replays). Checked: N events stored, N bounces on N distinct traces (0
    lost, 0 counted twice).
(b) the same N bounces as DSNs returned to the VERP addresses of N other
    traces, read over IMAPS from Dovecot by *Fetch Bounces*.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import free_ports, providers  # noqa: E402
from tools.odoo_driver import Odoo, unique_dbname  # noqa: E402

SIGNING_KEY = "bench-signing-key"
DIAGNOSTIC = "smtp; 550 5.1.1 <{email}>: Recipient address rejected: User unknown"

SETUP = r'''
import json
def traces(count, tag):
    partners = env["res.partner"].create([
        {{"name": f"Recipient {{i}}", "email": f"{{tag}}{{i}}@bench.example.com"}}
        for i in range(count)])
    mailing = env["mailing.mailing"].create({{
        "subject": f"Bench {{tag}}", "body_html": "<p>Hi</p>",
        "mailing_model_id": env["ir.model"]._get_id("res.partner")}})
    return env["mailing.trace"].create([{{
        "mass_mailing_id": mailing.id, "model": "res.partner", "res_id": p.id,
        "email": p.email_normalized, "trace_status": "sent",
        "message_id": f"<{{tag}}-{{p.id}}@bench.example.org>"}} for p in partners])
hooked = traces({n}, "w")
mailed = traces({n}, "m")
account = env["civimail.provider.account"].create({{
    "name": "Bench Mailgun", "provider": "mailgun", "signing_key": "{key}"}})
env.cr.commit()
print("BENCH-SETUP " + json.dumps({{
    "path": account._webhook_path(), "account": account.id, "mailed": mailed.ids,
    "hooked": [[t.id, t.email, t.message_id.strip("<>")] for t in hooked]}}))
'''

PROCESS = r'''
import json, os, tempfile, time, tracemalloc
from harness.dovecot import Dovecot
from harness.tls import make_tls_files
from odoo.addons.civimail_addon.tests.common import make_dsn

def measure(run):
    tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    result = run()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, elapsed, peak, cpu

log, seconds, peak, cpu = measure(
    lambda: env["civimail.job.log"]._run_job("process_provider_events"))
Event, Bounce = env["civimail.provider.event"], env["civimail.bounce"]
bounces = Bounce.search([("provider_account_id", "=", {account})])
webhook = {{"seconds": seconds, "peak": peak, "cpu": cpu, "message": log.message,
           "events": Event.search_count([("account_id", "=", {account})]),
           "done": Event.search_count([("account_id", "=", {account}), ("state", "=", "done")]),
           "bounces": len(bounces), "traces": len(set(bounces.trace_id.ids))}}

work = tempfile.mkdtemp(prefix="civimail-bench-", dir="/tmp")
os.chmod(work, 0o755)
tls = make_tls_files(work + "/tls")
os.environ["SSL_CERT_FILE"] = tls.ca_file
dovecot = Dovecot(tls=tls, workdir=work + "/dovecot")
dovecot.start()
try:
    account = env["civimail.mail.account"].create({{
        "name": "Bench bounces", "usage": "bounce", "protocol": "imap",
        "host": dovecot.host, "port": dovecot.imaps_port, "security": "ssl",
        "username": dovecot.user, "password": dovecot.password, "is_default": True,
        "local_part": "return+", "email_domain": "bench.example.org",
        "batch_size": 100, "max_per_run": 10 ** 7}})
    env.cr.commit()
    codec = account._verp_codec()
    traces = env["mailing.trace"].browse({mailed})
    for trace in traces:
        dovecot.deliver(make_dsn(codec.build(trace.id, trace.email), trace.email,
                                 diagnostic="smtp; 550 5.1.1 <{{rcpt}}>: Recipient address "
                                 "rejected: User unknown"))
    _log, seconds, peak, cpu = measure(
        lambda: env["civimail.job.log"]._run_job("fetch_bounces", records=account))
    mailbox = {{"seconds": seconds, "peak": peak, "cpu": cpu,
               "bounces": Bounce.search_count([("trace_id", "in", traces.ids)])}}
finally:
    dovecot.close()
print("BENCH-RESULT " + json.dumps({{"webhook": webhook, "mailbox": mailbox,
                                     "bounces_after": len(bounces)}}))
'''

COUNT = r'''
print("BENCH-COUNT", env["civimail.bounce"].search_count([("provider_account_id", "=", {account})]),
      env["civimail.provider.event"].search_count([("account_id", "=", {account})]))
'''


def shell(odoo, dbname, script):
    result = odoo.run("shell", "-d", dbname, "--no-http", "--log-level=warn",
                      input_text=script, timeout=7200)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH-"):
            return line.split(" ", 1)[1]
    raise RuntimeError(result.stdout[-2000:] + result.stderr[-4000:])


RETRY_SECONDS = 2  # a provider waits minutes; the bench, refused by the rate limit, less


def post_all(port, path, bodies, clients):
    """Post each body as a provider does, again after a 429 (rate limited) answer.

    Returns the final status codes in order and the number of 429 answers.
    """
    local = threading.local()
    limited = []

    def post_once(body):
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            local.connection.request("POST", path, body=body,
                                     headers={"Content-Type": "application/json"})
            response = local.connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            local.connection.close()
            del local.connection
            return 0
        return response.status

    def post(body):
        for _attempt in range(100):
            status = post_once(body)
            if status != 429:
                return status
            limited.append(1)
            time.sleep(RETRY_SECONDS)
        return status

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(post, bodies)), len(limited)


class ServerUsage:
    """Samples the summed RSS of a process tree until stopped; its CPU seconds meanwhile."""

    def __init__(self, pid):
        self.root, self.peak, self.running = psutil.Process(pid), 0, True
        self.cpu_start = self.cpu()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def processes(self):
        return [self.root, *self.root.children(recursive=True)]

    def cpu(self):
        return sum(sum(p.cpu_times()[:2]) for p in self.processes())

    def run(self):
        while self.running:
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, sum(p.memory_info().rss for p in self.processes()))
            time.sleep(0.2)

    def stop(self):
        """(peak RSS, CPU seconds used since the start)."""
        self.running = False
        self.thread.join()
        return self.peak, self.cpu() - self.cpu_start


def wait_up(port, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError("odoo-bin exited: " + process.stderr.read()[-3000:])
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/web/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("odoo-bin did not answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="events (and mailbox bounces)")
    parser.add_argument("--workers", type=int, default=3, help="Odoo HTTP workers")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--keep-db", action="store_true")
    options = parser.parse_args()
    odoo = Odoo()
    dbname = unique_dbname("civimail_bench_hooks")
    server = None
    try:
        odoo.install(dbname)
        setup = json.loads(shell(odoo, dbname, SETUP.format(n=options.n, key=SIGNING_KEY)))
        bodies = [providers.mailgun_body(SIGNING_KEY, "failed", email, message_id=message_id,
                                         diagnostic=DIAGNOSTIC.format(email=email))
                  for _id, email, message_id in setup["hooked"]]
        port = free_ports(1)[0]
        server = subprocess.Popen(
            odoo.command("-d", dbname, f"--db-filter=^{dbname}$", f"--http-port={port}",
                         f"--workers={options.workers}", "--max-cron-threads=0",
                         "--log-level=warn"),
            env=odoo.environ(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_up(port, server)
        usage = ServerUsage(server.pid)
        started = time.perf_counter()
        statuses, limited = post_all(port, setup["path"], bodies, options.clients)
        posting = time.perf_counter() - started
        peak_rss, server_cpu = usage.stop()
        replayed, _limited = post_all(port, setup["path"], bodies[:100], options.clients)
        server.terminate()
        server.wait(timeout=60)
        server = None
        data = json.loads(shell(odoo, dbname, PROCESS.format(
            account=setup["account"], mailed=setup["mailed"])))
    finally:
        if server is not None:
            server.kill()
        if not options.keep_db:
            odoo.drop_database(dbname)
    n, webhook, mailbox = options.n, data["webhook"], data["mailbox"]
    accepted = statuses.count(200)
    print(f"Webhook, {n} signed Mailgun events, {options.clients} clients, "
          f"{options.workers} Odoo workers: {accepted} accepted at {accepted / posting:.0f} "
          f"events/s ({posting:.1f} s), other answers: "
          f"{sorted({s for s in statuses if s != 200})} ({limited} answers 429, posted again "
          f"as providers do), peak RSS of Odoo "
          f"{peak_rss / 2**20:.0f} MiB; Odoo CPU {server_cpu * 1000 / n:.1f} ms per event")
    print(f"Process Provider Events: {webhook['seconds']:.1f} s "
          f"({n / webhook['seconds']:.0f} events/s), CPU {webhook['cpu'] * 1000 / n:.1f} ms "
          f"per event, peak {webhook['peak'] / 2**20:.1f} MiB; "
          f"{webhook['message']}")
    print(f"Accepted until all processed: {posting + webhook['seconds']:.1f} s "
          f"({n / (posting + webhook['seconds']):.0f} events/s end to end)")
    print(f"Stored {webhook['events']} events, {webhook['done']} processed; "
          f"{webhook['bounces']} bounces on {webhook['traces']} traces: "
          f"lost {n - webhook['traces']}, counted twice {webhook['bounces'] - webhook['traces']}")
    print(f"Replays of 100 requests: {replayed.count(409)} refused (409); bounces after: "
          f"{data['bounces_after']}")
    print(f"Fetch Bounces, IMAPS, the same {n} bounces: {mailbox['seconds']:.1f} s "
          f"({n / mailbox['seconds']:.0f} msg/s), CPU {mailbox['cpu'] * 1000 / n:.1f} ms per "
          f"message, peak {mailbox['peak'] / 2**20:.1f} MiB, "
          f"{mailbox['bounces']} bounces")
    print(f"ratio mailbox / webhook, processing time: "
          f"{mailbox['seconds'] / webhook['seconds']:.1f}x; end to end: "
          f"{mailbox['seconds'] / (posting + webhook['seconds']):.1f}x; Odoo CPU per event "
          f"(accepting + processing vs reading + processing): "
          f"{mailbox['cpu'] / (server_cpu + webhook['cpu']):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
