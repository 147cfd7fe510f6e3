"""CiviMail engine: the parts of the addon that need no database.

Parsing, classifying bounces, VERP addresses, reading mailboxes, DNS checks
and the sending side (``mime_out``: messages to bytes, ``smtp_out``: SMTP
transactions and the outbox, ``send_policy``: retries and send limits) live
here as plain Python. Nothing in this package imports Odoo, so it is quick
to test and can be reused outside Odoo. Modules import each other relatively.
"""
