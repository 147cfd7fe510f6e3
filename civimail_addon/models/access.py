"""The rights check of the addon's public methods.

Any public method of a model is callable over JSON-RPC by any logged-in user,
on any records or on none: a hidden button is no guard. Each public method
that configures CiviMail, touches a secret or a connection, or runs a job
calls ``check_manager`` first, then ``check_access`` on its records before
reading anything through sudo.
"""

from odoo.exceptions import AccessError

MANAGER_GROUP = "civimail_addon.group_civimail_manager"


def check_manager(env, message):
    """Raise ``message`` as an AccessError unless the user is a CiviMail Manager.

    Code already running as superuser (jobs, the command line) passes.
    """
    if not env.su and not env.user.has_group(MANAGER_GROUP):
        raise AccessError(message)
