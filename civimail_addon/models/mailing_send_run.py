"""One run of CiviMail's "Send Scheduled Mailings" job: the loop, its transactions and locks.

Every step is a model method another addon can extend; this file only
orders them, commits between them and holds what a run keeps (its claim
number and advisory lock, its cursors, the outbox and its SMTP sessions).
From *put in queue* to *trace sent*:

1. ``mailing_mailing.py: MailingMailing.action_put_in_queue`` checks the
   mailing (``_civimail_check_ready``) and triggers the job's cron.
2. ``mailing_mailing.py: MailingMailing._civimail_job_send`` (the job) starts
   a ``MailingSendRun`` (below): ``run``.
3. ``mailing_trace.py: MailingTrace._civimail_recover`` puts back in the
   queue the traces of workers that died.
4. ``MailingSendRun.start_due`` → ``mailing_mailing.py: _civimail_start``
   creates one ``outgoing`` trace per recipient (skipped ones canceled), then
   ``_civimail_first_message_size`` refuses an oversized mailing.
5. ``MailingSendRun.send_mailing``, per mailing: ``_civimail_route``
   (``ir_mail_server.py: _civimail_server_for``, the bounce account's VERP
   codec) and ``_civimail_composer`` (the host's own composer), then batch
   by batch:
6. ``mailing_trace.py: _civimail_claim`` claims a batch (``process``);
   ``ir_mail_server.py: _civimail_reserve`` reserves it in the server's send
   limit (``mailing_trace.py: _civimail_postpone`` for the rest).
7. ``mail_compose_message.py: _civimail_prepare_batch`` renders it with
   the host's composer (``_prepare_mail_values``) and builds each message
   with ``mail_mail.py: _civimail_build_message``.
8. The outbox (``engine/smtp_out.py: Outbox``) sends the batch in its
   thread while the next one is prepared; as each message is accepted,
   ``mailing_trace.py: _civimail_mark_sent_query`` marks its trace
   ``sent``, committed before the next message's DATA (``_Marks``).
9. ``MailingSendRun.collect`` → ``mailing_trace.py: _civimail_record_outcomes``
   writes the rest (skipped, failed, bounced: ``_civimail_set_refused``,
   retried: ``_civimail_retry_or_fail``); ``ir_mail_server.py:
   _civimail_release`` gives back unused sends; ``mail_mail.py:
   _civimail_keep_sent`` keeps what the host keeps of sent mail.
10. ``mailing_mailing.py: _civimail_finish`` marks the mailing sent once no
    recipient waits.

Host code copied for speed. The job calls the host where it can, once per
batch where the host works per message (its composer's ``_prepare_mail_values``
renders a whole batch, ``_prepare_email_message`` writes each envelope). What
it does per message instead of the host follows these host methods, and a
test compares each with the host's on the same records, so that drift fails
CI; the first message of each mailing is also compared at run time (the host
then prepares that mailing's messages itself if they differ):

| Copy (in models/)                      | Host method it follows                   | Compared by |
|----------------------------------------|------------------------------------------|-------------|
| mailing_mailing: _civimail_recipients  | mail.compose.message._get_recipients_data| (5)         |
|                                        | (mass_mailing's trace emails)            |             |
| mail_mail: _civimail_prepare_outgoing  | mail.mail._prepare_outgoing_list, its    | (1) (2) (3) |
|                                        | _prepare_outgoing_body, mass_mailing's   |             |
|                                        | overrides (links, pixel, unsubscribe)    |             |
| mail_mail: _civimail_recipient_links   | mailing.mailing._get_unsubscribe_url,    | (1) (2) (3) |
|                                        | _get_unsubscribe_oneclick_url,           |             |
|                                        | _get_view_url                            |             |
| mail_mail: _civimail_build_message,    | mail.mail._send (From, alias domain,     | (1)         |
| _civimail_header_from, _alias_domain   | envelope failures) → ir.mail_server.     |             |
| (bytes: engine/mime_out.py assemble;   | build_email                              |             |
| failures: send_policy.envelope_failure)|                                          |             |
| mail_compose_message:                  | mail.render.mixin.                       | (4) (6)     |
| _civimail_render_regex, _T_OUT         | _render_template_qweb_regex              |             |

Tests: (1) ``test_send_mailings.py: test_messages_are_the_ones_the_host_would_build``
(in the integration addon: it reads the SMTP sink);
(3) ``test_send_host_reuse.py: test_prepared_messages_are_the_hosts``;
(4) ``test_send_host_reuse.py: test_regex_rendering_is_the_hosts``;
(5) ``test_send_host_reuse.py: test_recipients_are_the_ones_the_host_finds``.
At run time: (2) ``mail_mail.py: _civimail_check_outgoing`` on each mailing's first
message; (6) ``mail_compose_message.py: _render_template_qweb_regex`` on each batch's first
record.
"""

