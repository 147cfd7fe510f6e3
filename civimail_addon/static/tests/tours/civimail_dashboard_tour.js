/** @odoo-module **/
/**
 * Email Marketing > Reporting > CiviMail: every screen of the overview opens
 * and shows the records tests/test_tour.py created for it.
 */
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

function openReport(item, content) {
    return [
        {
            content: "Open the Reporting menu",
            trigger: '.o_menu_sections button[data-menu-xmlid="mass_mailing.menu_mass_mailing_report"]',
            run: "click",
        },
        {
            content: `Open ${content}`,
            trigger: `.dropdown-item[data-menu-xmlid="civimail_addon.${item}"]`,
            run: "click",
        },
        {
            content: `${content} is open`,
            trigger: `.o_breadcrumb:contains("${content}")`,
        },
    ];
}

registry.category("web_tour.tours").add("civimail_dashboard_tour", {
    url: "/odoo",
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open Email Marketing",
            trigger: '.o_app[data-menu-xmlid="mass_mailing.mass_mailing_menu_root"]',
            run: "click",
        },
        // Delivery funnel of each mailing
        ...openReport("civimail_report_delivery_menu", "Delivery by Mailing"),
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
        ...openReport("civimail_report_bounce_menu", "Bounces over Time"),
        {
            content: "Bounces by week and type",
            trigger: ".o_graph_renderer canvas",
        },
        // Top bouncing domains
        ...openReport("civimail_report_domain_menu", "Bouncing Domains"),
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
        ...openReport("civimail_report_hold_menu", "Emails on Hold"),
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
        ...openReport("civimail_report_deliverability_menu", "Deliverability Status"),
        {
            content: "The red check comes first, in red",
            trigger:
                '.o_kanban_record:first-child:contains("dashboard.example") .border-danger',
        },
        // Latest run of each job
        ...openReport("civimail_report_job_status_menu", "Job Status"),
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
