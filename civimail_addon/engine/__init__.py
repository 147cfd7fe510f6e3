"""CiviMail engine: the parts of the addon that need no database.

Parsing, classifying bounces, VERP addresses, reading mailboxes and DNS checks
live here as plain Python. Nothing in this package imports Odoo, so it is quick
to test and can be reused outside Odoo. Modules import each other relatively.
"""
