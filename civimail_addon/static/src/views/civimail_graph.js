/** @odoo-module **/
/**
 * CiviMail's charts: each bounce type always has its own colour (the type's
 * "Chart colour", in bars, lines and pie slices), the axis counts whole
 * numbers, stacked bars get no "Sum" line joining unrelated groups, and
 * periods without records stay on the time axis (the server fills them; the
 * host's bar chart drops them).
 */
import { onWillStart } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { formatInteger } from "@web/views/fields/formatters";
import { graphView } from "@web/views/graph/graph_view";
import { GraphModel } from "@web/views/graph/graph_model";
import { GraphRenderer } from "@web/views/graph/graph_renderer";

const TEMPORAL = ["date", "datetime"];

export class CivimailGraphModel extends GraphModel {
    /** Keep the empty periods of a bar chart over time, as zeros of the first series. */
    _getProcessedDataPoints() {
        const processed = super._getProcessedDataPoints();
        const { fields, groupBy, mode } = this.metaData;
        const first = groupBy[0];
        if (mode !== "bar" || !first || !TEMPORAL.includes(fields[first.fieldName]?.type)) {
            return processed;
        }
        const kept = new Set(processed);
        const series = processed.length ? processed[0].labels.slice(1) : [];
        return this.dataPoints
            .filter((point) => kept.has(point) || point.count === 0)
            .map((point) =>
                kept.has(point) ? point : { ...point, labels: [point.labels[0], ...series] }
            );
    }
}

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

    /** Give each slice named after a bounce type that type's colour. */
    getPieChartData() {
        const data = super.getPieChartData();
        const colours = data.labels.map((label) => this.typeColors.get(label));
        if (colours.some(Boolean)) {
            for (const dataset of data.datasets) {
                const slices = dataset.backgroundColor.map(
                    (colour, index) => colours[index] || colour
                );
                dataset.backgroundColor = slices;
                dataset.hoverBackgroundColor = slices;
            }
        }
        return data;
    }

    getLineChartData() {
        return this.colourByType(super.getLineChartData(), true);
    }

    getScaleOptions() {
        const scales = super.getScaleOptions();
        const { fields, measure } = this.model.metaData;
        if (scales.y && (measure === "__count" || fields[measure]?.type === "integer")) {
            scales.y.ticks = {
                ...scales.y.ticks,
                precision: 0,
                callback: (value) => formatInteger(value),
            };
        }
        return scales;
    }
}

registry.category("views").add("civimail_graph", {
    ...graphView,
    Model: CivimailGraphModel,
    Renderer: CivimailGraphRenderer,
});
