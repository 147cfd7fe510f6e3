/** @odoo-module **/
/**
 * A bounce type's hold threshold: 0 means the type never puts an email on
 * hold, and says so where it is read.
 */
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { IntegerField, integerField } from "@web/views/fields/integer/integer_field";

export class HoldThresholdField extends IntegerField {
    get formattedValue() {
        if (this.props.readonly && this.value === 0) {
            return _t("never");
        }
        return super.formattedValue;
    }
}

registry.category("fields").add("civimail_hold_threshold", {
    ...integerField,
    component: HoldThresholdField,
});
