import re
import shutil
import socket
import tempfile
from pathlib import Path

import polib
from odoo.tests import TransactionCase, tagged
from odoo.tools.misc import file_path
from odoo.tools.translate import TranslationModuleReader

from ..engine.mailbox.errors import MailboxError, Phrase
from ..models.stored_messages import fact, mailbox_fact, render

PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|%d|\{\w*\}")


@tagged("post_install", "-at_install")
class TestFrenchTranslation(TransactionCase):
    def test_every_translatable_string_has_french(self):
        """Each string Odoo exports for this module has a French translation in fr.po."""
        sources = {
            source for _module, _type, _name, _res_id, source, _value, _comments
            in TranslationModuleReader(self.env.cr, modules=["civimail_addon"])
        }
        po = polib.pofile(file_path("civimail_addon/i18n/fr.po"))
        translated = {
            entry.msgid: entry.msgstr for entry in po
            if entry.msgstr and not entry.obsolete and "fuzzy" not in entry.flags
        }
        missing = sorted(sources - translated.keys())
        self.assertFalse(missing, f"strings without French translation in i18n/fr.po: {missing}")
        # Odoo merges fr.po with the template when loading it: what the template
        # lacks is dropped, and its French never shows.
        template = {entry.msgid for entry in polib.pofile(
            file_path("civimail_addon/i18n/civimail_addon.pot"))}
        untemplated = sorted(sources - template)
        self.assertFalse(untemplated, f"strings missing from i18n/civimail_addon.pot: "
                                      f"{untemplated}")
        for msgid, msgstr in translated.items():
            self.assertEqual(
                sorted(PLACEHOLDER.findall(msgid)), sorted(PLACEHOLDER.findall(msgstr)),
                f"placeholders differ between {msgid!r} and its translation {msgstr!r}",
            )

    def test_mailbox_failures_read_in_french(self):
        """A failed connection test and a run on a stopped server: English when done, French
        when read by a French user, the server's address as it is."""
        self._load_french()
        with socket.socket() as unused:  # a port nothing listens on: connection refused
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        bot = self.env(user=self.env.ref("base.user_root"), context={"lang": "en_US"})
        account = bot["civimail.mail.account"].create({
            "name": "Rebonds", "usage": "bounce", "protocol": "imap", "host": "127.0.0.1",
            "port": port, "security": "none", "username": "civimail", "password": "secret",
            "local_part": "return+", "email_domain": "example.org",
        })
        account.action_test_connection()
        self.assertEqual(account.last_test_status, "error")
        self.assertEqual(
            account.last_test_message,
            f"TCP: could not connect to 127.0.0.1:{port}: connection refused (is the server "
            "running and is the port right?).")
        nbsp = "\N{NO-BREAK SPACE}"
        french_failure = (
            f"TCP{nbsp}: impossible de se connecter à 127.0.0.1:{port}{nbsp}: connexion "
            f"refusée (le serveur est-il démarré et le port est-il le bon{nbsp}?).")
        self.assertEqual(account.with_context(lang="fr_FR").last_test_message, french_failure)

        log = bot["civimail.job.log"]._run_job("fetch_bounces", records=account)
        self.assertEqual(account.last_run_status, "error")
        self.assertIn(f"could not connect to 127.0.0.1:{port}", log.message)
        self.assertEqual(log.with_context(lang="fr_FR").message,
                         f"Rebonds{nbsp}: 0 traités, 0 ignorés. {french_failure}")
        self.assertEqual(account.with_context(lang="fr_FR").last_error, french_failure)

        # A session broken midway: what it was doing and why are the engine's words too.
        lost = MailboxError("tcp", "tcp_lost", {
            "where": "imap.example.org:993", "reason": Phrase("reason_reset"),
            "doing": Phrase("doing_move", folder="INBOX.processed")})
        self.assertEqual(render(bot, mailbox_fact(lost)), str(lost))
        self.assertEqual(
            render(bot(context={"lang": "fr_FR"}), mailbox_fact(lost)),
            f"TCP{nbsp}: la connexion à imap.example.org:993 a échoué pendant le déplacement "
            f"des messages vers INBOX.processed{nbsp}: connexion réinitialisée par le serveur.")

    def test_connection_test_steps_read_in_french(self):
        """The steps of a connection test that worked, in the reader's language."""
        self._load_french()
        folder = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        (folder / "bounce.eml").write_bytes(b"Subject: bounce\n\nbody\n")
        account = self.env["civimail.mail.account"].create({
            "name": "Rebonds", "usage": "bounce", "protocol": "directory", "path": str(folder),
            "local_part": "return+", "email_domain": "example.org",
        })
        account.action_test_connection()
        self.assertEqual(account.last_test_message,
                         f"✓ opened the directory {folder}\n1 message waiting in {folder}.")
        self.assertEqual(account.with_context(lang="fr_FR").last_test_message,
                         f"✓ répertoire {folder} ouvert\n1 message en attente dans {folder}.")

        shutil.rmtree(folder)
        account.action_test_connection()
        self.assertEqual(
            account.with_context(lang="fr_FR").last_test_message,
            f"Dossier\N{NO-BREAK SPACE}: répertoire '{folder}' n'existe pas ou n'est pas un "
            "répertoire.")

    def test_settings_problems_read_in_french(self):
        """A connection test refused for its settings: the problem in the reader's language."""
        self._load_french()
        bot = self.env(user=self.env.ref("base.user_root"), context={"lang": "en_US"})
        account = bot["civimail.mail.account"].create({
            "name": "Rebonds", "usage": "bounce", "protocol": "imap", "host": "imap.example.org",
            "local_part": "return+", "email_domain": "example.org",
        })
        account.action_test_connection()
        self.assertEqual(account.last_test_status, "error")
        self.assertEqual(account.last_test_message,
                         "Invalid mailbox settings: a user name is required.")
        self.assertEqual(
            account.with_context(lang="fr_FR").last_test_message,
            "Paramètres de boîte aux lettres invalides\N{NO-BREAK SPACE}: un nom d'utilisateur "
            "est requis.")
        account.write({"username": "civimail", "port": 70000})
        account.action_test_connection()
        self.assertEqual(
            account.with_context(lang="fr_FR").last_test_message,
            "Paramètres de boîte aux lettres invalides\N{NO-BREAK SPACE}: le port 70000 est hors "
            "de 1..65535.")

    def _load_french(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(
            ["civimail_addon"], ["fr_FR"], overwrite=True
        )

    def test_french_ui(self):
        self._load_french()
        menu = self.env.ref("civimail_addon.civimail_job_log_menu").with_context(lang="fr_FR")
        self.assertEqual(menu.name, "Journal des tâches")
        log = self.env["civimail.job.log"].with_context(lang="fr_FR")._run_job("housekeeping")
        self.assertIn("lignes du journal des tâches", log.message)

    def test_what_a_job_wrote_in_english_reads_in_french(self):
        """A job runs as OdooBot in English; a French reader reads its words in French."""
        self._load_french()
        bot = self.env(user=self.env.ref("base.user_root"), context={"lang": "en_US"})
        log = bot["civimail.job.log"]._run_job("housekeeping")
        self.assertIn("job log lines", log.message)
        self.assertRegex(log.with_context(lang="fr_FR").message,
                         r"^\d+ lignes du journal des tâches et \d+ messages traités")

        account = bot["civimail.mail.account"].create({
            "name": "Rebonds", "usage": "bounce", "protocol": "maildir", "path": "/nonexistent",
            "local_part": "return+", "email_domain": "example.org",
        })
        processed = bot["civimail.processed.message"].create([{
            "account_id": account.id, "message_key": key, "outcome": outcome,
            "label": label, "reason_data": reason,
        } for key, outcome, label, reason in [
            ("<a@x>", "ignored", "not_bounce", None),
            ("<b@x>", "ignored", "unidentified",
             [fact("reason_bad_signature", trace=42)]),
            ("<c@x>", "processed", "dns, quota", None),
            ("<d@x>", "processed", "filed (before codes)", "Filed on Ada."),
        ]]).with_context(lang="fr_FR")
        self.assertEqual(processed.mapped("result"), [
            "pas un rebond", "non identifié", "DNS, Quota", "filed (before codes)"])
        self.assertEqual(processed[1].reason, "L'adresse VERP du suivi d'envoi 42 a une "
                         "signature incorrecte (falsifiée ou endommagée)")
        self.assertEqual(processed[3].reason, "Filed on Ada.", "an older row keeps its words")

        french = bot["res.partner"].create({
            "name": "Marie", "email": "marie@example.fr", "lang": "fr_FR"})
        english = bot["res.partner"].create({"name": "Mary", "email": "mary@example.com"})
        dns = self.env.ref("civimail_addon.bounce_type_dns")
        invalid = self.env.ref("civimail_addon.bounce_type_invalid")
        (french | english)._civimail_put_on_hold({
            french: (dns, 3, "smtp; 550 5.1.2 <marie@example.fr>: Host not found"),
            english: (invalid, 1, "smtp; 550 5.1.1 <mary@example.com>: User unknown"),
        })
        self.assertEqual(french.with_context(lang="fr_FR").email_hold_reason,
                         "3 rebonds de type «\N{NO-BREAK SPACE}DNS\N{NO-BREAK SPACE}» (seuil 3)")
        self.assertEqual(english.email_hold_reason, "1 bounce of type “Invalid” (threshold 1)")
        self.assertEqual(
            english.with_context(lang="fr_FR").email_hold_reason,
            "1 rebond de type «\N{NO-BREAK SPACE}Invalide\N{NO-BREAK SPACE}» (seuil 1)")
        # Each contact's note is in the contact's language, its diagnostic whole.
        self.assertIn("mis en attente : 3 rebonds de type « DNS » (seuil 3). Dernier "
                      "diagnostic : smtp; 550 5.1.2 &lt;marie@example.fr&gt;: Host not found",
                      str(french.message_ids[0].body).replace("&nbsp;", " "))
        self.assertIn("put on hold: 1 bounce of type “Invalid”", english.message_ids[0].body)
