/** @odoo-module **/
/**
 * Email Marketing > Reporting > CiviMail: every screen of the overview opens
 * and shows the records tests/test_tour.py created for it.
 */
import { registry } from "@web/core/registry";
import { openEmailMarketing, openMenu } from "@civimail_addon/../tests/tours/utils/menu_util";

registry.category("web_tour.tours").add("civimail_dashboard_tour", {
    url: "/odoo",
    steps: () => [
        ...openEmailMarketing(),
        // Delivery funnel of each mailing
        ...openMenu(
            "mass_mailing.menu_mass_mailing_report",
            "civimail_addon.civimail_report_delivery_menu",
            "Delivery by Mailing"
        ),
        {
            content: "A bar per mailing",
            trigger: ".o_graph_renderer canvas",
        },
        {
            content: "Switch to the pivot",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The funnel of the mailing",
            trigger: '.o_pivot th:contains("Tour newsletter")',
        },
        // Bounces over time
        ...openMenu(
            "mass_mailing.menu_mass_mailing_report",
            "civimail_addon.civimail_report_bounce_menu",
            "Bounces over Time"
        ),
        {
            content: "Bounces by week and type",
            trigger: ".o_graph_renderer canvas",
        },
        // Top bouncing domains
        ...openMenu(
            "mass_mailing.menu_mass_mailing_report",
            "civimail_addon.civimail_report_domain_menu",
            "Bouncing Domains"
        ),
        {
            content: "Bounces by domain",
            trigger: ".o_graph_renderer canvas",
        },
        {
            content: "Switch to the pivot",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The domain of the bounce",
            trigger: '.o_pivot th:contains("bounce.example")',
        },
        // Emails put on hold per week
        ...openMenu(
            "mass_mailing.menu_mass_mailing_report",
            "civimail_addon.civimail_report_hold_menu",
            "Emails on Hold"
        ),
        {
            content: "Holds by week",
            trigger: ".o_graph_renderer canvas",
        },
        {
            content: "Switch to the list",
            trigger: ".o_switch_view.o_list",
            run: "click",
        },
        {
            content: "The contact on hold, with the reason",
            trigger: '.o_data_row:contains("Dashboard Held"):contains("bounce of type")',
        },
        // Deliverability, by colour
        ...openMenu(
            "mass_mailing.menu_mass_mailing_report",
            "civimail_addon.civimail_report_deliverability_menu",
            "Deliverability Status"
        ),
        {
            content: "The red check comes first, in red",
            trigger:
                '.o_kanban_record:first-child:contains("dashboard.example") .border-danger',
        },
        // Latest run of each job
        ...openMenu(
            "mass_mailing.menu_mass_mailing_report",
            "civimail_addon.civimail_report_job_status_menu",
            "Job Status"
        ),
        {
            content: "Fetch Bounces shows its latest run, an error",
            trigger:
                '.o_kanban_record:contains("Fetch Bounces"):contains("Dashboard failure") .border-danger',
        },
        {
            content: "Open its runs",
            trigger: '.o_kanban_record:contains("Fetch Bounces")',
            run: "click",
        },
        {
            content: "The job log of Fetch Bounces",
            trigger: '.o_list_view .o_data_row td[name=message]:contains("Dashboard failure")',
        },
    ],
});
