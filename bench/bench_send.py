"""Benchmark: the host's mailing sending against CiviMail's Send Scheduled Mailings job.

One database, the same N contact recipients, the same SMTP sink (harness):

(a) the host: a mailing sent the host's way (composer → mail.mail queue →
    process_email_queue until empty);
(b) CiviMail's job, one worker;
(c) CiviMail's job, two concurrent workers: rate and duplicate deliveries.

Each phase runs in its own odoo-bin shell processes, so its peak memory (max
RSS) is its own. Rates are end to end: from "send" to the last message
accepted by the sink, traces written. The CPU time each message costs the
sender, the sink and PostgreSQL is printed too: on one machine their sum
bounds what two workers can reach.

    .venv/bin/python bench/bench_send.py [-n 10000] [--keep-db]
"""

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.smtp_sink import SmtpSink  # noqa: E402
from tools.odoo_driver import Odoo, unique_dbname  # noqa: E402

SETUP = """
env["ir.mail_server"].create({{"name": "Sink", "smtp_host": "{host}", "smtp_port": {port},
                               "smtp_encryption": "none", "sequence": 1}})
env["civimail.mail.account"].create({{
    "name": "Returns", "usage": "bounce", "protocol": "directory", "path": "/tmp",
    "local_part": "return+", "email_domain": "bounces.example.org", "is_default": True}})
for start in range(0, {count}, 2000):
    env["res.partner"].create([
        {{"name": f"Reader {{n}}", "email": f"reader{{n}}@example.com"}}
        for n in range(start, min(start + 2000, {count}))])
    env.cr.commit()
env.cr.commit()
"""

# The readers are targeted by a filter, as a real mailing targets a list: a
# domain naming 10,000 ids would make memory grow with N in both senders.
MAILING = """
mailing = env["mailing.mailing"].create({
    "subject": "News for {{ object.name }}",
    "body_html": "<p>Dear <t t-out='object.name'/>, <a href='https://example.com/a'>read</a>"
                 " or <a href='/unsubscribe_from_list'>unsubscribe</a>.</p>" + "<p>text</p>" * 40,
    "email_from": "news@example.org",
    "mailing_model_id": env["ir.model"]._get_id("res.partner"),
    "mailing_domain": repr([("email", "=like", "reader%@example.com")])})
env.cr.commit()
print("MAILING", mailing.id)
"""

HOST = """
import json, resource, time
time.sleep(max(0.0, {start_at} - time.time()))
mailing = env["mailing.mailing"].browse({mailing})
started, cpu_started = time.time(), time.process_time()
mailing.action_send_mail()
env.cr.commit()
while env["mail.mail"].search_count([("state", "=", "outgoing"), ("mailing_id", "=", mailing.id)]):
    env["mail.mail"].process_email_queue()
    env.cr.commit()
ended, cpu = time.time(), time.process_time() - cpu_started
print("RESULT", json.dumps({{"start": started, "end": ended, "cpu_s": cpu,
      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

QUEUE = """
env["mailing.mailing"].browse({mailing}).action_put_in_queue()
env.cr.commit()
"""

JOB = """
import json, resource, time
time.sleep(max(0.0, {start_at} - time.time()))
started, cpu_started = time.time(), time.process_time()
log = env["civimail.job.log"]._run_job(
    "send_mailings", origin="cli")
