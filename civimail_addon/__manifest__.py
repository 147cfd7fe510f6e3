{
    "name": "CiviMail for Odoo",
    "summary": "CiviCRM's CiviMail in Email Marketing: bounce processing that knows why, "
    "VERP mass mailings, mailboxes filed as activities, deliverability checks",
    "version": "18.0.1.1.0",
    "category": "Marketing/Email Marketing",
    "license": "LGPL-3",
    "author": "civimail_addon contributors",
    "website": "https://github.com/civimail-addon/civimail_addon",
    "depends": ["mail", "contacts", "mass_mailing"],
    "external_dependencies": {
        "python": [
            "imapclient", "dnspython", "dkimpy", "flufl.bounce", "publicsuffixlist", "pyspf",
            "regex",
        ],
    },
    "data": [
        "security/civimail_security.xml",
        "security/ir.model.access.csv",
        "data/ir_config_parameter_data.xml",
        "data/civimail_bounce_type_data.xml",
        "data/civimail_bounce_pattern_data.xml",
        "data/ir_cron_data.xml",
        "views/civimail_job_log_views.xml",
        "views/civimail_mail_account_views.xml",
        "views/civimail_processed_message_views.xml",
        "views/civimail_bounce_type_views.xml",
        "views/civimail_bounce_pattern_views.xml",
        "views/civimail_bounce_views.xml",
        "views/civimail_provider_account_views.xml",
        "views/civimail_provider_event_views.xml",
        "views/res_partner_views.xml",
        "views/ir_cron_views.xml",
        "views/mailing_mailing_views.xml",
        "views/ir_mail_server_views.xml",
        "views/civimail_spool_views.xml",
        "views/civimail_deliverability_check_views.xml",
        "wizard/civimail_test_email_views.xml",
        "wizard/civimail_header_analysis_views.xml",
        "views/res_config_settings_views.xml",
        "report/civimail_mailing_report_views.xml",
        "report/civimail_job_status_views.xml",
        "views/civimail_dashboard_views.xml",
        "views/civimail_menus.xml",
    ],
    "demo": [
        "demo/civimail_job_log_demo.xml",
        "demo/civimail_mail_account_demo.xml",
        "demo/res_partner_demo.xml",
        "demo/mailing_mailing_demo.xml",
        "demo/mailing_trace_demo.xml",
        "demo/civimail_bounce_demo.xml",
        "demo/civimail_processed_message_demo.xml",
        "demo/mail_message_demo.xml",
        "demo/civimail_deliverability_check_demo.xml",
    ],
    # The Apps store lists it; OCA tools read README.rst instead, hence the disable.
    "description": (  # pylint: disable=manifest-deprecated-key
        "Bounce processing that knows why a mail bounced, signed VERP return addresses, "
        "On Hold emails, fast crash-safe mass mailings, mailboxes filed as activities on "
        "contacts and deliverability checks, in Email Marketing. "
        "See the README for the admin guide."
    ),
    "assets": {
        "web.assets_backend": [
            "civimail_addon/static/src/fields/*.js",
        ],
        # The host's graph view is loaded when first needed, and ours with it.
        "web.assets_backend_lazy": [
            "civimail_addon/static/src/views/*.js",
        ],
        "web.assets_tests": [
            "civimail_addon/static/tests/tours/**/*.js",
        ],
    },
    "images": [
        "static/description/civimail_bounces_over_time.png",
        "static/description/civimail_mailing_funnel.png",
        "static/description/civimail_contact_on_hold.png",
    ],
}
