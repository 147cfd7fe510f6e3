/** @odoo-module **/
/**
 * A French administrator reads what CiviMail's jobs wrote, in French, though
 * the jobs ran as OdooBot in English: a job log line, the hold banner of a
 * contact, a processed message. The test (tests/test_tour.py) makes them.
 */
import { registry } from "@web/core/registry";
import { openEmailMarketing, openMenu } from "@civimail_addon/../tests/tours/utils/menu_util";

registry.category("web_tour.tours").add("civimail_french_tour", {
    url: "/odoo",
    steps: () => [
        ...openEmailMarketing(),
        ...openMenu(
            "mass_mailing.mass_mailing_configuration",
            "civimail_addon.civimail_job_log_menu",
            "Journal des tâches"
        ),
        {
            content: "The housekeeping line, written by OdooBot in English, reads in French",
            trigger:
                '.o_data_row:has(td[name=job]:contains("Nettoyage")) td[name=message]:contains("lignes du journal des tâches et")',
        },
        ...openMenu(
            "mass_mailing.mass_mailing_configuration",
            "civimail_addon.civimail_processed_message_menu",
            "Messages traités"
        ),
        {
            content: "A processed message's result and reason read in French",
            trigger:
                '.o_data_row:has(td[name=result]:contains("non identifié")) td[name=reason]:contains("a une signature incorrecte")',
            run: "click",
        },
        {
            content: "Its form says it in French too",
            trigger: '.o_form_view .o_field_widget[name=reason]:contains("falsifiée ou endommagée")',
        },
        ...openMenu(
            "mass_mailing.menu_mass_mailing_report",
            "civimail_addon.civimail_report_hold_menu",
            "E-mails en attente"
        ),
        {
            content: "List the emails on hold",
            trigger: ".o_switch_view.o_list",
            run: "click",
        },
        {
            content: "Open the contact on hold",
            trigger: '.o_data_row td[name=name]:contains("Tour Recipient")',
            run: "click",
        },
        {
            content: "Its hold banner reads in French",
            trigger:
                '.o_form_view .alert-warning:contains("E-mail en attente"):contains("3 rebonds de type"):contains("DNS"):contains("(seuil 3)")',
        },
    ],
});
