/** @odoo-module **/
/**
 * An administrator's first steps with CiviMail: create the bounce mail account
 * and test its connection, run Fetch Bounces by hand and read its job log
 * line, then release the contact the bounce put on hold.
 *
 * The mailbox is a local directory, so no mail server is needed; the test
 * (tests/test_tour.py) creates it with one bounce in it and gives its path in
 * the system parameter "civimail_addon.tour_mailbox".
 */
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";
import { openEmailMarketing, openMenu } from "@civimail_addon/../tests/tours/utils/menu_util";

registry.category("web_tour.tours").add("civimail_admin_tour", {
    url: "/odoo",
    steps: () => [
        ...openEmailMarketing(),
        {
            content: "Its mailings are shown",
            trigger: '.o_breadcrumb .active:contains("Mailings")',
        },
        // 1. The bounce mail account, and Test connection
        ...openMenu(
            "mass_mailing.mass_mailing_configuration",
            "civimail_addon.civimail_mail_account_menu",
            "Mail Accounts"
        ),
        {
            content: "Create a mail account",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour bounces",
        },
        {
            content: "It reads bounces (the default usage)",
            trigger: ".o_field_widget[name=usage] input[data-value=bounce]:checked",
        },
        {
            content: "Read a local directory",
            trigger: ".o_field_widget[name=protocol] select",
            run: 'select "directory"',
        },
        {
            content: "Give the directory",
            trigger: ".o_field_widget[name=path] input",
            async run(helpers) {
                const path = await rpc("/web/dataset/call_kw/ir.config_parameter/get_param", {
                    model: "ir.config_parameter",
                    method: "get_param",
                    args: ["civimail_addon.tour_mailbox"],
                    kwargs: {},
                });
                await helpers.edit(path);
            },
        },
        {
            content: "Local part of the return addresses",
            trigger: ".o_field_widget[name=local_part] input",
            run: "edit return+",
        },
        {
            content: "Domain of the return addresses",
            trigger: ".o_field_widget[name=email_domain] input",
            run: "edit tour.example",
        },
        {
            content: "Test the connection (saves the account first)",
            trigger: ".o_form_view button[name=action_test_connection]",
            run: "click",
        },
        {
            content: "The connection works and the bounce waits in the mailbox",
            trigger:
                '.o_notification:has(.o_notification_bar.bg-success):contains("works"):contains("1 message waiting in")',
        },
        {
            content: "The account keeps the result of the test",
            trigger: '.o_form_view .o_field_widget[name=last_test_status]:contains("Connected")',
        },
        // 2. Fetch Bounces by hand, then its job log
        ...openMenu(
            "mass_mailing.mass_mailing_configuration",
            "civimail_addon.civimail_cron_menu",
            "Scheduled Jobs"
        ),
        {
            content: "Open the Fetch Bounces job",
            trigger: '.o_data_row td:contains("CiviMail: Fetch Bounces")',
            run: "click",
        },
        {
            content: "It says what it does, and shows no code",
            trigger: '.o_form_view:has(.o_field_widget[name=civimail_description]:contains("bounce accounts")):not(:has(.o_field_widget[name=code]))',
        },
        {
            content: "Run it now",
            trigger: ".o_form_view button[name=action_civimail_run_now]:enabled",
            run: "click",
        },
        {
            content: "The job log line of this run opens: one bounce processed, of type Invalid",
            trigger:
                '.o_form_view .o_field_widget[name=message]:contains("Tour bounces: 1 processed, 0 ignored (Invalid 1)")',
        },
        {
            content: "it went well, and was started by hand",
            trigger:
                '.o_form_view:has(.o_field_widget[name=status] .o_arrow_button_current:contains("OK")):has(.o_field_widget[name=origin]:contains("Manual"))',
        },
        // 3. The contact the bounce put on hold: release it
        ...openMenu(
            "mass_mailing.menu_mass_mailing_report",
            "civimail_addon.civimail_report_hold_menu",
            "Emails on Hold"
        ),
        {
            content: "List the emails on hold",
            trigger: ".o_switch_view.o_list",
            run: "click",
        },
        {
            content: "Open the contact the bounce put on hold",
            trigger: '.o_data_row td[name=name]:contains("Tour Recipient")',
            run: "click",
        },
        {
            content: "Its email is on hold because of the bounce",
            trigger: '.o_form_view .alert-warning:contains("Email on hold"):contains("Invalid")',
        },
        {
            content: "Release it",
            trigger: ".o_form_view button[name=action_civimail_release_hold]",
            run: "click",
        },
        {
            content: "The hold is gone",
            trigger: '.o_form_view:not(:has(.alert-warning:contains("Email on hold")))',
        },
        {
            content: "and the chatter says who released it",
            trigger: '.o-mail-Message:contains("released from hold")',
        },
    ],
});