env.cr.commit()
ended, cpu = time.time(), time.process_time() - cpu_started
print("RESULT", json.dumps({{"start": started, "end": ended, "status": log.status,
      "message": log.message, "cpu_s": cpu,
      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def shell(odoo, dbname, script, background=False):
    command = odoo.command("shell", "-d", dbname, "--no-http", "--log-level=warn")
    if background:
        process = subprocess.Popen(command, env=odoo.environ(), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        process.stdin.write(script)
        process.stdin.close()
        process.stdin = None  # communicate() must not flush it again
        return process
    result = odoo.run("shell", "-d", dbname, "--no-http", "--log-level=warn",
                      input_text=script, timeout=7200)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return result.stdout


def servers_cpu(sink):
    """CPU seconds used so far by the SMTP sink and by PostgreSQL (ended backends included)."""
    sink_process = psutil.Process(sink.pid)
    times = sink_process.cpu_times()
    cpu = {"sink": times.user + times.system, "postgres": 0.0}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != "postgres":
            continue
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            cpu["postgres"] += times.user + times.system
            if process.parent().name() != "postgres":  # the postmaster: its ended children
                cpu["postgres"] += times.children_user + times.children_system
    return cpu


def value(output, tag):
    for line in output.splitlines():
        if line.startswith(tag + " "):
            return line[len(tag) + 1:]
    raise RuntimeError(f"no {tag} in output:\n{output[-2000:]}")


def phase(odoo, dbname, sink, script, processes=1):
    """Send a new mailing by ``script`` in ``processes`` Odoo shells: the figures, all in all."""
    sink.clear()
    mailing = int(value(shell(odoo, dbname, MAILING), "MAILING"))
    if script is JOB:
        shell(odoo, dbname, QUEUE.format(mailing=mailing))
    before = servers_cpu(sink)
    # Processes started together wait for one moment once Odoo is loaded, so
    # that two workers are measured sending, not one waiting for the other to load.
    start_at = time.time() + (15 if processes > 1 else 0)
    running = [shell(odoo, dbname, script.format(mailing=mailing, start_at=start_at),
                     background=True) for _ in range(processes)]
    outs = []
    for process in running:
        stdout, stderr = process.communicate(timeout=7200)
        if process.returncode != 0:
            raise RuntimeError(stderr[-3000:])
        outs.append(json.loads(value(stdout, "RESULT")))
    counts = Counter(r for m in sink.messages() for r in m.rcpt_tos)
    after = servers_cpu(sink)
    return {"start": min(o["start"] for o in outs), "end": max(o["end"] for o in outs),
            "spread_s": max(o["start"] for o in outs) - min(o["start"] for o in outs),
            "rss_mb": max(o["rss_mb"] for o in outs),
            "cpu_s": {"sender": sum(o["cpu_s"] for o in outs),
                      **{name: after[name] - before[name] for name in after}},
            "delivered": sum(counts.values()),
            "duplicates": sum(n - 1 for n in counts.values())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10000, help="recipients (default 10000)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    odoo = Odoo()
    dbname = unique_dbname("civimail_bench")
    with SmtpSink() as sink:
        try:
            print(f"installing {dbname} and creating {args.n} contacts...", flush=True)
            odoo.install(dbname)
            shell(odoo, dbname, SETUP.format(host=sink.host, port=sink.port, count=args.n))
            results = {"a": phase(odoo, dbname, sink, HOST),
                       "b": phase(odoo, dbname, sink, JOB),
                       "c": phase(odoo, dbname, sink, JOB, processes=2)}
        finally:
            if not args.keep_db:
                odoo.drop_database(dbname)

    def rate(key):
        return args.n / (results[key]["end"] - results[key]["start"])

    print(f"\nrecipients: {args.n}")
    for key, label in (("a", "host (mail queue)"), ("b", "CiviMail job, 1 worker"),
                       ("c", "CiviMail job, 2 workers")):
        item = results[key]
        print(f"({key}) {label:26s} {rate(key):8.1f} msg/s  "
              f"{item['end'] - item['start']:7.1f} s  peak RSS {item['rss_mb']:6.0f} MB  "
              f"delivered {item['delivered']}")
    # What each message costs the machine: with every process on it, its
    # cores bound the rate of (c) to cores / (sender + sink + PostgreSQL).
    print(f"CPU per message, ms    {'sender':>8s} {'sink':>6s} {'PostgreSQL':>10s}   "
          f"bound on {psutil.cpu_count()} cores")
    for key in "abc":
        cpu_ms = {name: 1000 * seconds / args.n for name, seconds in results[key]["cpu_s"].items()}
        bound = psutil.cpu_count() * 1000 / sum(cpu_ms.values())
        print(f"({key}) {'':18s} {cpu_ms['sender']:8.2f} {cpu_ms['sink']:6.2f} "
              f"{cpu_ms['postgres']:10.2f}   {bound:7.1f} msg/s")
    if results["c"]["spread_s"] > 0.5:
        print(f"warning: the workers of (c) started {results['c']['spread_s']:.1f} s apart")
    print(f"(b)/(a) = {rate('b') / rate('a'):.1f}x   (c)/(b) = {rate('c') / rate('b'):.2f}x   "
          f"duplicates in (c): {results['c']['duplicates']}")


if __name__ == "__main__":
    main()
