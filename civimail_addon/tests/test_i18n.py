import re

import polib
from odoo.tests import TransactionCase, tagged
from odoo.tools.misc import file_path
from odoo.tools.translate import TranslationModuleReader

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
        for msgid, msgstr in translated.items():
            self.assertEqual(
                sorted(PLACEHOLDER.findall(msgid)), sorted(PLACEHOLDER.findall(msgstr)),
                f"placeholders differ between {msgid!r} and its translation {msgstr!r}",
            )

    def test_french_ui(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(
            ["civimail_addon"], ["fr_FR"], overwrite=True
        )
        menu = self.env.ref("civimail_addon.civimail_job_log_menu").with_context(lang="fr_FR")
        self.assertEqual(menu.name, "Journal des tâches")
        log = self.env["civimail.job.log"].with_context(lang="fr_FR")._run_job("housekeeping")
        self.assertIn("lignes du journal des tâches", log.message)
