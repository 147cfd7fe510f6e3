/** @odoo-module **/
/**
 * Every list of CiviMail, at the browser's width (the test's 1366 px), shows
 * each column header whole: the tour opens each action the test lists in
 * the system parameter "civimail_addon.tour_list_actions" in its list view
 * and measures each header cell's title.
 */
import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

async function listHeaders(xmlid) {
    for (let attempt = 0; attempt < 100; attempt++) {
        await nextFrame();
        const titles = document.querySelectorAll(
            `.o_action_manager .o_list_renderer[data-civimail-action="${xmlid}"] thead th span.text-truncate`
        );
        if (titles.length) {
            return titles;
        }
        const renderer = document.querySelector(".o_action_manager .o_list_renderer");
        if (renderer && !renderer.dataset.civimailAction) {
            renderer.dataset.civimailAction = xmlid;
        }
    }
    return [];
}

registry.category("web_tour.tours").add("civimail_list_headers_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "Open each list and measure its headers",
            trigger: ".o_main_navbar",
            async run() {
                const actions = JSON.parse(
                    await rpc("/web/dataset/call_kw/ir.config_parameter/get_param", {
                        model: "ir.config_parameter",
                        method: "get_param",
                        args: ["civimail_addon.tour_list_actions"],
                        kwargs: {},
                    })
                );
                const actionService = odoo.__WOWL_DEBUG__.root.env.services.action;
                const problems = [];
                for (const xmlid of actions) {
                    await actionService.doAction(xmlid, {
                        clearBreadcrumbs: true,
                        viewType: "list",
                    });
                    const titles = await listHeaders(xmlid);
                    if (!titles.length) {
                        problems.push(`${xmlid}: no list header shown`);
                    }
                    for (const title of titles) {
                        if (title.scrollWidth > title.clientWidth) {
                            problems.push(
                                `${xmlid}: “${title.textContent.trim()}” shows ` +
                                    `${title.clientWidth} of ${title.scrollWidth} px`
                            );
                        }
                    }
                }
                if (problems.length) {
                    throw new Error(`Truncated list headers at ${window.innerWidth} px: ` +
                        problems.join("; "));
                }
                document.body.classList.add("o_civimail_lists_measured");
            },
        },
        {
            content: "Every list was measured",
            trigger: "body.o_civimail_lists_measured",
        },
    ],
});
