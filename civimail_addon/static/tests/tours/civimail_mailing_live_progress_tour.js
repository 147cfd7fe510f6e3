/** @odoo-module **/
/**
 * The mailing form follows CiviMail's sending without a click
 * (tests/test_mailing_progress.py prepares a mailing sending to three
 * recipients, one sent): the tour plays the sending job by marking
 * recipients sent over RPC, and reads the progress bar.
 */
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

/** What the sending job does to one recipient: sent. */
async function sendTo(email) {
    const call = (method, args) =>
        rpc(`/web/dataset/call_kw/mailing.trace/${method}`, {
            model: "mailing.trace",
            method,
            args,
            kwargs: {},
        });
    const ids = await call("search", [[["email", "=", email]]]);
    await call("write", [ids, { trace_status: "sent" }]);
}

const bar = (done) => `.o_civimail_progress .o_progress[aria-valuenow="${done}"][aria-valuemax="3"]`;

registry.category("web_tour.tours").add("civimail_mailing_live_progress_tour", {
    steps: () => [
        {
            content: "One recipient of three sent",
            trigger: bar(1),
        },
        {
            content: "The job sends to a second recipient",
            trigger: ".o_civimail_progress",
            run: () => sendTo("second.reader@example.com"),
        },
        {
            content: "The bar follows without a click",
            trigger: bar(2),
        },
        {
            content: "So does the sent count",
            trigger: '.o_civimail_progress .o_field_widget[name=civimail_sent]:contains("2")',
        },
        {
            content: "Pause",
            trigger: "button[name=action_civimail_pause]",
            run: "click",
        },
        {
            content: "Paused: the form stops asking",
            trigger: ".o_civimail_progress .o_civimail_paused",
            async run() {
                await sendTo("third.reader@example.com");
                // Longer than the refresh period: a timer left behind would have reloaded.
                await new Promise((resolve) => setTimeout(resolve, 6500));
            },
        },
        {
            content: "The bar still shows what was read before the pause",
            trigger: bar(2),
        },
    ],
});