import contextlib
import logging
import random
import threading
from types import SimpleNamespace

import psycopg2
import psycopg2.errors
import psycopg2.extras
from odoo import fields, sql_db
from odoo.exceptions import UserError
from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED

from ..engine.smtp_out import SENT, Delivery, Outbox
from .mailing_trace import CLAIM_LOCK_KEY
from .stored_messages import fact

_logger = logging.getLogger(__name__)

START_WAIT = 300  # seconds a worker waits for another one starting a mailing


class MailingSendRun:
    """One run of the sending job in one process.

    Crash safety: a run holds an advisory lock named by its claim number for
    its whole life. It claims traces in committed batches (``process``, with
    its number), and records each accepted message on a connection of its
    own, committed before the next message can be accepted (before its
    DATA), so a kill loses at most the transaction in flight. Traces left
    ``process`` by a run whose lock is gone are put back in the queue by the
    next run.

    Speed: a batch is rendered by the host's composer in one go, each message
    written straight to bytes from what the host would put in it, and sent by
    the outbox's thread while the next batch is rendered; one SMTP
    transaction is in flight at a time.

    Concurrency: outside tests the run's transactions are READ COMMITTED,
    like any queue consumer. Its traces are its own by claim, and the rows
    runs share (mailing state, server send counters) are locked or updated in
    place; under Odoo's REPEATABLE READ a row another run committed meanwhile
    would abort the run with a serialization failure.
    """

    def __init__(self, env_model, mode):
        self.Mailing = env_model
        self.env = env_model.env
        self.mode = mode
        self.testing = getattr(threading.current_thread(), "testing", False)
        self.claim = random.randint(1, 2**31 - 1)  # noqa: S311 - an id, not a secret
        self.journal = self.env.cr if self.testing else self.env.registry.cursor()
        # Outside tests the outbox's thread records each accepted message on a
        # connection of its own, asynchronous: the statement (committing by
        # itself) runs while the next message's envelope is sent, and is done
        # before that message's DATA (see Outbox).
        self.marks = None if self.testing else _Marks(self.env.cr.dbname)
        if not self.testing:
            self.journal.connection.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)
            # Losing the last commits matters only if PostgreSQL itself crashes.
            self.journal.execute("SET synchronous_commit TO OFF")
        self.journal.execute("SELECT pg_advisory_lock(%s, %s)", [CLAIM_LOCK_KEY, self.claim])
        self.outbox = Outbox(
            connect=self.connect_elsewhere if self.marks else self.connect_here,
            accepted=self.mark_sent,
            threaded=not self.testing,
            settle=self.marks.wait if self.marks else None,
        )
        self.Trace = self.env["mailing.trace"]
        self.profiles = {}  # route -> what the host reads of its SMTP session
        self.pending = None  # the batch on the wire
        self.counts = {"sent": 0, "failed": 0, "bounced": 0, "skipped": 0, "retry": 0}
        self.started = self.finished = 0  # mailings started, mailings done
        self.notes = []
        self.batch_size, self.policy, self.test_address = self.Mailing._civimail_send_settings()

    def close(self):
        self.outbox.close()
        self.journal.execute("SELECT pg_advisory_unlock(%s, %s)", [CLAIM_LOCK_KEY, self.claim])
        if not self.testing:
            self.journal.commit()
            self.journal.close()
            self.marks.close()

    def commit(self):
        """Commit, and run the next transaction in READ COMMITTED (see the class)."""
        if not self.testing:
            self.env.cr.commit()  # pylint: disable=invalid-commit
            self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    def journal_commit(self):
        if not self.testing:
            self.journal.commit()  # pylint: disable=invalid-commit

    # -- the run -----------------------------------------------------------------
    def run(self, mailings=None):
        self.commit()  # nothing to keep: switches to READ COMMITTED
        self.Trace._civimail_recover(self.claim)
        self.commit()
        self.start_due(mailings)
        domain = [("state", "=", "sending"), ("mailing_type", "=", "mail"),
                  ("civimail_paused", "=", False)]
        if mailings is not None:
            domain.append(("id", "in", mailings.ids))
        for mailing in self.Mailing.search(domain, order="id"):
            try:
                self.send_mailing(mailing)
            except UserError as error:
                if not self.testing:
                    self.env.cr.rollback()
                mailing.write({"civimail_message": error.args[0], "civimail_paused": True})
                self.notes.append(fact(
                    "send_mailing_stopped", mailing=mailing.subject, error=error.args[0]))
                self.commit()
            if mailing._civimail_finish():
                self.finished += 1
                self.commit()
        counts = self.counts
        if not (any(counts.values()) or self.notes or self.started or self.finished):
            # Nothing due, paused, or waiting for a send limit: a scheduled
            # run leaves no line (see civimail.job.log._run_job).
            return {"idle": True, "message": fact("send_nothing_due")}
        return {"processed": counts["sent"], "failed": counts["failed"] + len(self.notes),
                "message": [fact("send_done", **counts), *self.notes]}

    def start_due(self, mailings):
        domain = [
            ("state", "=", "in_queue"), ("mailing_type", "=", "mail"),
            "|", ("schedule_date", "<=", fields.Datetime.now()), ("schedule_date", "=", False),
        ]
        if mailings is not None:
            domain.append(("id", "in", mailings.ids))
        for mailing in self.Mailing.search(domain, order="id"):
            cr = self.env.cr
            # One worker starts a mailing; the others wait for it, then help send it.
            self.commit()
            cr.execute("SELECT state FROM mailing_mailing WHERE id = %s FOR UPDATE SKIP LOCKED",
                       [mailing.id])
            row = cr.fetchone() or self.wait_for_start(mailing)
            if not row or row[0] != "in_queue":
                self.commit()
                continue
            mailing.invalidate_recordset()
            try:
                mailing._civimail_check_ready()
                skipped = mailing._civimail_start()
                mailing._civimail_first_message_size()
                self.counts["skipped"] += skipped
                self.started += 1
            except UserError as error:
                if not self.testing:
                    cr.rollback()
                mailing.write({"state": "draft", "civimail_message": error.args[0]})
                self.notes.append(fact(
                    "send_mailing_stopped", mailing=mailing.subject, error=error.args[0]))
            self.commit()

    def wait_for_start(self, mailing):
        """Wait while another worker starts ``mailing`` (it holds the row): its row, then locked.

        A few seconds for a large mailing, so that this worker helps sending
        it instead of finding nothing to do; None after START_WAIT seconds.
        """
        cr = self.env.cr
        try:
            cr.execute("SELECT set_config('lock_timeout', %s, true)", [f"{START_WAIT}s"])
            cr.execute("SELECT state FROM mailing_mailing WHERE id = %s FOR UPDATE",
                       [mailing.id], log_exceptions=False)
            return cr.fetchone()
        except psycopg2.errors.LockNotAvailable:
            cr.rollback()
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            return None

    # -- one mailing ---------------------------------------------------------------
    def send_mailing(self, mailing):
        mailing._civimail_check_ready()
        route = mailing._civimail_route()
        server, smtp_from = route[:2]
        composer = None  # made once there is a batch: the host's needs recipients
        context = self.env["mail.mail"]._civimail_mailing_context(
            mailing, self.mode, self.test_address)
        try:
            while True:
                mailing.invalidate_recordset(["civimail_paused", "state"])
                if mailing.civimail_paused or mailing.state != "sending":
                    break
                traces = self.Trace._civimail_claim(mailing, self.claim, self.batch_size)
                self.commit()
                if not traces:
                    if self.pending is None:
                        break
                    self.collect()  # its temporary failures may be due again
                    continue
                if server and self.mode in ("send", "test"):
                    granted, window_end = server._civimail_reserve(
                        self.journal, len(traces), fields.Datetime.now())
                    self.journal_commit()
                    if granted < len(traces):
                        self.postpone(traces[granted:], window_end, mailing, server)
                        traces = traces[:granted]
                        if not traces:
                            break
                profile = self.profile(server, smtp_from) if self.mode in ("send", "test") \
                    else None
                composer = composer or mailing._civimail_composer()
                batch = composer._civimail_prepare_batch(mailing, traces, route, context, profile)
                self.collect()  # the previous batch, sent meanwhile
                self.dispatch(batch)
            self.collect()
        except Exception:
            self.abandon()
            raise

    def postpone(self, traces, until, mailing, server):
        traces._civimail_postpone(until)
        mailing.write({"civimail_wait_until": until})
        _logger.info("CiviMail: mailing %s waits for the send limit of outgoing server %s "
                     "until %s (UTC)", mailing.id, server.name, until)
        self.commit()

    # -- sending ------------------------------------------------------------------------
    def connect_here(self, route):
        return self.env["ir.mail_server"]._civimail_connect(route)

    def connect_elsewhere(self, route):
        """``connect_here`` from the outbox's thread, on a cursor of its own."""
        with self.env.registry.cursor() as cr:
            return self.env(cr=cr)["ir.mail_server"]._civimail_connect(route)

    def profile(self, server, smtp_from):
        """What the host's envelope preparation reads of the route's SMTP session.

        The session is opened here once (then handed to the outbox): its
        ``from_filter`` and ``smtp_from`` decide whether the From is rewritten.
        None while it cannot be opened (the outbox then fails the messages).
        """
        route = (server.id if server else None, smtp_from)
        if route not in self.profiles:
            try:
                session = self.connect_here(route)
            except Exception:  # noqa: BLE001 - the outbox tries again and records why
                return None
            if session is None:
                return None
            self.outbox.adopt(route, session)
            self.profiles[route] = SimpleNamespace(
                from_filter=getattr(session, "from_filter", False),
                smtp_from=getattr(session, "smtp_from", False))
        return self.profiles[route]

    def mark_sent(self, outgoing, delivery):
        """Record an accepted message (the outbox calls it before the next one's DATA)."""
        query, params = self.Trace._civimail_mark_sent_query(outgoing, delivery)
        if self.marks:
            self.marks.start(query, params)
        else:
            self.journal.execute(query, params)

    def dispatch(self, batch):
        """Hand the batch's messages to the outbox; their outcomes are collected later."""
        if batch.outgoing:
            self.outbox.send(batch.outgoing)
        self.pending = batch

    def collect(self):
        """Wait for the batch on the wire, and record the outcomes of all its traces."""
        batch, self.pending = self.pending, None
        if batch is None:
            return
        if batch.outgoing:
            for trace_id, delivery in self.outbox.results().items():
                batch.outcomes[trace_id] = (delivery, None, None)
        for message in batch.spooled:  # marked sent with their spool rows, as if accepted
            self.env.cr.execute(*self.Trace._civimail_mark_sent_query(message, Delivery(SENT)))
        counts = self.Trace._civimail_record_outcomes(batch.outcomes, batch.account, self.policy)
        unused = counts.pop("unused")
        for kind, count in counts.items():
            self.counts[kind] += count
        if batch.server and self.mode in ("send", "test"):
            batch.server._civimail_release(self.env.cr, unused, fields.Datetime.now())
        if batch.logged:
            self.env["mail.mail"]._civimail_keep_sent(batch)
        self.commit()
        # The rendering's records (recipients, ...) are not needed again.
        self.env.invalidate_all()

    def abandon(self):
        """Forget the batch on the wire after an error (its traces go back to the queue later)."""
        batch, self.pending = self.pending, None
        if batch is not None and batch.outgoing:
            with contextlib.suppress(Exception):
                self.outbox.results()


class _Marks:
    """A PostgreSQL connection of the outbox's thread, asynchronous, for the "sent" marks.

    ``start`` sends a statement (it commits by itself: an asynchronous
    connection is in autocommit) and returns at once; ``wait`` waits until it
    is done, raising what it raised.
    """

    def __init__(self, dbname):
        _dbname, info = sql_db.connection_info_for(dbname)
        self.connection = psycopg2.connect(async_=True, **info)
        self._wait()
        self.cursor = self.connection.cursor()
        self.pending = False
        # Losing the last commits matters only if PostgreSQL itself crashes.
        self.start("SET synchronous_commit TO OFF", None)
        self.wait()

    def _wait(self):
        psycopg2.extras.wait_select(self.connection)

    def start(self, query, params):
        self.wait()
        self.cursor.execute(query, params)
        self.pending = True

    def wait(self):
        if self.pending:
            self.pending = False
            self._wait()

    def close(self):
        with contextlib.suppress(psycopg2.Error):
            self.wait()
        self.connection.close()
