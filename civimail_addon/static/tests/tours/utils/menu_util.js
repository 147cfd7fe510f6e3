/** @odoo-module **/
/**
 * Steps every CiviMail tour takes to reach its screen, as a user clicks there.
 */
import { stepUtils } from "@web_tour/tour_service/tour_utils";

/** From the home screen into Email Marketing. */
export function openEmailMarketing() {
    return [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open Email Marketing",
            trigger: '.o_app[data-menu-xmlid="mass_mailing.mass_mailing_menu_root"]',
            run: "click",
        },
    ];
}

/** Open the menu item ``item`` of the top menu ``section``, until ``title`` is shown. */
export function openMenu(section, item, title) {
    return [
        {
            content: `Open the menu of ${title}`,
            trigger: `.o_menu_sections button[data-menu-xmlid="${section}"]`,
            run: "click",
        },
        {
            content: `Open ${title}`,
            trigger: `.dropdown-item[data-menu-xmlid="${item}"]`,
            run: "click",
        },
        {
            // The app's own first action may still be loading: wait for ours.
            content: `${title} is shown`,
            trigger: `.o_breadcrumb .active:contains("${title}")`,
        },
    ];
}
