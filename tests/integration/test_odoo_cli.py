"""The ``civimail`` command line, upgrade and uninstall, on a real installed database.

These run odoo-bin as an admin or system cron would; the tests below share one
database (``odoo_db``) and run in file order, uninstall last.
"""

import json
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"


def civimail(odoo, *args):
    """``odoo-bin --addons-path=… civimail ARGS`` with explicit server options, as cron would."""
    options = odoo.options
    server = [
        "--db_host", options["db_host"], "--db_port", options["db_port"],
        "--db_user", options["db_user"], "-D", options["data_dir"],
    ]
    if args and args[0] == "run-job":
        args = (*args, *server)
    return odoo.run("civimail", *args, addons_path_first=True, timeout=300)


def query(odoo, dbname, sql, params=()):
    with odoo.connect(dbname) as connection, connection.cursor() as cr:
        cr.execute(sql, params)
        rows = cr.fetchall()
    connection.close()
    return rows


def test_help_lists_subcommands(odoo):
    result = civimail(odoo, "--help")
    assert result.returncode == 0, result.stderr
    assert "run-job" in result.stdout and "analyze" in result.stdout
    job_help = civimail(odoo, "run-job", "--help")
    assert "housekeeping" in job_help.stdout
    assert "--db_host" in job_help.stdout


def test_run_job_writes_a_log_line_and_exits_0(odoo, odoo_db):
    before = query(odoo, odoo_db, "SELECT count(*) FROM civimail_job_log")[0][0]
    result = civimail(odoo, "run-job", "housekeeping", "-d", odoo_db)
    assert result.returncode == 0, result.stderr
    assert "housekeeping: ok" in result.stdout
    rows = query(odoo, odoo_db,
                 "SELECT job, origin, status FROM civimail_job_log ORDER BY id DESC LIMIT 1")
    assert rows == [("housekeeping", "cli", "ok")]
    assert query(odoo, odoo_db, "SELECT count(*) FROM civimail_job_log")[0][0] == before + 1


def test_failing_job_exits_1_with_the_message_on_stderr(odoo, odoo_db):
    key = "civimail_addon.job_log_retention_days"
    query_set = "UPDATE ir_config_parameter SET value = %s WHERE key = %s RETURNING id"
    assert query(odoo, odoo_db, query_set, ("0", key))
    try:
        result = civimail(odoo, "run-job", "housekeeping", "-d", odoo_db)
    finally:
        query(odoo, odoo_db, query_set, ("90", key))
    assert result.returncode == 1
    assert "positive number of days" in result.stderr
    assert "Traceback" not in result.stderr
    rows = query(odoo, odoo_db,
                 "SELECT status FROM civimail_job_log ORDER BY id DESC LIMIT 1")
    assert rows == [("error",)]


def test_run_job_with_nothing_to_do_writes_no_log_line(odoo, odoo_db):
    # No mailing is due: system cron runs this every few minutes, a line each time is noise.
    due = query(odoo, odoo_db, "SELECT count(*) FROM mailing_mailing "
                "WHERE state IN ('in_queue', 'sending')")[0][0]
    assert due == 0
    before = query(odoo, odoo_db, "SELECT count(*) FROM civimail_job_log")[0][0]
    result = civimail(odoo, "run-job", "send_mailings", "-d", odoo_db)
    assert result.returncode == 0, result.stderr
    assert "send_mailings: nothing to do, no job log line written" in result.stdout
    assert query(odoo, odoo_db, "SELECT count(*) FROM civimail_job_log")[0][0] == before


@pytest.mark.parametrize("args, expected", [
    (("run-job", "no_such_job", "-d", "whatever"), "invalid choice"),
    (("run-job", "housekeeping", "-d", "civimail_no_such_database"), "cannot open database"),
])
def test_bad_invocations_exit_non_zero_with_a_message(odoo, args, expected):
    result = civimail(odoo, *args)
    assert result.returncode != 0
    assert expected in result.stderr


def _kind_of(label):
    """The report kind a corpus label implies."""
    if not label["bounce"]:
        return "not_bounce"
    types = {e["type"] for e in label["expect"]}
    if types == {"complaint"}:
        return "complaint"
    return "autoreply" if types == {"away"} else "bounce"


