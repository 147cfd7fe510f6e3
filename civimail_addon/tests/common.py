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


def test_servers():
    """The real servers `make test` started for this suite (Dovecot, SMTP sink, DNS).

    The Odoo suite runs under ``harness.launcher``, which puts the repository on
    PYTHONPATH and says where the servers are in ``CIVIMAIL_TEST_SERVERS``.
    Without them the suite fails: it never skips what it cannot check.
    """
    try:
        from harness.launcher import attach  # noqa: PLC0415 - the harness exists only in tests
    except ImportError as error:
        raise AssertionError(
            "the test servers harness is not importable: run the Odoo suite with `make test` "
            f"(or `make odoo-test`), which puts the repository on PYTHONPATH ({error})"
        ) from error
    return attach()


test_servers.__test__ = False
