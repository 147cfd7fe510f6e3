/** @odoo-module **/
/**
 * CiviMail's charts: each bounce type always has its own colour (the type's
 * "Chart colour", in bars, lines and pie slices), so has each delivery
 * outcome (delivered green, bounced red), the axis counts whole
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

/** Delivery by Mailing: each outcome its colour (delivered green, bounced red…). */
const OUTCOME_COLOURS = {
    delivered: "#2e9e5b",
    bounced: "#c0392b",
    on_hold: "#e67e22",
    failed: "#7b241c",
    skipped: "#95a5a6",
    queued: "#2980b9",
};

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
        // Series and slices by label: bounce types and delivery outcomes.
        this.labelColours = new Map();
        for (const [value, label] of this.model.metaData.fields.outcome?.selection || []) {
            this.labelColours.set(label, OUTCOME_COLOURS[value]);
        }
        onWillStart(async () => {
            const types = await this.orm.searchRead(
                "civimail.bounce.type",
                [],
                ["display_name", "chart_color"],
                { context: { active_test: false } }
            );
            for (const type of types) {
                if (type.chart_color) {
                    this.labelColours.set(type.display_name, type.chart_color);
                }
            }
        });
    }

    /** Give each series named after a bounce type (or an outcome) its colour. */
    colourByLabel(data, withBorder) {
        for (const dataset of data.datasets) {
            const colour = this.labelColours.get(dataset.label);
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
        return this.colourByLabel({
            ...data,
            datasets: data.datasets.filter((dataset) => !overlay || dataset !== overlay),
        });
    }

    /** Give each slice named after a bounce type (or an outcome) its colour. */
    getPieChartData() {
        const data = super.getPieChartData();
        const colours = data.labels.map((label) => this.labelColours.get(label));
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
        return this.colourByLabel(super.getLineChartData(), true);
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
