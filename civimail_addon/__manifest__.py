{
    "name": "CiviMail for Odoo",
    "summary": "CiviCRM's CiviMail in Email Marketing: bounce processing that knows why, "
    "VERP mass mailings, mailboxes filed as activities, deliverability checks",
    "version": "18.0.1.0.0",
    "category": "Marketing/Email Marketing",
    "license": "LGPL-3",
    "author": "civimail_addon contributors",
    "website": "https://github.com/civimail-addon/civimail_addon",
    "depends": ["mail", "contacts", "mass_mailing"],
    "external_dependencies": {
        "python": ["imapclient", "dnspython", "flufl.bounce", "regex"],
    },
    "data": [
        "security/civimail_security.xml",
        "security/ir.model.access.csv",
        "data/ir_config_parameter_data.xml",
        "data/ir_cron_data.xml",
        "views/civimail_job_log_views.xml",
        "views/ir_cron_views.xml",
        "views/res_config_settings_views.xml",
        "views/civimail_menus.xml",
    ],
    "demo": [
        "demo/civimail_job_log_demo.xml",
    ],
    "images": ["static/description/icon.png"],
}
