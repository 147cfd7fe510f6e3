/** @odoo-module **/
/**
 * CiviMail's charts: each bounce type always has its own colour (the type's
 * "Chart colour"), the axis counts whole numbers, and stacked bars get no
 * "Sum" line joining unrelated groups.
 */
import { onWillStart } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { graphView } from "@web/views/graph/graph_view";
import { GraphRenderer } from "@web/views/graph/graph_renderer";

export class CivimailGraphRenderer extends GraphRenderer {
    setup() {
        super.setup();
        this.orm = useService("orm");
        this.typeColors = new Map();
        onWillStart(async () => {
            const types = await this.orm.searchRead(
                "civimail.bounce.type",
                [],
                ["display_name", "chart_color"],
                { context: { active_test: false } }
            );
            for (const type of types) {
                if (type.chart_color) {
                    this.typeColors.set(type.display_name, type.chart_color);
                }
            }
        });
    }

    /** Give each series named after a bounce type that type's colour. */
    colourByType(data, withBorder) {
        for (const dataset of data.datasets) {
            const colour = this.typeColors.get(dataset.label);
            if (colour) {
                dataset.backgroundColor = colour;
                if (withBorder) {
                    dataset.borderColor = colour;
                }
            }
        }
        return data;
    }

    getBarChartData() {
        const data = super.getBarChartData();
        const overlay = this.model.lineOverlayDataset;
        return this.colourByType({
            ...data,
            datasets: data.datasets.filter((dataset) => !overlay || dataset !== overlay),
        });
    }

    getLineChartData() {
        return this.colourByType(super.getLineChartData(), true);
    }

    getScaleOptions() {
        const scales = super.getScaleOptions();
        if (scales.y) {
            scales.y.ticks = { ...scales.y.ticks, precision: 0 };
        }
        return scales;
    }
}

registry.category("views").add("civimail_graph", {
    ...graphView,
    Renderer: CivimailGraphRenderer,
});