ANALYZE_SAMPLES = ["lhost-sendmail-01.eml", "arf-01.eml", "rfc3834-01.eml",
                   "lhost-amazonses-13.eml"]


def test_analyze_json_agrees_with_the_corpus_labels(odoo):
    # No database option at all: analyze needs none.
    labels = json.loads((CORPUS / "labels.json").read_text())
    paths = [str(CORPUS / name) for name in ANALYZE_SAMPLES]
    result = civimail(odoo, "analyze", "--json", *paths)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [e["file"] for e in entries] == paths
    for entry, name in zip(entries, ANALYZE_SAMPLES, strict=True):
        label = labels[name]
        assert set(entry) == {"file", "kind", "bounces"}
        assert entry["kind"] == _kind_of(label), name
        for bounce in entry["bounces"]:
            assert set(bounce) == {"email", "type", "hard", "status", "diagnostic"}
            assert isinstance(bounce["hard"], bool)
        assert [(b["type"], b["hard"]) for b in entry["bounces"]] == [
            (e["type"], e["hard"]) for e in label["expect"]], name
    assert entries[0]["bounces"][0]["status"] == "5.1.1"
    assert "@" in entries[0]["bounces"][0]["email"]


def test_analyze_prints_a_table(odoo):
    result = civimail(odoo, "analyze", str(CORPUS / "lhost-sendmail-01.eml"),
                      str(CORPUS / "lhost-amazonses-13.eml"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["FILE", "KIND", "EMAIL", "TYPE", "HARD", "STATUS", "DIAGNOSTIC"]
    assert lines[1].split()[:6] == ["lhost-sendmail-01.eml", "bounce",
                                    "userunknown@bouncehammer.jp", "invalid", "yes", "5.1.1"]
    assert lines[2].split()[:2] == ["lhost-amazonses-13.eml", "not_bounce"]


def test_analyze_missing_file_exits_1_after_the_others(odoo, tmp_path):
    missing = str(tmp_path / "no-such.eml")
    readable = str(CORPUS / "lhost-sendmail-01.eml")
    result = civimail(odoo, "analyze", "--json", missing, readable)
    assert result.returncode == 1
    assert f"cannot read {missing}" in result.stderr and "Traceback" not in result.stderr
    entries = json.loads(result.stdout)
    assert entries[0]["file"] == missing and entries[0]["error"]
    assert entries[1]["file"] == readable and entries[1]["kind"] == "bounce"
    table = civimail(odoo, "analyze", missing)
    assert table.returncode == 1 and "cannot read" in table.stderr


def test_upgrade(odoo, odoo_db):
    result = odoo.run("-d", odoo_db, "-u", "civimail_addon", "--stop-after-init", "--no-http")
    assert result.returncode == 0, result.stderr[-3000:]
    assert " ERROR " not in result.stderr, result.stderr[-3000:]
    assert query(odoo, odoo_db,
                 "SELECT state FROM ir_module_module WHERE name = 'civimail_addon'") == [
        ("installed",)]


def test_uninstall_last(odoo, odoo_db):
    script = (
        "env['ir.module.module'].search([('name', '=', 'civimail_addon')])"
        ".button_immediate_uninstall()\n"
        "env.cr.commit()\n"
    )
    result = odoo.run("shell", "-d", odoo_db, "--no-http", input_text=script)
    assert result.returncode == 0, result.stderr[-3000:]
    assert " ERROR " not in result.stderr, result.stderr[-3000:]
    assert query(odoo, odoo_db,
                 "SELECT state FROM ir_module_module WHERE name = 'civimail_addon'") == [
        ("uninstalled",)]
    assert query(odoo, odoo_db, "SELECT to_regclass('civimail_job_log')") == [(None,)]
    assert query(odoo, odoo_db,
                 "SELECT count(*) FROM ir_cron c JOIN ir_model_data d ON d.res_id = c.id "
                 "AND d.model = 'ir.cron' WHERE d.module = 'civimail_addon'") == [(0,)]
