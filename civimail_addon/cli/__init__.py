from . import civimail
