"""Texts stored as sentences become facts (see models/stored_messages.py).

A row written before keeps its words: its old text is stored as a plain
string, which is shown as it is. Processed messages' results written in
English words get their code back, so they are worded in the reader's
language like new ones.
"""

from odoo.addons.civimail_addon.models.stored_messages import RESULTS
from odoo.tools import SQL
from odoo.tools.sql import column_exists

# (table, old text column, new fact column)
MOVED_TEXTS = [
    ("civimail_job_log", "message", "message_data"),
    ("civimail_processed_message", "reason", "reason_data"),
    ("res_partner", "email_hold_reason", "email_hold_data"),
]


def migrate(cr, version):
    for table, old, new in MOVED_TEXTS:
        if not column_exists(cr, table, old):
            continue
        cr.execute(SQL(
            "UPDATE %(table)s SET %(new)s = to_jsonb(%(old)s) "
            "WHERE %(old)s IS NOT NULL AND %(new)s IS NULL",
            table=SQL.identifier(table), old=SQL.identifier(old), new=SQL.identifier(new),
        ))
        cr.execute(SQL("ALTER TABLE %s DROP COLUMN %s", SQL.identifier(table),
                       SQL.identifier(old)))
    for code, words in RESULTS.items():
        cr.execute(
            "UPDATE civimail_processed_message SET label = %s WHERE label = %s",
            [code, words._translate("en_US")],
        )
