"""CiviMail's mail accounts: the mailboxes its jobs read.

This file is longer than the addon's others (about 740 lines) on purpose: a
mail account is both a mailbox's configuration (server, return address,
Email-to-Activity policy, the one default bounce account per company, the
connection test) and its crash-safe read loop (batches committed before their
messages move), which the host also keeps on one model
(``fetchmail.server.fetch_mail``). What needs no database lives in the engine:
reading (``engine/mailbox``), message keys (``engine/mailbox/headers.py``),
VERP signing (``engine/verp.py``); what each message means is decided by
``civimail.bounce`` and ``civimail.inbound``.
"""

import base64
import logging
import secrets
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError
from odoo.tools import SQL, config

from ..engine.mailbox import (
    IGNORED,
    PROCESSED,
    MailboxError,
    MailboxSettings,
    check_connection,
    default_port,
    open_mailbox,
)
from ..engine.mailbox import headers as message_headers
from ..engine.verp import VerpCodec
from .access import check_manager
from .stored_messages import ALREADY_PROCESSED, fact, mailbox_fact, render

_logger = logging.getLogger(__name__)

# The job that reads the accounts of each usage (see civimail.job.log).
USAGE_JOBS = {"bounce": "fetch_bounces", "activity": "process_inbound"}

MB = 1024 * 1024
DEFAULT_PORTS = {
    default_port(protocol, security)
    for protocol in ("imap", "pop3") for security in ("ssl", "starttls")
}

VERP_SECRET_PARAM = "civimail_addon.verp_secret"  # noqa: S105 - a parameter key
VERP_PREVIOUS_SECRET_PARAM = "civimail_addon.verp_previous_secret"  # noqa: S105
VERP_ROTATED_PARAM = "civimail_addon.verp_secret_rotated_on"
VERP_GRACE_DAYS_PARAM = "civimail_addon.verp_grace_days"
DEFAULT_VERP_GRACE_DAYS = 30


