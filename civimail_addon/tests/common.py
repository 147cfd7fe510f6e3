from odoo.tests import common, new_test_user


class CivimailCase(common.TransactionCase):
    """Users of each CiviMail role, shared by the module's tests."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # CiviMail users work in Email Marketing, whose users are CiviMail users.
        cls.user_civimail = new_test_user(
            cls.env, login="civimail_user", groups="mass_mailing.group_mass_mailing_user",
            name="CiviMail User",
        )
        cls.user_manager = new_test_user(
            cls.env, login="civimail_manager",
            groups="mass_mailing.group_mass_mailing_user,civimail_addon.group_civimail_manager",
            name="CiviMail Manager",
        )
        cls.user_internal = new_test_user(
            cls.env, login="civimail_internal", groups="base.group_user", name="Internal User",
        )
