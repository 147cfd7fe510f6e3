"""Crash safety of "Send Scheduled Mailings", with real odoo-bin processes and SMTP sink.

The guarantee (README, "Sending mailings"): kill a worker at any moment and
run the job again, and every recipient is delivered exactly once, except at
most the one SMTP transaction each killed worker had in flight.
"""

import signal
import subprocess
import time
from collections import Counter

import pytest

from tools.odoo_driver import unique_dbname

RECIPIENTS = 120

SETUP = """
env["ir.mail_server"].create({{"name": "Sink", "smtp_host": "{host}", "smtp_port": {port},
                               "smtp_encryption": "none", "sequence": 1}})
env["civimail.mail.account"].create({{
    "name": "Returns", "usage": "bounce", "protocol": "directory", "path": "/tmp",
    "local_part": "return+", "email_domain": "bounces.example.org", "is_default": True}})
env["ir.config_parameter"].set_param("civimail_addon.send_batch_size", "10")
partners = env["res.partner"].create([
    {{"name": f"Reader {{n}}", "email": f"reader{{n}}@example.com"}} for n in range({count})])
mailing = env["mailing.mailing"].create({{
    "subject": "Crash test", "body_html": "<p>Hello <t t-out='object.name'/></p>",
    "email_from": "news@example.org",
    "mailing_model_id": env["ir.model"]._get_id("res.partner"),
    "mailing_domain": repr([("id", "in", partners.ids)])}})
mailing.action_put_in_queue()
env.cr.commit()
"""


@pytest.fixture(scope="module")
def send_db(odoo):
    dbname = unique_dbname("civimail_send")
    try:
        odoo.install(dbname)
        yield dbname
    finally:
        odoo.drop_database(dbname)


def server_options(odoo):
    options = odoo.options
    return ["--db_host", options["db_host"], "--db_port", options["db_port"],
            "--db_user", options["db_user"], "-D", options["data_dir"]]


def job_command(odoo, dbname):
    return odoo.command("civimail", "run-job", "send_mailings", "-d", dbname,
                        *server_options(odoo), addons_path_first=True)


def start_job(odoo, dbname):
    return subprocess.Popen(job_command(odoo, dbname), env=odoo.environ(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def prepare(odoo, dbname, sink):
    # A fresh mailing per test on the module's database.
    with odoo.connect(dbname) as connection, connection.cursor() as cr:
        cr.execute("DELETE FROM mailing_trace; DELETE FROM mailing_mailing; "
                   "DELETE FROM ir_mail_server; DELETE FROM civimail_mail_account; "
                   "DELETE FROM res_partner WHERE email LIKE 'reader%%@example.com'")
    connection.close()
    result = odoo.run("shell", "-d", dbname, "--no-http", input_text=SETUP.format(
        host=sink.host, port=sink.port, count=RECIPIENTS))
    assert result.returncode == 0, result.stderr[-3000:]


def trace_statuses(odoo, dbname):
    with odoo.connect(dbname) as connection, connection.cursor() as cr:
        cr.execute("SELECT trace_status, count(*) FROM mailing_trace GROUP BY 1")
        rows = dict(cr.fetchall())
    connection.close()
    return rows


def job_log(odoo, dbname, after=0):
    """[(id, status, what it said)] of the send_mailings lines after line ``after``.

    What a line says is stored as a fact (code and parameters), worded when read.
    """
    with odoo.connect(dbname) as connection, connection.cursor() as cr:
        cr.execute("SELECT id, status, message_data FROM civimail_job_log "
                   "WHERE job = 'send_mailings' AND id > %s ORDER BY id", [after])
        rows = cr.fetchall()
    connection.close()
    return rows


def last_line(odoo, dbname):
    rows = job_log(odoo, dbname)
    return rows[-1][0] if rows else 0


def deliveries(sink):
    return Counter(rcpt for message in sink.messages() for rcpt in message.rcpt_tos)


def expected():
    return {f"reader{n}@example.com" for n in range(RECIPIENTS)}


def test_killed_worker_then_rerun_delivers_everyone_once(odoo, send_db, smtp_sink):
    prepare(odoo, send_db, smtp_sink)
    before = last_line(odoo, send_db)
    smtp_sink.set_delay(0.02)  # so the kill lands in the middle of the run
    worker = start_job(odoo, send_db)
    deadline = time.monotonic() + 120
    while smtp_sink.count() < RECIPIENTS // 3:
        assert worker.poll() is None, f"the job ended before the kill: {worker.communicate()}"
        assert time.monotonic() < deadline, "the job sent nothing"
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.communicate()
    assert smtp_sink.count() < RECIPIENTS, "killed too late to prove anything"
    [(killed, status, _message)] = job_log(odoo, send_db, before)
    assert status == "running", "the killed run never wrote its end"
    smtp_sink.set_delay(0)
    rerun = subprocess.run(job_command(odoo, send_db), env=odoo.environ(), capture_output=True,
                           text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    counts = deliveries(smtp_sink)
    assert set(counts) == expected(), "someone was never sent"
    assert sum(n - 1 for n in counts.values()) <= 1, f"duplicates: {counts.most_common(3)}"
    assert trace_statuses(odoo, send_db) == {"sent": RECIPIENTS}
    lines = {line_id: (status, message) for line_id, status, message
             in job_log(odoo, send_db, before)}
    assert lines[killed][0] == "error", "the next run closes the killed run's line"
    assert lines[killed][1]["code"] == "job_interrupted"
    assert [status for status, _message in lines.values()] == ["error", "ok"]


def test_concurrent_workers_never_send_twice(odoo, send_db, smtp_sink):
    prepare(odoo, send_db, smtp_sink)
    before = last_line(odoo, send_db)
    smtp_sink.set_delay(0.005)
    workers = [start_job(odoo, send_db) for _ in range(3)]
    for worker in workers:
        _out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
    counts = deliveries(smtp_sink)
    assert set(counts) == expected()
    assert max(counts.values()) == 1
    assert trace_statuses(odoo, send_db) == {"sent": RECIPIENTS}
    # Each run saw the others' lines running, held by live workers: none was closed.
    assert [status for _id, status, _message in job_log(odoo, send_db, before)] == ["ok"] * 3
