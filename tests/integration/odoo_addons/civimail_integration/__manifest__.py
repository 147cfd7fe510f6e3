{
    "name": "CiviMail integration tests",
    "summary": "Test-only: civimail_addon against real Dovecot, SMTP and DNS servers",
    "version": "18.0.1.0.0",
    "category": "Hidden/Tests",
    "license": "LGPL-3",
    "author": "civimail_addon contributors",
    "website": "https://github.com/civimail-addon/civimail_addon",
    "depends": ["civimail_addon"],
}
