/** @odoo-module **/
/**
 * CiviMail's progress bar on the mailing form, refreshed while CiviMail sends.
 *
 * The sending job works in the background: while the mailing is sending (not
 * paused, not done) the form reloads its record every few seconds, unless the
 * user has unsaved changes or the tab is hidden. The timer lives with the
 * field: leaving the record, or the mailing stopping, ends it.
 */
import { useEffect } from "@odoo/owl";
import { registry } from "@web/core/registry";
import {
    ProgressBarField,
    progressBarField,
} from "@web/views/fields/progress_bar/progress_bar_field";

export class CivimailLiveProgressField extends ProgressBarField {
    static props = {
        ...ProgressBarField.props,
        refreshSeconds: { type: Number, optional: true },
    };
    static defaultProps = { refreshSeconds: 5 };

    setup() {
        super.setup();
        useEffect(
            (resId, sending) => {
                if (!resId || !sending) {
                    return;
                }
                const timer = setInterval(() => this.refresh(), this.props.refreshSeconds * 1000);
                return () => clearInterval(timer);
            },
            () => [this.props.record.resId, this.isSending]
        );
    }

    get isSending() {
        const { data } = this.props.record;
        return data.state === "sending" && !data.civimail_paused;
    }

    async refresh() {
        const { record } = this.props;
        // isDirty() also counts what is being typed and not yet applied.
        if (document.hidden || !this.isSending || (await record.isDirty())) {
            return;
        }
        await record.load();
    }
}

registry.category("fields").add("civimail_live_progressbar", {
    ...progressBarField,
    component: CivimailLiveProgressField,
    extractProps(fieldInfo, dynamicInfo) {
        const props = progressBarField.extractProps(fieldInfo, dynamicInfo);
        if (fieldInfo.options.refresh_seconds) {
            props.refreshSeconds = fieldInfo.options.refresh_seconds;
        }
        return props;
    },
});