class CivimailMailAccount(models.Model):
    """A mailbox CiviMail reads: the bounce "return" mailbox or an autofile one.

    Reading is crash-safe: a message leaves its mailbox only after its
    processing is committed, and what was processed is remembered by
    Message-ID (or digest), so a message read again after a crash between
    commit and move has no second effect.
    """

    _name = "civimail.mail.account"
    _description = "CiviMail Mail Account"
    _order = "usage, is_default desc, sequence, id"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _check_company_auto = True

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    usage = fields.Selection(
        [("bounce", "Bounce processing"), ("activity", "Email-to-activity")],
        string="Used for",
        required=True,
        default="bounce",
        index=True,
    )
    is_default = fields.Boolean(
        string="Default bounce account",
        copy=False,
        help="The bounce account whose local part and domain make the VERP return "
        "addresses of mailings. Each company has exactly one among its active bounce "
        "accounts.",
    )
    protocol = fields.Selection(
        [
            ("imap", "IMAP"),
            ("pop3", "POP3"),
            ("maildir", "Maildir"),
            ("directory", "Local directory"),
        ],
        required=True,
        default="imap",
    )
    host = fields.Char(string="Server")
    security = fields.Selection(
        [("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "None")],
        required=True,
        default="ssl",
        help="SSL/TLS and STARTTLS encrypt the connection; “None” sends the password "
        "in clear and is only acceptable on a trusted network.",
    )
    port = fields.Integer(
        compute="_compute_port", store=True, readonly=False, precompute=True,
        help="Defaults to the standard port of the protocol and security.",
    )
    accept_self_signed = fields.Boolean(
        string="Accept self-signed certificate",
        help="Skip the verification of the server's certificate. Anyone between Odoo and "
        "the server could then read the password and the mail: use it only for a server "
        "you control whose certificate no authority signed.",
    )
    username = fields.Char()
    password = fields.Char(groups="civimail_addon.group_civimail_manager", copy=False)
    folder = fields.Char(
        string="Source folder",
        default="INBOX",
        help="IMAP folder to read, e.g. INBOX or INBOX.CiviMail (INBOX/CiviMail works too). "
        "Messages are moved to its “processed” and “ignored” subfolders.",
    )
    path = fields.Char(
        help="Maildir or directory on the Odoo server to read; messages are moved to its "
        "“processed” and “ignored” folders.",
    )
    local_part = fields.Char(
        help="Start of the VERP return addresses, with the server's sub-addressing "
        "separator, e.g. “return+” or “return-”.",
    )
    email_domain = fields.Char(help="Domain of the return addresses, e.g. example.org.")
    return_address_preview = fields.Char(
        string="Return address", compute="_compute_return_address_preview",
        help="What the envelope sender of a mailing's message looks like: local part, "
        "“b.”, the trace number and its signature, then the domain.",
    )
    return_path = fields.Char(
        string="Return path",
        help="Envelope sender of messages that carry no VERP address (test emails), "
        "if different from the local part and domain, e.g. bounces@example.org.",
    )
    # Email-to-activity options (see civimail.inbound).
    activity_create_contacts = fields.Boolean(
        string="Create contacts for unknown addresses",
        default=True,
        help="An address no contact has gets a new individual contact, named after the "
        "address's display name (else its local part), and the email is filed on it. "
        "Unchecked, the address is skipped and the processed message says so.",
    )
    activity_company_policy = fields.Selection(
        [
            ("individual", "File on a new individual with that email"),
            ("company", "File on the company"),
        ],
        string="Address of a company only",
        required=True,
        default="individual",
        help="When only a company has the address: as CiviCRM does, create a new individual "
        "with that email and file the email on it (skipped when contacts may not be "
        "created), or file the email on the company itself.",
    )
    batch_size = fields.Integer(
        default=100, help="Messages read and committed together."
    )
    max_per_run = fields.Integer(
        string="Messages per run", default=1000, help="At most this many messages per run."
    )
    timeout = fields.Integer(string="Timeout (s)", default=60)
    max_message_size = fields.Integer(
        string="Maximum message size (MB)",
        default=25,
        help="Larger messages are not downloaded; they are moved to “ignored”.",
    )
    last_run_date = fields.Datetime(readonly=True, copy=False)
    last_run_status = fields.Selection(
        [("ok", "OK"), ("warning", "Warning"), ("error", "Error")],
        readonly=True,
        copy=False,
    )
    last_run_count = fields.Integer(string="Messages last run", readonly=True, copy=False)
    last_error_data = fields.Json(readonly=True, copy=False)  # a fact (stored_messages)
    last_error = fields.Text(compute="_compute_last_error")
    last_test_date = fields.Datetime(string="Last tested", readonly=True, copy=False)
    last_test_status = fields.Selection(
        [("ok", "Connected"), ("error", "Failed")], string="Last test", readonly=True,
        copy=False,
    )
    last_test_data = fields.Json(readonly=True, copy=False)
    last_test_message = fields.Text(
        string="Last test result", compute="_compute_last_test_message",
        help="What the last “Test connection” found, step by step.",
    )
    processed_message_ids = fields.One2many(
        "civimail.processed.message", "account_id", string="Processed messages"
    )
    processed_message_count = fields.Integer(compute="_compute_processed_message_count")

    _sql_constraints = [
        ("batch_size_positive", "CHECK(batch_size > 0)", "The batch size must be positive."),
        ("max_per_run_positive", "CHECK(max_per_run > 0)",
         "The number of messages per run must be positive."),
        ("timeout_positive", "CHECK(timeout > 0)", "The timeout must be positive."),
        ("max_message_size_positive", "CHECK(max_message_size > 0)",
         "The maximum message size must be positive."),
    ]

    def init(self):
        # The database guarantees what _ensure_default maintains.
        index = "civimail_mail_account_one_default_per_company"
        if not tools.index_exists(self.env.cr, index):
            self.env.cr.execute(SQL(
                "CREATE UNIQUE INDEX %s ON %s (company_id) "
                "WHERE is_default AND active AND usage = 'bounce'",
                SQL.identifier(index),
                SQL.identifier(self._table),
            ))

    @api.depends("protocol", "security")
    def _compute_port(self):
        # A port someone typed stays; one that was only some protocol's default follows.
        for account in self:
            if not account.port or account.port in DEFAULT_PORTS:
                account.port = default_port(account.protocol, account.security)

    @api.depends("usage", "local_part", "email_domain")
    def _compute_return_address_preview(self):
        for account in self:
            if account.usage == "bounce" and account.local_part and account.email_domain:
                # A made-up secret: the shape of the address, not a usable signature.
                codec = VerpCodec(account.local_part, account.email_domain, ["preview"])
                account.return_address_preview = codec.build(42, "recipient@example.org")
            else:
                account.return_address_preview = False

    @api.onchange("is_default")
    def _onchange_is_default(self):
        """Warn before the return address of every mailing moves to an untested account."""
        if self.is_default and not self._origin.is_default and "ok" not in (
            self.last_test_status, self.last_run_status
        ):
            current = self._default_bounce_account(self.company_id)
            if current and current != self._origin:
                return {"warning": {
                    "title": self.env._("This account has never connected"),
                    "message": self.env._(
                        "“%(account)s” has not connected successfully yet: press Test "
                        "connection first. Saving makes it the default instead of "
                        "“%(current)s”, and bounces of new mailings go to it.",
                        account=self.name or "", current=current.name,
                    ),
                }}
        return None

    @api.depends("last_error_data")
    @api.depends_context("lang")
    def _compute_last_error(self):
        for account in self:
            account.last_error = render(self.env, account.last_error_data) or False

    @api.depends("last_test_data")
    @api.depends_context("lang")
    def _compute_last_test_message(self):
        for account in self:
            account.last_test_message = render(self.env, account.last_test_data) or False

    def _compute_processed_message_count(self):
        counts = dict(
            self.env["civimail.processed.message"]._read_group(
                [("account_id", "in", self.ids)], ["account_id"], ["__count"]
            )
        )
        for account in self:
            account.processed_message_count = counts.get(account, 0)

    @api.constrains("protocol", "host", "path", "username")
    def _check_location(self):
        for account in self:
            if account.protocol in ("imap", "pop3"):
                if not account.host:
                    raise ValidationError(
                        self.env._("The mail account “%s” needs a server.", account.name)
                    )
            elif not account.path:
                raise ValidationError(
                    self.env._("The mail account “%s” needs a path.", account.name)
                )

    @api.constrains("usage", "local_part", "email_domain")
    def _check_return_address(self):
        for account in self.filtered(lambda a: a.usage == "bounce"):
            if not account.local_part or not account.email_domain:
                raise ValidationError(
                    self.env._(
                        "The bounce account “%s” needs a local part and an email domain: "
                        "they make the return address of every mailing.",
                        account.name,
                    )
                )
            if "@" in account.local_part or "@" in account.email_domain:
                raise ValidationError(
                    self.env._(
                        "Write the local part (e.g. “return+”) and the email domain "
                        "(e.g. “example.org”) of “%s” without “@”.",
                        account.name,
                    )
                )

    # ------------------------------------------------------------------
    # The default bounce account
    # ------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        # Becoming the default takes it from the current one: done by write().
        wants_default = [vals.pop("is_default", False) for vals in vals_list]
        accounts = super().create(vals_list)
        for account, wanted in zip(accounts, wants_default, strict=True):
            if wanted and account.usage == "bounce" and account.active:
                account.write({"is_default": True})
        accounts._ensure_default()
        return accounts

    def write(self, vals):
        if self.env.context.get("civimail_keeping_default"):
            return super().write(vals)
        if vals.get("is_default"):
            # Clear the other defaults first, in their own statement: the unique
            # index checks each row as it is updated.
            for account in self:
                account._bounce_siblings().filtered("is_default")._write_default(False)
            self.flush_model(["is_default"])
        result = super().write(vals)
        if {"is_default", "active", "usage", "company_id"} & set(vals):
            self._ensure_default()
        return result

    def _write_default(self, is_default):
        self.with_context(civimail_keeping_default=True).write({"is_default": is_default})

    def _bounce_siblings(self):
        self.ensure_one()
        return self.search(
            [
                ("usage", "=", "bounce"),
                ("company_id", "=", self.company_id.id),
                ("id", "!=", self.id),
            ]
        )

    def _ensure_default(self):
        """Keep exactly one default among each company's active bounce accounts."""
        # Archived accounts or other usages are never the default.
        self.filtered(
            lambda a: a.is_default and (not a.active or a.usage != "bounce")
        )._write_default(False)
        for company in self.company_id:
            bounce_accounts = self.search(
                [("usage", "=", "bounce"), ("company_id", "=", company.id)]
            )
            defaults = bounce_accounts.filtered("is_default")
            if len(defaults) > 1:
                # Several created at once asking to be the default: the last wins.
                (defaults - defaults[-1])._write_default(False)
            elif not defaults and bounce_accounts:
                bounce_accounts[0]._write_default(True)

    @api.model
    def _default_bounce_account(self, company=None):
        company = company or self.env.company
        return self.sudo().search(
            [("usage", "=", "bounce"), ("is_default", "=", True),
             ("company_id", "=", company.id)],
            limit=1,
        )

    # ------------------------------------------------------------------
    # Reading the mailbox
    # ------------------------------------------------------------------
    def _mailbox_settings(self):
        self.ensure_one()
        # The password is for managers only: the rules apply before it is read.
        self.check_access("read")
        account = self.sudo()
        return MailboxSettings(
            protocol=account.protocol,
            host=(account.host or "").strip(),
            port=account.port,
            username=account.username or "",
            password=account.password or "",
            security=account.security,
            verify_certificate=not account.accept_self_signed,
            folder=(account.folder or "INBOX").strip(),
            path=(account.path or "").strip(),
            timeout=float(account.timeout),
            max_message_size=account.max_message_size * MB,
            batch_size=account.batch_size,
        )

    def action_test_connection(self):
        """Connect, log in and open the folder; keep and show what happened."""
        self.ensure_one()
        check_manager(self.env, self.env._(
            "Only CiviMail Managers can test the connection of a mail account."))
        self.check_access("write")
        try:
            report = check_connection(self._mailbox_settings())
        except MailboxError as error:
            status, result = "error", mailbox_fact(error)
        else:
            status, result = "ok", [
                *(fact("test_step", step=mailbox_fact(step)) for step in report.steps),
                fact("test_ok_one", folder=report.folder) if report.message_count == 1
                else fact("test_ok", count=report.message_count, folder=report.folder),
            ]
        self.sudo().write({
            "last_test_date": fields.Datetime.now(),
            "last_test_status": status,
            "last_test_data": result,
        })
        if status == "error":
            return self._notification(
                self.env._("Connection to “%s” failed", self.name),
                self.last_test_message, "danger",
            )
        return self._notification(
            self.env._("Connection to “%s” works", self.name), self.last_test_message, "success",
        )

    def action_fetch_now(self):
        self.ensure_one()
        check_manager(self.env, self.env._("Only CiviMail Managers can run a CiviMail job."))
        self.check_access("read")
        log = self.env["civimail.job.log"]._run_job(
            USAGE_JOBS[self.usage], records=self, origin="button"
        )
        kind = {"ok": "success", "warning": "warning"}.get(log.status, "danger")
        return self._notification(log.display_name, log.message or "", kind)

    def action_open_processed_messages(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.actions"]._for_xml_id(
            "civimail_addon.civimail_processed_message_action"
        )
        action["domain"] = [("account_id", "=", self.id)]
        action["context"] = {"default_account_id": self.id}
        return action

    def _notification(self, title, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": kind,
                "sticky": kind != "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _job_fetch(self, usage, accounts=None):
        """Job runner: read every active account of ``usage`` (or ``accounts``)."""
        if accounts is None:
            accounts = self.sudo().search([("usage", "=", usage)])
        processed = failed = 0
        lines = []
        for account in accounts.sudo():
            counts, error = account._fetch()
            processed += counts["processed"]
            failed += counts["failed"] + (1 if error else 0)
            lines.append(account._run_summary(counts, error))
        if not accounts:
            lines.append(fact("fetch_no_account"))
        return {"processed": processed, "failed": failed, "message": lines}

    def _fetch(self):
        """Read, process and mark this account's messages; return (counts, error fact)."""
        self.ensure_one()
        counts = {"processed": 0, "ignored": 0, "already": 0, "failed": 0, "labels": Counter(),
                  "started": fields.Datetime.now()}
        error = False
        try:
            with open_mailbox(self._mailbox_settings()) as mailbox:
                for batch in mailbox.batches(limit=self.max_per_run):
                    outcomes = self._process_batch(batch)
                    # Only what is committed may leave the mailbox.
                    self._commit_batch()
                    for outcome in (PROCESSED, IGNORED):
                        uids = [uid for uid, result in outcomes.items() if result[0] == outcome]
                        if uids:
                            mailbox.mark(uids, outcome)
                    for outcome, label, failed in outcomes.values():
                        if label == ALREADY_PROCESSED:  # a replay: moved again, counted apart
                            counts["already"] += 1
                            continue
                        counts["processed" if outcome == PROCESSED else "ignored"] += 1
                        counts["failed"] += failed
                        counts["labels"][label] += 1
        except MailboxError as mailbox_error:
            error = mailbox_fact(mailbox_error)
            _logger.warning("CiviMail account %s (id %s): %s", self.name, self.id, mailbox_error)
        self.write({
            "last_run_date": fields.Datetime.now(),
            "last_run_status": "error" if error else ("warning" if counts["failed"] else "ok"),
            "last_run_count": counts["processed"] + counts["ignored"] + counts["already"],
            "last_error_data": error,
        })
        self._commit_batch()
        return counts, error

    def _process_batch(self, batch):
        """Process new messages, remember them; return {uid: (outcome, label, failed)}.

        A message already remembered was processed by a run that stopped before
        moving it: it is only moved now.
        """
        headers = {message.uid: self._headers(message.raw) for message in batch}
        keys = {message.uid: self._message_key(message, headers[message.uid])
                for message in batch}
        known = {
            record.message_key: record.outcome
            for record in self.env["civimail.processed.message"].search(
                [("account_id", "=", self.id), ("message_key", "in", list(keys.values()))]
            )
        }
        fresh = {}  # key -> first message with it in this batch
        for message in batch:
            if keys[message.uid] not in known:
                fresh.setdefault(keys[message.uid], message)
        results = self._process_fresh(list(fresh.values()))
        self.env["civimail.processed.message"].create([
            {
                "account_id": self.id,
                "message_key": key,
                "message_id": self._header(headers[message.uid], "Message-ID"),
                "subject": self._header(headers[message.uid], "Subject"),
                "email_from": self._header(headers[message.uid], "From"),
                "message_date": self._header_date(headers[message.uid]),
                "raw_message": message.raw and base64.b64encode(message.raw),
                "outcome": results[message.uid][0],
                "label": results[message.uid][1],
                "reason_data": results[message.uid][2],
            }
            for key, message in fresh.items()
        ])
        outcomes = {}
        for message in batch:
            key = keys[message.uid]
            first = fresh.get(key)
            if first is message:
                outcome, label, _reason, failed = results[message.uid]
                outcomes[message.uid] = (outcome, label, failed)
            else:  # processed by an earlier run, or earlier in this batch
                outcome = known[key] if key in known else results[first.uid][0]
                outcomes[message.uid] = (outcome, ALREADY_PROCESSED, False)
        return outcomes

    def _process_fresh(self, messages):
        """{uid: (outcome, label, reason, failed)}: the whole batch at once when it can.

        When some message breaks the bulk processing, the batch is processed
        again one message at a time, so one bad message never stops the others.
        """
        results = {
            message.uid: (IGNORED, "too_large", message.skip_reason, True)
            for message in messages if message.raw is None
        }
        todo = [message for message in messages if message.raw is not None]
        try:
            with self.env.cr.savepoint():
                handled = self._process_messages({message.uid: message.raw for message in todo})
        except Exception:  # noqa: BLE001 - retried one by one below, which reports it
            for message in todo:
                results[message.uid] = self._process_one(message)
        else:
            results.update({uid: (*result, False) for uid, result in handled.items()})
        return results

    def _process_one(self, message):
        """(outcome, label, reason, failed) of one message, set aside if it fails."""
        try:
            with self.env.cr.savepoint():
                return (*self._process_messages({message.uid: message.raw})[message.uid], False)
        except Exception as error:  # a bad message is set aside, not fatal
            _logger.exception(
                "CiviMail account %s (id %s): message %s could not be processed",
                self.name, self.id, message.uid,
            )
            return IGNORED, "error", fact(
                "reason_not_processed", error_type=type(error).__name__, error=str(error)
            ), True

    def _process_messages(self, raws):
        """Process raw messages ({uid: raw}) for this account's usage.

        Returns {uid: (outcome, label, reason)}: outcome PROCESSED or IGNORED, a
        short label counted in the job log (e.g. the bounce type), a reason shown
        on the processed message. Each usage's model implements its handler.
        """
        self.ensure_one()
        if self.usage == "bounce":
            return self.env["civimail.bounce"]._process_bounce_messages(self, raws)
        return self.env["civimail.inbound"]._file_messages(self, raws)

    def _commit_batch(self):
        """Commit what is processed so far; tests cannot commit and rely on savepoints."""
        if not getattr(threading.current_thread(), "testing", False):
            self.env.cr.commit()  # pylint: disable=invalid-commit

    @api.model
    def _headers(self, raw):
        """The parsed header block of ``raw`` (None when there is none to parse)."""
        return message_headers.parse_headers(raw)

    @api.model
    def _header(self, headers, name):
        return message_headers.header(headers, name)

    @api.model
    def _header_date(self, headers):
        """The Date header as a naive UTC datetime, or False when missing or malformed."""
        return message_headers.header_date(headers) or False

    @api.model
    def _message_key(self, message, headers):
        """What identifies a message across runs: its Message-ID, else a digest."""
        return message_headers.message_key(message, headers)

    def _run_summary(self, counts, error):
        """The job log's line for this account: its counts by result, or its error."""
        values = {"account": self.name, "processed": counts["processed"],
                  "ignored": counts["ignored"]}
        if error:
            return fact("fetch_account_error", **values, error=error)
        said = [fact("fetch_account_results", **values, results=[
            fact("result_count", result={"result": label}, count=count)
            for label, count in counts["labels"].most_common()
        ]) if counts["labels"] else fact("fetch_account", **values)]
        if counts["already"]:
            said.append(fact("fetch_already_processed", count=counts["already"]))
        if self.usage == "bounce":
            slow = self.env["civimail.bounce.pattern"]._slow_since(counts["started"])
            if slow:
                said.append(fact("fetch_slow_patterns", patterns=", ".join(slow.mapped("pattern"))))
        return said

    @api.model
    def _civimail_demo_mailboxes(self, account_ids):
        """Give the demo accounts (local directories) a folder of their own.

        The folder is in the database's file store, so it exists on any
        machine, belongs to nobody else and goes with the database: Test
        connection and Fetch now work without a mail server.
        """
        root = Path(config.filestore(self.env.cr.dbname)) / "civimail_demo"
        for account in self.browse(account_ids).exists():
            folder = root / f"{account.usage}_{account.id}"
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            account.path = str(folder)

    # ------------------------------------------------------------------
    # VERP return addresses
    # ------------------------------------------------------------------
    @api.model
    def _init_verp_secret(self):
        """Give the database its VERP secret (at install, or when it went missing)."""
        parameters = self.env["ir.config_parameter"].sudo()
        if not parameters.get_param(VERP_SECRET_PARAM):
            parameters.set_param(VERP_SECRET_PARAM, secrets.token_hex(32))

    @api.model
    def _rotate_verp_secret(self):
        """Sign with a new secret; the previous one is accepted for the grace period."""
        parameters = self.env["ir.config_parameter"].sudo()
        self._init_verp_secret()
        parameters.set_param(VERP_PREVIOUS_SECRET_PARAM, parameters.get_param(VERP_SECRET_PARAM))
        parameters.set_param(VERP_SECRET_PARAM, secrets.token_hex(32))
        parameters.set_param(VERP_ROTATED_PARAM, fields.Datetime.to_string(fields.Datetime.now()))

    @api.model
    def _verp_secrets(self):
        """The signing secret first, then the previous one during its grace period."""
        parameters = self.env["ir.config_parameter"].sudo()
        self._init_verp_secret()
        accepted = [parameters.get_param(VERP_SECRET_PARAM)]
        previous = parameters.get_param(VERP_PREVIOUS_SECRET_PARAM)
        rotated_on = fields.Datetime.to_datetime(parameters.get_param(VERP_ROTATED_PARAM))
        grace_days = self._verp_grace_days()
        if previous and rotated_on and fields.Datetime.now() < rotated_on + timedelta(
            days=grace_days
        ):
            accepted.append(previous)
        return accepted

    @api.model
    def _verp_grace_days(self):
        """Days the previous secret is still accepted after a rotation (the setting)."""
        value = self.env["ir.config_parameter"].sudo().get_param(
            VERP_GRACE_DAYS_PARAM, DEFAULT_VERP_GRACE_DAYS)
        try:
            return int(value)
        except ValueError:
            return DEFAULT_VERP_GRACE_DAYS

    def _verp_codec(self):
        self.ensure_one()
        return VerpCodec(self.local_part, self.email_domain, self._verp_secrets())

    def _civimail_bounce_origin(self):
        """The bounce's fields naming where it came from (see civimail.bounce._record_many)."""
        return {"account_id": self.id}

    def _notify_blocked(self, bounce):
        """Tell CiviMail Managers once a day that receiving servers refuse our mail."""
        self.ensure_one()
        activity_type = self.env.ref("mail.mail_activity_data_todo")
        today = fields.Date.context_today(self)
        if self.activity_ids.filtered(
            lambda a: a.activity_type_id == activity_type
            and a.summary == self._blocked_summary()
            and fields.Date.to_date(a.create_date) == today
        ):
            return
        managers = self.env.ref("civimail_addon.group_civimail_manager").users.filtered(
            lambda user: not user.share and user.active and not user._is_superuser()
        )
        for manager in managers:
            self.activity_schedule(
                activity_type_id=activity_type.id,
                summary=self._blocked_summary(),
                note=self.env._(
                    "A receiving server refused mail because of the sender (%(email)s: "
                    "%(diagnostic)s). Check the deliverability of the sending servers and "
                    "domains (SPF, DKIM, DMARC, reverse DNS, blocklists).",
                    email=bounce.email,
                    diagnostic=bounce.diagnostic or bounce.status or "-",
                ),
                user_id=manager.id,
            )

    def _blocked_summary(self):
        return self.env._("Mail blocked by a receiving server")
