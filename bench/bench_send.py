"""Benchmark: the host's mailing sending against CiviMail's Send Scheduled Mailings job.

One database, the same N contact recipients, the same SMTP sink (harness):

(a) the host: a mailing sent the host's way (composer → mail.mail queue →
    process_email_queue until empty);
(b) CiviMail's job, one worker;
(c) CiviMail's job, two concurrent workers: rate and duplicate deliveries.

Each phase runs in its own odoo-bin shell process, so its peak memory (max
RSS) is its own. Rates are end to end: from "send" to the last message
accepted by the sink, traces written.

    .venv/bin/python bench/bench_send.py [-n 10000] [--keep-db]
"""

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.odoo import Odoo, unique_dbname  # noqa: E402
from harness.smtp_sink import SmtpSink  # noqa: E402

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
mailing = env["mailing.mailing"].browse({mailing})
started = time.time()
mailing.action_send_mail()
env.cr.commit()
while env["mail.mail"].search_count([("state", "=", "outgoing"), ("mailing_id", "=", mailing.id)]):
    env["mail.mail"].process_email_queue()
    env.cr.commit()
ended = time.time()
print("RESULT", json.dumps({{"start": started, "end": ended,
      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

QUEUE = """
env["mailing.mailing"].browse({mailing}).action_put_in_queue()
env.cr.commit()
"""

JOB = """
import json, resource, time
started = time.time()
log = env["civimail.job.log"]._run_job(
    "send_mailings", origin="cli")
env.cr.commit()
ended = time.time()
print("RESULT", json.dumps({{"start": started, "end": ended, "status": log.status,
      "message": log.message,
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


def value(output, tag):
    for line in output.splitlines():
        if line.startswith(tag + " "):
            return line[len(tag) + 1:]
    raise RuntimeError(f"no {tag} in output:\n{output[-2000:]}")


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
            results = {}

            sink.clear()
            mailing = int(value(shell(odoo, dbname, MAILING), "MAILING"))
            out = json.loads(value(shell(odoo, dbname, HOST.format(mailing=mailing)), "RESULT"))
            results["a"] = {**out, "delivered": sink.count()}

            sink.clear()
            mailing = int(value(shell(odoo, dbname, MAILING), "MAILING"))
            shell(odoo, dbname, QUEUE.format(mailing=mailing))
            out = json.loads(value(shell(odoo, dbname, JOB.format()), "RESULT"))
            results["b"] = {**out, "delivered": sink.count()}

            sink.clear()
            mailing = int(value(shell(odoo, dbname, MAILING), "MAILING"))
            shell(odoo, dbname, QUEUE.format(mailing=mailing))
            workers = [shell(odoo, dbname, JOB.format(), background=True) for _ in range(2)]
            outs = []
            for worker in workers:
                stdout, stderr = worker.communicate(timeout=7200)
                if worker.returncode != 0:
                    raise RuntimeError(stderr[-3000:])
                outs.append(json.loads(value(stdout, "RESULT")))
            counts = Counter(r for m in sink.messages() for r in m.rcpt_tos)
            results["c"] = {"start": min(o["start"] for o in outs),
                            "end": max(o["end"] for o in outs),
                            "rss_mb": max(o["rss_mb"] for o in outs),
                            "delivered": sum(counts.values()),
                            "duplicates": sum(n - 1 for n in counts.values())}
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
    print(f"(b)/(a) = {rate('b') / rate('a'):.1f}x   (c)/(b) = {rate('c') / rate('b'):.2f}x   "
          f"duplicates in (c): {results['c']['duplicates']}")


if __name__ == "__main__":
    main()
