from email.message import EmailMessage
from email.utils import make_msgid

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import CivimailMailCase, make_dsn

FOLDER = "INBOX.CiviMail"


def make_email(sender, to, *, subject="Meeting notes", body="See you on Monday.", cc=None,
               bcc=None, message_id=None, headers=None, attachments=()):
    """The raw bytes of an email as a mail client writes it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    if bcc:
        message["Bcc"] = bcc
    message["Subject"] = subject
    message["Date"] = "Tue, 03 Sep 2024 10:00:00 +0200"
    if message_id is not False:
        message["Message-ID"] = message_id or make_msgid(domain="mail.example.org")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, content, mimetype in attachments:
        maintype, subtype = mimetype.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


@tagged("post_install", "-at_install")
class TestInboundEmail(CivimailMailCase):
    """Emails of Email-to-activity accounts are filed on the contacts they concern."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.staff = new_test_user(
            cls.env, login="staff", groups="base.group_user", name="Sam Staff",
            email="sam@example.org",
        )
        cls.ada = cls.env["res.partner"].create({"name": "Ada Lovelace",
                                                 "email": "Ada@Example.com"})
        cls.email_type = cls.env.ref("mail.mail_activity_data_email")

    def make_account(self, **values):
        return super().make_account(**{
            "name": "CiviMail filing", "usage": "activity", "local_part": "civiemails",
            "email_domain": "example.org", **values,
        })

    def process(self, account):
        log = self.env["civimail.job.log"]._run_job("process_inbound", records=account,
                                                    origin="button")
        account.invalidate_recordset()
        return log

    def filed(self, partner, message_id=None):
        """The emails filed on ``partner``'s chatter (with ``message_id``)."""
        domain = [("model", "=", "res.partner"), ("res_id", "=", partner.id),
                  ("message_type", "=", "email")]
        if message_id:
            domain.append(("message_id", "=", message_id))
        return self.env["mail.message"].search(domain)

    def partner(self, email):
        return self.env["res.partner"].search([("email_normalized", "=", email)])

    def reasons(self, account):
        return "\n".join(account.processed_message_ids.mapped("reason"))

    # -- the job ---------------------------------------------------------------
    def test_job_is_scheduled_inactive_and_known_to_the_command_line(self):
        cron = self.env.ref("civimail_addon.ir_cron_civimail_process_inbound")
        self.assertFalse(cron.active, "inactive at install, as in CiviCRM")
        self.assertEqual(cron.civimail_job, "process_inbound")
        log = self.env["civimail.job.log"]._run_job("process_inbound")
        self.assertEqual(log.status, "ok", log.message)

    # -- the two ways staff use it ---------------------------------------------
    def test_bcc_flow_files_on_sender_and_recipients(self):
        """Staff put the filing address in Bcc of what they send."""
        account = self.make_account()
        message_id = make_msgid(domain="mail.example.org")
        raw = make_email(
            "Sam Staff <sam@example.org>", "Ada Lovelace <ada@example.com>",
            subject="Your membership", body="Welcome aboard, Ada.", message_id=message_id,
            headers={"Delivered-To": "civiemails@example.org"},
        )
        self.deliver(raw)
        log = self.process(account)
        self.assertEqual(log.status, "ok", log.message)
        self.assertEqual(log.processed_count, 1)

        message = self.filed(self.ada, message_id)
        self.assertEqual(len(message), 1)
        self.assertEqual(message.subject, "Your membership")
        self.assertIn("Welcome aboard, Ada.", str(message.body))
        self.assertIn(f"Filed from the mail account “{account.name}”.", str(message.body))
        self.assertIn("To: Ada Lovelace &lt;ada@example.com&gt;", str(message.body),
                      "a filed email says whom it was to, unlike an email the chatter got")
        self.assertEqual(message.mail_activity_type_id, self.email_type,
                         "filed as a done Email activity")
        self.assertEqual(message.author_id, self.staff.partner_id, "the sending user is the author")
        self.assertEqual(message.create_uid, self.staff, "and the activity is theirs")
        self.assertEqual(len(self.filed(self.staff.partner_id, message_id)), 1,
                         "the sender's contact has it too")
        self.assertFalse(self.partner("civiemails@example.org"),
                         "the account's own address is no contact")
        self.assertEqual(self.folder_files("INBOX"), [])
        self.assertEqual(len(self.folder_files("INBOX.processed")), 1)
        self.assertIn("Ada Lovelace", self.reasons(account))

    def test_folder_flow_creates_contacts_for_unknown_addresses(self):
        """Staff drag a received email into the folder the account reads."""
        account = self.make_account(folder=FOLDER)
        raw = make_email(
            "=?utf-8?q?Jos=C3=A9_Dupont?= <jose@example.net>", "sam@example.org",
            cc="=?iso-8859-1?q?Ren=E9e_Martin?= <renee@example.net>, bob@example.net",
            subject="=?utf-8?b?UsOpdW5pb24gZGUgc2VwdGVtYnJl?=", message_id=False,
        ).replace(b"Date: Tue, 03 Sep 2024 10:00:00 +0200\n", b"")
        self.deliver(raw, FOLDER)
        log = self.process(account)
        self.assertEqual(log.status, "ok", log.message)

        jose, renee, bob = (self.partner(e) for e in
                            ("jose@example.net", "renee@example.net", "bob@example.net"))
        self.assertEqual(jose.name, "José Dupont", "named after the decoded display name")
        self.assertEqual(renee.name, "Renée Martin")
        self.assertEqual(bob.name, "bob", "else after the local part")
        self.assertFalse((jose | renee | bob).filtered("is_company"))
        for partner in (jose, renee, bob, self.staff.partner_id):
            message = self.filed(partner)
            self.assertEqual(len(message), 1, partner.name)
            self.assertEqual(message.subject, "Réunion de septembre")
        self.assertEqual(self.filed(jose).author_id, jose, "an outside sender is the author")
        self.assertEqual(len(self.folder_files(FOLDER + ".processed")), 1)
        self.assertEqual(self.folder_files(FOLDER), [])

    def test_unknown_addresses_skipped_when_the_account_creates_no_contacts(self):
        account = self.make_account(activity_create_contacts=False)
        self.deliver(make_email("stranger@example.net", "ada@example.com"))
        self.deliver(make_email("other@example.net", "nobody@example.net"))
        self.process(account)
        self.assertFalse(self.partner("stranger@example.net"))
        self.assertEqual(len(self.filed(self.ada)), 1, "known contacts are still filed")
        self.assertEqual(len(self.folder_files("INBOX.processed")), 1)
        self.assertEqual(len(self.folder_files("INBOX.ignored")), 1,
                         "a message with no contact at all is set aside")
        self.assertIn("stranger@example.net", self.reasons(account))
        self.assertIn("nobody@example.net", self.reasons(account))

    def test_address_of_a_company_only(self):
        acme = self.env["res.partner"].create(
            {"name": "Acme", "is_company": True, "email": "info@acme.example"})
        by_default = self.make_account()
        self.deliver(make_email("info@acme.example", "ada@example.com",
                                message_id="<first@acme.example>"))
        self.process(by_default)
        person = self.partner("info@acme.example") - acme
        self.assertEqual(len(person), 1, "a new individual with the company's email, as CiviCRM")
        self.assertFalse(person.is_company)
        self.assertEqual(len(self.filed(person)), 1)
        self.assertFalse(self.filed(acme))

        by_default.active = False
        on_company = self.make_account(name="On company", activity_company_policy="company")
        acme_only = self.env["res.partner"].create(
            {"name": "Globex", "is_company": True, "email": "hello@globex.example"})
        self.deliver(make_email("hello@globex.example", "ada@example.com"))
        self.process(on_company)
        self.assertEqual(self.partner("hello@globex.example"), acme_only, "no one created")
        self.assertEqual(len(self.filed(acme_only)), 1, "filed on the company")

    def test_a_batch_is_filed_at_once(self):
        """Emails read together share their contacts: one new contact per unknown address."""
        account = self.make_account()
        for number in range(4):
            self.deliver(make_email(
                "Sam Staff <sam@example.org>",
                f"Ada Lovelace <ada@example.com>, Lin Chen <lin{number % 2}@example.net>",
                subject=f"Meeting {number}",
            ))
        log = self.process(account)
        self.assertEqual(log.status, "ok", log.message)
        self.assertEqual(log.processed_count, 4)
        lin0, lin1 = self.partner("lin0@example.net"), self.partner("lin1@example.net")
        self.assertEqual((len(lin0), len(lin1)), (1, 1), "each unknown address made one contact")
        self.assertEqual(lin0.name, "Lin Chen")
        self.assertEqual(sorted(self.filed(lin0).mapped("subject")), ["Meeting 0", "Meeting 2"])
        self.assertEqual(len(self.filed(self.ada)), 4)
        self.assertEqual(len(self.filed(self.staff.partner_id)), 4)
        self.assertEqual(len(self.folder_files("INBOX.processed")), 4)

    def test_filing_is_dated_by_the_email(self):
        account = self.make_account()
        self.deliver(make_email("sam@example.org", "ada@example.com"))
        self.process(account)
        self.assertEqual(str(self.filed(self.ada).date), "2024-09-03 08:00:00",
                         "the email's Date, in UTC")

    def test_done_activities_are_kept_when_the_type_keeps_them(self):
        """Marked to keep its done activities, the Email type lists each filing as done."""
        self.email_type.keep_done = True
        account = self.make_account()
        raw = make_email("sam@example.org", "ada@example.com", subject="Board minutes",
                         attachments=[("minutes.pdf", b"%PDF-1.4 minutes", "application/pdf")])
        self.deliver(raw)
        self.process(account)
        done = self.env["mail.activity"].with_context(active_test=False).search(
            [("res_model", "=", "res.partner"), ("res_id", "=", self.ada.id)])
        self.assertEqual(len(done), 1)
        self.assertFalse(done.active, "archived, as the host keeps a done activity")
        self.assertTrue(done.date_done)
        self.assertEqual(done.activity_type_id, self.email_type)
        self.assertEqual(done.summary, "Board minutes")
        self.assertEqual(done.user_id, self.staff, "the sending user's activity")
        self.assertEqual(done.attachment_ids, self.filed(self.ada).attachment_ids)
        self.assertFalse(self.ada.activity_ids, "nothing left to do on the contact")

    # -- content ---------------------------------------------------------------
    def test_attachments_are_stored_once_for_every_contact(self):
        account = self.make_account()
        grace = self.env["res.partner"].create({"name": "Grace", "email": "grace@example.com"})
        pdf = b"%PDF-1.4 minutes of the board" + bytes(range(256))
        raw = make_email(
            "sam@example.org", "ada@example.com, grace@example.com",
            attachments=[("minutes.pdf", pdf, "application/pdf"),
                         ("agenda.txt", b"1. Budget\n2. Events\n", "text/plain")],
        )
        self.deliver(raw)
        self.process(account)
        messages = self.filed(self.ada) | self.filed(grace) | self.filed(self.staff.partner_id)
        self.assertEqual(len(messages), 3)
        attachments = messages.attachment_ids
        self.assertEqual(sorted(attachments.mapped("name")), ["agenda.txt", "minutes.pdf"],
                         "one attachment per file, whatever the number of contacts")
        for message in messages:
            self.assertEqual(message.attachment_ids, attachments)
        self.assertEqual(attachments.filtered(lambda a: a.name == "minutes.pdf").raw, pdf)

    def test_html_body_is_sanitized(self):
        account = self.make_account()
        message = EmailMessage()
        message["From"] = "sam@example.org"
        message["To"] = "ada@example.com"
        message["Subject"] = "Newsletter draft"
        message.set_content("Plain version")
        message.add_alternative(
            '<p>Hello <b>Ada</b></p><script>alert("x")</script>'
            '<img src="x" onerror="alert(1)">', subtype="html")
        self.deliver(message.as_bytes())
        self.process(account)
        body = str(self.filed(self.ada).body)
        self.assertIn("<b>Ada</b>", body)
        self.assertNotIn("<script", body)
        self.assertNotIn("onerror", body)

    def test_odd_charset_is_decoded(self):
        account = self.make_account()
        raw = (
            b"From: =?windows-1252?q?Fran=E7ois?= <francois@example.net>\r\n"
            b"To: ada@example.com\r\n"
            b"Subject: =?iso-8859-15?q?Co=FBt_=A4?=\r\n"
            b"Message-ID: <charset@example.net>\r\n"
            b"Content-Type: text/plain; charset=windows-1252\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        ) + "Ça coûte 5 €.\r\n".encode("windows-1252")
        self.deliver(raw)
        self.process(account)
        message = self.filed(self.ada, "<charset@example.net>")
        self.assertEqual(message.subject, "Coût €")
        self.assertIn("Ça coûte 5 €.", str(message.body))
        self.assertEqual(self.partner("francois@example.net").name, "François")

    # -- once and only once ----------------------------------------------------
    def test_same_message_is_filed_once_per_contact(self):
        account = self.make_account()
        other = self.make_account(name="Other folder", folder=FOLDER)
        raw = make_email("sam@example.org", "ada@example.com", message_id="<twice@example.org>")
        self.deliver(raw)
        self.deliver(raw, FOLDER)
        self.process(account)
        log = self.process(other)
        self.assertEqual(log.status, "ok", log.message)
        self.deliver(raw)
        self.process(account)
        self.assertEqual(len(self.filed(self.ada, "<twice@example.org>")), 1)
        self.assertEqual(len(self.filed(self.staff.partner_id, "<twice@example.org>")), 1)
        self.assertEqual(len(self.folder_files("INBOX.processed")), 2)
        self.assertEqual(len(self.folder_files(FOLDER + ".processed")), 1)
        self.assertIn("already filed", other.processed_message_ids.result)

    def test_copies_without_message_id_are_filed_once(self):
        """Copies of one email differ by their trace headers; filed once all the same."""
        account = self.make_account()
        raw = make_email("sam@example.org", "ada@example.com", message_id=False)
        self.deliver(b"Received: from a.example.net\n" + raw)
        self.deliver(b"Received: from b.example.net\n" + raw)
        log = self.process(account)
        self.assertEqual(log.status, "ok", log.message)
        self.assertEqual(len(self.filed(self.ada)), 1)
        self.assertEqual(len(self.folder_files("INBOX.processed")), 2)
        self.assertEqual(sorted(account.processed_message_ids.mapped("result")),
                         ["already filed", "filed"])

    def test_a_new_recipient_of_a_filed_message_still_gets_it(self):
        """Idempotency is per contact: the same email reaching a new contact is filed there."""
        first = self.make_account()
        second = self.make_account(name="Second", folder=FOLDER)
        self.deliver(make_email("sam@example.org", "ada@example.com",
                                message_id="<sent@example.org>"))
        self.deliver(make_email("sam@example.org", "ada@example.com",
                                bcc="lin@example.com", message_id="<sent@example.org>"),
                     FOLDER)
        self.process(first)
        self.process(second)
        self.assertEqual(len(self.filed(self.ada, "<sent@example.org>")), 1)
        self.assertEqual(len(self.filed(self.partner("lin@example.com"), "<sent@example.org>")), 1)

    # -- not filed -------------------------------------------------------------
    def test_auto_replies_and_bounces_are_set_aside(self):
        account = self.make_account()
        self.deliver(make_email(
            "ada@example.com", "sam@example.org", subject="Out of office",
            body="I am away until Monday.", headers={"Auto-Submitted": "auto-replied"},
        ))
        self.deliver(make_dsn("sam@example.org", "ada@example.com"))
        # A read receipt (RFC 8098): a report about a message, from no person.
        self.deliver(
            b"From: Ada Lovelace <ada@example.com>\r\nTo: sam@example.org\r\n"
            b"Subject: Read: Your membership\r\nMessage-ID: <mdn@example.com>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
            b'report-type=disposition-notification; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain\r\n\r\nYour message was displayed.\r\n"
            b"--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
            b"Final-Recipient: rfc822; ada@example.com\r\n"
            b"Disposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n"
        )
        log = self.process(account)
        self.assertEqual(log.status, "ok", log.message)
        self.assertFalse(self.filed(self.ada))
        self.assertFalse(self.filed(self.staff.partner_id))
        self.assertFalse(self.partner("mailer-daemon@mx.example.net"))
        self.assertEqual(len(self.folder_files("INBOX.ignored")), 3)
        # A Maildir is read in directory order, not delivery order: compare the set.
        labels = account.processed_message_ids.mapped("result")
        self.assertEqual(sorted(labels), ["auto-reply", "bounce", "report"])

    def test_messages_of_this_database_and_loops_are_set_aside(self):
        account = self.make_account()
        posted = self.ada.message_post(body="Sent from Odoo", message_type="comment")
        self.deliver(make_email("sam@example.org", "ada@example.com",
                                message_id=posted.message_id))
        self.deliver(make_email("sam@example.org", "ada@example.com",
                                headers={"X-Odoo-Message-Id": posted.message_id}))
        self.deliver(make_email("civiemails@example.org", "ada@example.com"))
        self.process(account)
        self.assertFalse(self.filed(self.ada), self.reasons(account))
        self.assertEqual(len(self.folder_files("INBOX.ignored")), 3)
        self.assertEqual(sorted(account.processed_message_ids.mapped("result")),
                         ["loop", "sent by this database", "sent by this database"])

    def test_broken_message_is_set_aside_and_the_batch_goes_on(self):
        account = self.make_account()
        self.deliver(b"\x00\xff\xfe garbage without headers \x00" * 50)
        self.deliver(b"Subject: no sender\r\nMessage-ID: <nofrom@example.net>\r\n\r\nx\r\n")
        self.deliver(make_email("sam@example.org", "ada@example.com"))
        log = self.process(account)
        self.assertEqual(len(self.filed(self.ada)), 1, "the rest of the batch is filed")
        self.assertEqual(log.processed_count, 1)
        self.assertEqual(len(self.folder_files("INBOX.ignored")), 2)
        self.assertEqual(self.folder_files("INBOX"), [])

    # -- access rights ---------------------------------------------------------
    def test_only_managers_change_the_filing_options(self):
        account = self.make_account()
        with self.assertRaises(AccessError):
            account.with_user(self.user_civimail).write({"activity_create_contacts": False})
        with self.assertRaises(AccessError):
            account.with_user(self.user_internal).read(["activity_company_policy"])
        account.with_user(self.user_manager).write({"activity_company_policy": "company"})
        self.assertEqual(account.activity_company_policy, "company")
        self.assertTrue(account.with_user(self.user_civimail).activity_create_contacts,
                        "CiviMail users read the options")
