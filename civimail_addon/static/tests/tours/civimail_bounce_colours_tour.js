/** @odoo-module **/
/**
 * Bounces over Time: each bounce type keeps its own colour in the bar chart
 * and in the pie (tests/test_report_charts.py gives Invalid and Quota their
 * colours and records bounces of both).
 */
import { registry } from "@web/core/registry";

const EXPECTED = { Invalid: "#112233", Quota: "#445566" };

function chart() {
    return window.Chart.getChart(document.querySelector(".o_graph_renderer canvas"));
}

function checkColours(coloursByLabel) {
    for (const [label, colour] of Object.entries(EXPECTED)) {
        const found = coloursByLabel.get(label);
        if (found !== colour) {
            throw new Error(`${label} is drawn in ${found}, not in its type's ${colour}`);
        }
    }
}

registry.category("web_tour.tours").add("civimail_bounce_colours_tour", {
    steps: () => [
        {
            content: "Bars: one series per type, in the type's colour",
            trigger: ".o_graph_renderer canvas",
            run() {
                const { datasets } = chart().data;
                checkColours(new Map(datasets.map((set) => [set.label, set.backgroundColor])));
            },
        },
        {
            content: "Group by bounce type only",
            trigger: ".o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Bounce type",
            trigger: '.o_group_by_menu .o_menu_item:contains("Bounce type")',
            run: "click",
        },
        {
            content: "Pie chart",
            trigger: '.o_graph_button[data-mode="pie"]',
            run: "click",
        },
        {
            content: "Slices: one per type, in the type's colour",
            trigger: '.o_graph_button[data-mode="pie"].active',
            run() {
                const { labels, datasets } = chart().data;
                const colours = datasets[0].backgroundColor;
                checkColours(new Map(labels.map((label, index) => [label, colours[index]])));
            },
        },
    ],
});
