/** @odoo-module **/
/**
 * Delivery by Mailing: each outcome keeps its colour, whatever order the
 * outcomes come in (tests/test_report_charts.py sends a mailing whose
 * recipients bounced, were delivered and were skipped).
 */
import { registry } from "@web/core/registry";

const EXPECTED = { Delivered: "#2e9e5b", Bounced: "#c0392b", Skipped: "#95a5a6" };

registry.category("web_tour.tours").add("civimail_delivery_colours_tour", {
    steps: () => [
        {
            content: "Bars: one series per outcome, in the outcome's colour",
            trigger: ".o_graph_renderer canvas",
            run() {
                const canvas = document.querySelector(".o_graph_renderer canvas");
                const { datasets } = window.Chart.getChart(canvas).data;
                const drawn = new Map(datasets.map((set) => [set.label, set.backgroundColor]));
                for (const [label, colour] of Object.entries(EXPECTED)) {
                    if (drawn.get(label) !== colour) {
                        throw new Error(`${label} is drawn in ${drawn.get(label)}, not ${colour}`);
                    }
                }
            },
        },
    ],
});
